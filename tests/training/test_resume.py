"""`keras-linformer pretrain` killed with SIGKILL resumes where it stopped."""

import glob
import json
import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from training_helpers import TINY_MODEL
from training_helpers import assert_succeeded
from training_helpers import load_weights
from training_helpers import max_difference

from keras_linformer.training import ModelConfig
from keras_linformer.training.recipes import task_classes
from keras_linformer.training.resumable import check_model_settings
from keras_linformer.training.resumable import fit_resumable

# 2 epochs of 3 steps, a checkpoint every 2 steps, dropout on (its random
# state must be restored too).
RUN = [
    *TINY_MODEL,
    "--dropout", "0.1", "--batch-size", "8", "--epochs", "2",
    "--steps-per-epoch", "3", "--checkpoint-every", "2", "--seed", "3",
    "--verbose", "2", "--strategy", "one_device",
]  # fmt: skip


@pytest.mark.slow
def test_kill_mid_run_and_during_final_save_then_resume(
    corpus, tmp_path, processes
):
    reference_dir = tmp_path / "reference"
    run_dir = tmp_path / "run"
    marker = tmp_path / "paused"

    def cli(output_dir):
        return ["pretrain", corpus, *RUN, "--output-dir", str(output_dir)]

    # The uninterrupted run, alongside the run that is killed.
    reference = processes(
        ["--dump-weights", str(tmp_path / "reference.npz")],
        cli(reference_dir),
        tmp_path / "reference.log",
    )
    # Killed after step 3: the last checkpoint is step 2, inside epoch 1.
    first = processes(
        ["--pause-after-step", "3", "--marker", str(marker)],
        cli(run_dir),
        tmp_path / "first.log",
    )
    first.wait_for_file(marker)
    first.kill()
    assert "Epoch 1/2" in first.output
    assert not (run_dir / "preset").exists()
    checkpoints = os.listdir(run_dir / "checkpoints")
    assert "ckpt-2.index" in checkpoints and "ckpt-3.index" not in checkpoints

    # Restarted with the same arguments: resumes at step 2, finishes epoch
    # 1 (one `fit`) and trains epoch 2 (another), and is killed inside the
    # final save.
    os.remove(marker)
    second = processes(
        ["--pause-in-save", "--marker", str(marker)],
        cli(run_dir),
        tmp_path / "second.log",
    )
    second.wait_for_file(marker)
    second.kill()
    assert "Resuming from checkpoint" in second.output
    assert "at step 2 of 6" in second.output
    assert "Epoch 2/2" in second.output
    # The preset was written into a hidden temporary directory, and never
    # became `preset`: no partial artifact.
    entries = os.listdir(run_dir)
    assert "preset" not in entries and "metrics.json" not in entries
    assert any(entry.startswith(".tmp-preset-") for entry in entries)

    # Restarted again: nothing left to train; saves the preset.
    third = processes(
        ["--dump-weights", str(tmp_path / "resumed.npz")],
        cli(run_dir),
        tmp_path / "third.log",
    )
    assert_succeeded(third)
    assert "at step 6 of 6" in third.output
    assert "Epoch" not in third.output  # No training step was repeated.
    preset = run_dir / "preset"
    for name in ("config.json", "task.json", "model.weights.h5"):
        assert (preset / name).exists(), name
    assert (run_dir / "metrics.json").exists()
    assert not any(e.startswith(".tmp-") for e in os.listdir(run_dir))

    assert_succeeded(reference)
    difference = max_difference(
        load_weights(tmp_path / "reference.npz"),
        load_weights(tmp_path / "resumed.npz"),
    )
    assert difference < 1e-5, difference
    # The final metrics agree too.
    reference_metrics = json.loads((reference_dir / "metrics.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["resumed_from"] == 6 and metrics["steps"] == 6
    for name in ("validation_loss", "validation_accuracy"):
        assert metrics[name] == pytest.approx(reference_metrics[name], abs=1e-5)


# === Restoring from damaged checkpoints (in process, fast) ===


def small_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def small_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = rng.normal(size=(16, 2)).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(4).repeat()


def train(directory, epochs):
    model = small_model()
    result = fit_resumable(
        model,
        small_data(),
        epochs=epochs,
        steps_per_epoch=2,
        checkpoint_dir=str(directory),
        checkpoint_every=2,
        verbose=0,
    )
    return model, result


def weights_at(directory, step):
    model = small_model()
    tf.train.Checkpoint(model=model).read(
        os.path.join(directory, f"ckpt-{step}")
    ).expect_partial()
    return [w.numpy() for w in model.weights]


@pytest.mark.parametrize("damage", ["truncated", "corrupted", "missing"])
def test_resume_falls_back_to_the_previous_checkpoint(tmp_path, capfd, damage):
    directory = tmp_path / "checkpoints"
    train(directory, epochs=2)  # checkpoints at steps 2 and 4 are kept
    assert sorted(os.listdir(directory)) == [
        "checkpoint",
        "ckpt-2.data-00000-of-00001",
        "ckpt-2.index",
        "ckpt-4.data-00000-of-00001",
        "ckpt-4.index",
    ]
    expected = weights_at(directory, 2)
    (data_file,) = glob.glob(str(directory / "ckpt-4.data-*"))
    if damage == "truncated":
        with open(data_file, "r+b") as f:
            f.truncate(os.path.getsize(data_file) // 2)
    elif damage == "corrupted":
        content = bytearray(open(data_file, "rb").read())
        content[len(content) // 2] ^= 0xFF
        open(data_file, "wb").write(bytes(content))
    else:
        for path in glob.glob(str(directory / "ckpt-4.*")):
            os.remove(path)
    # A save killed midway left its temporary directory.
    (directory / "ckpt-6_temp").mkdir()
    (directory / "ckpt-6_temp" / "part-00000-of-00001.index").write_text("x")
    capfd.readouterr()

    restored = small_model()
    restored_weights = []

    class Record(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            restored_weights.extend(w.numpy() for w in self.model.weights)

    result = fit_resumable(
        restored,
        small_data(),
        epochs=3,
        steps_per_epoch=2,
        checkpoint_dir=str(directory),
        checkpoint_every=2,
        callbacks=[Record()],
        verbose=0,
    )
    out, err = capfd.readouterr()
    assert result["resumed_from"] == 2
    assert f"{directory / 'ckpt-4'} could not be read" in err
    assert "Resuming from the earlier checkpoint" in err
    assert "at step 2 of 6" in out
    for a, b in zip(restored_weights, expected):
        np.testing.assert_array_equal(a, b)
    assert int(restored.optimizer.iterations.numpy()) == 6
    assert "ckpt-6_temp" not in os.listdir(directory)
    # Saving went on: steps 4 and 6 were written again, intact.
    assert "ckpt-6.index" in os.listdir(directory)
    weights_at(directory, 6)


def test_no_readable_checkpoint_is_a_clear_error(tmp_path):
    directory = tmp_path / "checkpoints"
    train(directory, epochs=2)
    for data_file in glob.glob(str(directory / "ckpt-*.data-*")):
        with open(data_file, "r+b") as f:
            f.truncate(10)
    with pytest.raises(ValueError) as error:
        train(directory, epochs=3)
    message = str(error.value)
    assert f"No checkpoint in {directory} can be read" in message
    assert "ckpt-4: " in message and "ckpt-2: " in message
    assert "Remove the directory" in message


def test_validation_of_unknown_length_covers_every_batch(tmp_path):
    """Validation data whose length tf.data cannot tell (here a `filter`;
    bucketing does the same) is validated on all of it, with the number of
    batches passed to `fit`: Keras otherwise runs into the end of the data
    ("Your input ran out of data") at every validation."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(22, 4)).astype("float32")
    y = rng.normal(size=(22, 2)).astype("float32")
    keep = np.arange(22) % 4 != 0  # 16 of 22 rows
    validation = (
        tf.data.Dataset.from_tensor_slices((x, y, keep))
        .filter(lambda x, y, keep: keep)
        .map(lambda x, y, keep: (x, y))
        .batch(3)
    )
    assert int(validation.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    model = small_model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit_resumable(
            model,
            small_data(),
            epochs=2,
            steps_per_epoch=2,
            checkpoint_dir=str(tmp_path / "checkpoints"),
            validation_data=validation,
            verbose=0,
        )
    messages = [str(w.message) for w in caught]
    assert not any("ran out of data" in m for m in messages), messages
    expected = model.evaluate(x[keep], y[keep], batch_size=3, verbose=0)
    assert result["history"]["val_loss"][-1] == pytest.approx(expected, 1e-6)


@pytest.mark.slow
def test_resumed_validation_metrics_equal_an_uninterrupted_run(
    tmp_path, processes
):
    """Bytes, batches grouped by length, several validation batches of
    several lengths: the resumed run's final validation metrics (and
    per-epoch validation) are the uninterrupted run's."""
    rng = np.random.default_rng(5)
    words = "the quick brown fox jumped over a lazy dog".split()

    def write(name, count):
        lines = [
            " ".join(rng.choice(words, size=rng.integers(2, 14)))
            for _ in range(count)
        ]
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        return str(tmp_path / name)

    train, validation = write("train.txt", 200), write("dev.txt", 120)
    run = [
        "--num-layers", "1", "--num-heads", "2", "--hidden-dim", "16",
        "--intermediate-dim", "32", "--sequence-length", "64",
        "--projected-dim", "8", "--tokenizer", "byte", "--group-by-length",
        "--length-buckets", "4", "--validation-files", validation,
        "--dropout", "0.1", "--batch-size", "8",
        "--epochs", "2", "--steps-per-epoch", "3", "--checkpoint-every", "2",
        "--seed", "4", "--verbose", "2", "--strategy", "one_device",
    ]  # fmt: skip

    def cli(output_dir):
        return ["pretrain", train, *run, "--output-dir", str(output_dir)]

    marker = tmp_path / "paused"
    reference = processes([], cli(tmp_path / "reference"), tmp_path / "r.log")
    first = processes(
        ["--pause-after-step", "3", "--marker", str(marker)],
        cli(tmp_path / "run"),
        tmp_path / "first.log",
    )
    first.wait_for_file(marker)
    first.kill()
    second = processes([], cli(tmp_path / "run"), tmp_path / "second.log")
    assert_succeeded(second)
    assert_succeeded(reference)
    assert "at step 2 of 6" in second.output
    for process in (reference, second):
        assert "ran out of data" not in process.output
    expected = json.loads((tmp_path / "reference" / "metrics.json").read_text())
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["resumed_from"] == 2
    for name in (
        "validation_loss",
        "validation_perplexity",
        "validation_accuracy",
    ):
        assert metrics[name] == pytest.approx(expected[name], abs=1e-6), name

    # The epoch-2 validation inside `fit`, as printed, too.
    def last_val_loss(output):
        return output.rsplit("val_loss: ", 1)[1].split()[0]

    assert last_val_loss(second.output) == last_val_loss(reference.output)


def tiny_classifier(num_layers=1, **head):
    backbone = ModelConfig(
        num_layers=num_layers,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        sequence_length=32,
        projected_dim=8,
    ).build_backbone(100)
    classes = task_classes(type(backbone))
    return classes.text_classifier(backbone, num_classes=2, **head)


def test_checkpoints_of_another_model_are_refused_naming_the_setting(
    tmp_path,
):
    directory = str(tmp_path / "checkpoints")
    check_model_settings(tiny_classifier(pooling="cls"), directory)
    # The same settings resume (the layer names, generated, differ).
    check_model_settings(tiny_classifier(pooling="cls"), directory)
    with pytest.raises(ValueError) as refused:
        check_model_settings(tiny_classifier(pooling="mean"), directory)
    message = str(refused.value)
    assert directory in message and "another output directory" in message
    assert "pooling: 'cls' there, 'mean' here" in message
    with pytest.raises(ValueError, match="backbone.config.num_layers: 1 there"):
        check_model_settings(
            tiny_classifier(num_layers=2, pooling="cls"), directory
        )


def test_only_the_chief_records_the_settings(tmp_path):
    directory = tmp_path / "checkpoints"
    check_model_settings(tiny_classifier(), str(directory), chief=False)
    assert not (directory / "model_settings.json").exists()
