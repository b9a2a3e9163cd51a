"""Canaries for the upstream bugs the package works around.

Each test checks that the bug is still there. The day one fails, upstream
has fixed it: delete the workaround its docstring names.
"""

import json
import subprocess
import sys
import textwrap

import pytest
from conftest import free_ports
from conftest import subprocess_env

pytestmark = pytest.mark.slow

# A worker of a two-worker MultiWorkerMirroredStrategy (TF_CONFIG), a model
# with a dict of inputs, and Keras's own `fit`.
FIT_UNDER_MULTI_WORKER = textwrap.dedent(
    """
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    import keras
    import numpy as np

    with strategy.scope():
        a = keras.Input((4,), name="a")
        b = keras.Input((4,), name="b")
        model = keras.Model(
            {"a": a, "b": b}, keras.layers.Dense(1)(a + b)
        )
        model.compile(optimizer="sgd", loss="mse")
    x = {"a": np.ones((8, 4), "float32"), "b": np.ones((8, 4), "float32")}
    data = tf.data.Dataset.from_tensor_slices((x, np.ones((8, 1)))).batch(4)
    try:
        model.fit(data, epochs=1, verbose=0)
    except ValueError as e:
        print("FIT FAILED:", str(e)[:300])
    else:
        print("FIT WORKS")
    """
)


def test_keras_fit_still_fails_under_multi_worker_mirrored_strategy():
    """keras-team/keras issues 20585 and 20329: `model.fit` under
    `MultiWorkerMirroredStrategy` fails on nested (dict) batches. While it
    does, `training/multi_worker.py` trains with its own `strategy.run`
    loop and `_symbolic_build`; once this test fails, delete them and let
    `fit_resumable` call `model.fit` under every strategy."""
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    runs = []
    for index in range(2):
        tf_config = {
            "cluster": {"worker": workers},
            "task": {"type": "worker", "index": index},
        }
        runs.append(
            subprocess.Popen(
                [sys.executable, "-c", FIT_UNDER_MULTI_WORKER],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=subprocess_env(TF_CONFIG=json.dumps(tf_config)),
            )
        )
    try:
        outputs = [run.communicate(timeout=300) for run in runs]
    finally:
        for run in runs:
            run.kill()
    for run, (stdout, stderr) in zip(runs, outputs):
        assert run.returncode == 0, stderr[-4000:]
        assert "FIT FAILED:" in stdout, stdout
