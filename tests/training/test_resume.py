"""`keras-linformer pretrain` killed with SIGKILL resumes where it stopped."""

import json
import os

import pytest
from conftest import TINY_MODEL
from conftest import assert_succeeded
from conftest import load_weights
from conftest import max_difference

pytestmark = pytest.mark.slow

# 2 epochs of 3 steps, a checkpoint every 2 steps, dropout on (its random
# state must be restored too).
RUN = [
    *TINY_MODEL,
    "--dropout", "0.1", "--batch-size", "8", "--epochs", "2",
    "--steps-per-epoch", "3", "--checkpoint-every", "2", "--seed", "3",
    "--verbose", "2", "--strategy", "one_device",
]  # fmt: skip


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
