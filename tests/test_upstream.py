"""Canaries for the upstream bugs and gaps `keras_linformer.upstream` works
around.

Each canary checks that the bug is still there: the day one fails,
upstream has fixed it, and the workaround its docstring names can go.
Canaries that need a fresh process (logical devices, a cluster) are in the
slow tier. `test_private_hooks_still_exist` checks the other way: that the
private names the workarounds use are still there (if not, a workaround
silently stopped working).
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import keras_hub
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env.pop("TF_CONFIG", None)
    env["PYTHONPATH"] = os.pathsep.join(
        [ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    env.update(extra)
    return env


@pytest.mark.parametrize(
    "owner, name",
    [
        # upstream.symbolic_build
        (keras.Model, "_symbolic_build"),
        # upstream.replace_gradient_clipping
        (keras.optimizers.Optimizer, "_clip_gradients"),
        # upstream.fill_preset_kwargs
        (keras_hub.models.Preprocessor, "_add_missing_kwargs"),
        # upstream.add_special_token
        (keras_hub.tokenizers.Tokenizer, "_add_special_token"),
    ],
)
def test_private_hooks_still_exist(owner, name):
    assert callable(getattr(owner, name, None)), (
        f"{owner.__name__}.{name} is gone: the workaround in "
        "keras_linformer/upstream.py that uses it no longer takes effect."
    )


# === upstream.symbolic_build (keras-team/keras 20585, 20329) ===

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


@pytest.mark.slow
def test_keras_fit_fails_under_multi_worker_mirrored_strategy(
    worker_addresses,
):
    """keras-team/keras issues 20585 and 20329: `model.fit` under
    `MultiWorkerMirroredStrategy` fails on nested (dict) batches. While it
    does, `training/multi_worker.py` trains with its own `strategy.run`
    loop and `upstream.symbolic_build`; once this test fails, delete them
    and let `fit_resumable` call `model.fit` under every strategy."""
    workers = worker_addresses
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
                env=_env(TF_CONFIG=json.dumps(tf_config)),
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


# === upstream.replace_gradient_clipping (tensorflow/tensorflow 33929) ===

# One SGD step with `clipnorm` on one device and on 2 mirrored replicas
# (logical CPUs, hence a fresh process), from the same weights and global
# batch: Keras' own optimizer, then the package's.
CLIP_UNDER_MIRRORED = textwrap.dedent(
    """
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras
    import numpy as np

    from keras_linformer.training import optimizers

    x = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, 2.0]], "float32")
    y = np.array([[5.0], [-5.0], [10.0], [-10.0]], "float32")

    def step(strategy, optimizer_cls):
        with strategy.scope():
            model = keras.Sequential(
                [keras.Input((2,)), keras.layers.Dense(1, use_bias=False)]
            )
            model.layers[0].kernel.assign(np.zeros((2, 1), "float32"))
            model.compile(
                optimizer=optimizer_cls(learning_rate=1.0, clipnorm=0.1),
                loss="mse",
            )
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        return keras.ops.convert_to_numpy(model.layers[0].kernel)

    one = tf.distribute.OneDeviceStrategy("/cpu:0")
    two = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    for name, cls in (("keras", keras.optimizers.SGD),
                      ("package", optimizers.SGD)):
        difference = float(np.abs(step(one, cls) - step(two, cls)).max())
        print(name, difference)
    """
)


@pytest.mark.slow
def test_keras_clips_each_replicas_share():
    """tensorflow/tensorflow issue 33929: under a strategy, Keras clips each
    replica's share of the gradient, not the global batch's, so `clipnorm`
    on 2 replicas takes another step than on one device. While this holds,
    `upstream.replace_gradient_clipping` routes clipping to
    `training.optimizers.DistributedClipping`, which matches one device;
    once this test fails, delete both."""
    result = subprocess.run(
        [sys.executable, "-c", CLIP_UNDER_MIRRORED],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    differences = dict(line.split() for line in result.stdout.splitlines())
    assert float(differences["keras"]) > 1e-3, result.stdout
    assert float(differences["package"]) < 1e-6, result.stdout


# === upstream.fill_preset_kwargs (keras_hub: no public hook) ===


def test_keras_hub_preprocessor_ignores_the_backbone_length(tmp_path):
    """keras_hub's preprocessors made by `from_preset` from a preset without
    a preprocessor config pack to 512 whatever the backbone's n; with
    `upstream.fill_preset_kwargs`, the Linformer ones pack to n. Once
    keras_hub packs to the backbone's length by itself, this fails: delete
    the workaround."""
    from keras_linformer.models import SPECIAL_TOKENS
    from keras_linformer.models import LinformerBackbone
    from keras_linformer.models import LinformerTextClassifierPreprocessor
    from keras_linformer.models import LinformerTokenizer

    tokenizer = LinformerTokenizer(vocabulary=list(SPECIAL_TOKENS) + ["a"])
    backbone = LinformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=16,
        projected_dim=4,
    )
    backbone.save_to_preset(str(tmp_path))
    tokenizer.save_to_preset(str(tmp_path))

    class KerasHubOwn(keras_hub.models.TextClassifierPreprocessor):
        backbone_cls = LinformerBackbone
        tokenizer_cls = LinformerTokenizer

    assert KerasHubOwn.from_preset(str(tmp_path)).sequence_length == 512
    ours = LinformerTextClassifierPreprocessor.from_preset(str(tmp_path))
    assert ours.sequence_length == 16


# === upstream.add_special_token (keras_hub: private) ===


def test_keras_hub_tokenizer_special_tokens_are_private():
    """keras_hub declares a tokenizer's special tokens with the private
    `Tokenizer._add_special_token`; once it has a public way, this fails:
    use it in `upstream.add_special_token`'s callers instead."""
    public = [
        name
        for name in dir(keras_hub.tokenizers.Tokenizer)
        if "special_token" in name and not name.startswith("_")
    ]
    assert not [name for name in public if name.startswith("add")], public


# === upstream.assetless_tokenizer (keras_hub 0.32's ByteTokenizer) ===


def test_keras_hub_byte_tokenizer_cannot_be_saved_in_a_preset(tmp_path):
    """keras_hub 0.32's `ByteTokenizer` has no `save_assets`, which the
    preset saver calls. Once it saves, this fails (see the loading canary
    too): delete `upstream.assetless_tokenizer`."""
    with pytest.raises(AttributeError, match="save_assets"):
        keras_hub.tokenizers.ByteTokenizer().save_to_preset(str(tmp_path))


def test_keras_hub_byte_tokenizer_cannot_load_preset_assets(tmp_path):
    """`ByteTokenizer` inherits `Tokenizer.load_preset_assets`, which
    iterates over the `file_assets` a byte tokenizer does not have."""
    from keras_linformer.models import LinformerByteTokenizer

    tokenizer = LinformerByteTokenizer()
    tokenizer.save_to_preset(str(tmp_path))  # the workaround saves it
    with pytest.raises(TypeError):
        keras_hub.tokenizers.ByteTokenizer.load_preset_assets(
            tokenizer, str(tmp_path)
        )


# === upstream.transformer_encoder_sublayers (keras_hub: private) ===


def test_keras_hub_transformer_encoder_sublayers_are_private():
    """keras_hub's `TransformerEncoder` keeps its sublayers in private
    attributes, which `upstream.transformer_encoder_sublayers` reads for
    `LinformerBackbone.from_roberta`. Fails when keras_hub renames them
    (then the workaround no longer finds them) or makes them public (then
    use the public names)."""
    from keras_linformer.upstream import transformer_encoder_sublayers

    encoder = keras_hub.layers.TransformerEncoder(
        intermediate_dim=8, num_heads=2
    )
    encoder.build((1, 4, 4))
    sublayers = transformer_encoder_sublayers(encoder)
    assert isinstance(sublayers["attention"], keras.layers.MultiHeadAttention)
    for name in ("query_dense", "key_dense", "value_dense", "output_dense"):
        assert getattr(sublayers["attention"], name).built, name
    for name in ("attention_norm", "feedforward_norm"):
        assert isinstance(sublayers[name], keras.layers.LayerNormalization)
    assert sublayers["intermediate_dense"].units == 8
    assert sublayers["output_dense"].units == 4
    public = {
        name
        for name in dir(encoder)
        if not name.startswith("_")
        and ("attention_layer" in name or "feedforward" in name)
    }
    assert not public, public
