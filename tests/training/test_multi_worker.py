"""Two `MultiWorkerMirroredStrategy` workers on 127.0.0.1 (TF_CONFIG)
train the masked LM like one process with the same global batch."""

import json
import os

import pytest
from training_helpers import TINY_MODEL
from training_helpers import assert_succeeded
from training_helpers import load_weights
from training_helpers import max_difference
from training_helpers import subprocess_env

pytestmark = pytest.mark.slow

RUN = [
    *TINY_MODEL,
    "--dropout", "0", "--batch-size", "8", "--epochs", "2",
    "--steps-per-epoch", "2", "--checkpoint-every", "2", "--seed", "5",
    "--verbose", "2",
]  # fmt: skip


def test_two_workers_match_one_process(
    corpus, tmp_path, processes, worker_addresses
):
    workers = worker_addresses
    output_dir = tmp_path / "cluster"
    runs = []
    for index in range(2):
        tf_config = {
            "cluster": {"worker": workers},
            "task": {"type": "worker", "index": index},
        }
        runs.append(
            processes(
                ["--dump-weights", str(tmp_path / f"worker{index}.npz")],
                [
                    "pretrain",
                    corpus,
                    *RUN,
                    "--strategy",
                    "multi_worker",
                    "--output-dir",
                    str(output_dir),
                ],  # fmt: skip
                tmp_path / f"worker{index}.log",
                env=subprocess_env(TF_CONFIG=json.dumps(tf_config)),
            )
        )
    single = processes(
        ["--dump-weights", str(tmp_path / "single.npz")],
        [
            "pretrain",
            corpus,
            *RUN,
            "--strategy",
            "one_device",
            "--output-dir",
            str(tmp_path / "single"),
        ],  # fmt: skip
        tmp_path / "single.log",
    )
    for run in runs + [single]:
        assert_succeeded(run)

    chief, worker = runs
    for run in runs:
        assert "with 2 replica(s)" in run.output
    # The chief shows Keras' progress and validation; the other is silent.
    assert "Epoch 2/2" in chief.output and "val_loss" in chief.output
    assert "Epoch" not in worker.output

    weights = [load_weights(tmp_path / f"worker{i}.npz") for i in range(2)]
    reference = load_weights(tmp_path / "single.npz")
    assert max_difference(weights[0], weights[1]) < 1e-6
    difference = max_difference(weights[0], reference)
    assert difference < 1e-5, difference

    # The chief wrote the artifacts and checkpoints; the other worker's
    # temporary checkpoint directory is gone.
    assert (output_dir / "preset" / "task.json").exists()
    assert "ckpt-4.index" in os.listdir(output_dir / "checkpoints")
    assert sorted(os.listdir(output_dir)) == [
        "checkpoints",
        "metrics.json",
        "preset",
    ]
