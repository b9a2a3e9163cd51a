"""End-to-end tests of the `keras-linformer` command on tiny configurations."""

import json
import math
import os
import subprocess
import sys

import pytest

from keras_linformer import cli

TINY_MODEL = [
    "--num-layers=1",
    "--num-heads=2",
    "--hidden-dim=16",
    "--intermediate-dim=32",
    "--sequence-length=32",
    "--projected-dim=8",
    "--vocabulary-size=200",
    "--batch-size=4",
    "--epochs=1",
    "--steps-per-epoch=4",
    "--checkpoint-every=2",
    "--verbose=0",
]

TEXT = (
    "The quick brown fox jumps over the lazy dog near the river bank.\n"
    "A king and a queen walked to the castle where the knights were waiting.\n"
    "Rain fell on the fields while the farmers gathered the last of the wheat.\n"
) * 40


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT)
    return str(path)


def _labeled(tmp_path, name, n=24):
    rows = []
    for i in range(n):
        label = i % 2
        word = "wonderful great lovely" if label else "awful terrible boring"
        rows.append(
            json.dumps({"text": f"a {word} film number {i}", "label": label})
        )
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n")
    return str(path)


@pytest.mark.parametrize("command", ["pretrain", "finetune", "evaluate"])
def test_help_lists_the_options(command):
    result = subprocess.run(
        [sys.executable, "-m", "keras_linformer", command, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: keras-linformer " + command in result.stdout
    if command != "evaluate":
        for option in ("--projected-dim", "--sharing", "--strategy", "--seed"):
            assert option in result.stdout


def test_pretrain_then_evaluate(tmp_path, text_file, capsys):
    output_dir = tmp_path / "run"
    code = cli.main(
        ["pretrain", text_file, f"--output-dir={output_dir}"] + TINY_MODEL
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "Validation loss" in out and "perplexity" in out
    metrics = json.loads((output_dir / "metrics.json").read_text())
    assert math.isfinite(metrics["validation_perplexity"])
    assert metrics["validation_perplexity"] > 1
    assert metrics["steps"] == 4
    assert (output_dir / "preset" / "task.json").exists()
    assert not [p for p in os.listdir(output_dir) if p.startswith(".tmp")]

    eval_json = tmp_path / "eval.json"
    code = cli.main(
        [
            "evaluate",
            str(output_dir / "preset"),
            text_file,
            f"--json={eval_json}",
        ]
    )
    assert code == 0
    evaluation = json.loads(eval_json.read_text())
    assert math.isfinite(evaluation["validation_perplexity"])
    assert evaluation["validation_perplexity"] > 1


def test_finetune_from_scratch_then_evaluate(tmp_path):
    train = _labeled(tmp_path, "train.jsonl")
    dev = _labeled(tmp_path, "dev.jsonl", n=8)
    output_dir = tmp_path / "clf"
    code = cli.main(
        [
            "finetune",
            f"--train={train}",
            f"--validation={dev}",
            f"--output-dir={output_dir}",
        ]
        + TINY_MODEL
    )
    assert code == 0
    metrics = json.loads((output_dir / "metrics.json").read_text())
    assert metrics["num_classes"] == 2
    eval_json = tmp_path / "eval.json"
    assert (
        cli.main(
            ["evaluate", str(output_dir / "preset"), dev, f"--json={eval_json}"]
        )
        == 0
    )
    evaluation = json.loads(eval_json.read_text())
    assert evaluation["examples"] == 8
    # The saved preset scores what training reported on the same data.
    assert evaluation["accuracy"] == pytest.approx(
        metrics["validation_accuracy"], abs=1e-6
    )
    assert evaluation["accuracy"] == pytest.approx(
        metrics["validation_accuracy"]
    )


def test_missing_file_is_a_clear_error_and_writes_nothing(tmp_path, capsys):
    output_dir = tmp_path / "run"
    missing = tmp_path / "nope.txt"
    code = cli.main(
        ["pretrain", str(missing), f"--output-dir={output_dir}"] + TINY_MODEL
    )
    assert code == 2
    assert str(missing) in capsys.readouterr().err
    assert not (output_dir / "preset").exists()
    assert not (output_dir / "metrics.json").exists()


def test_empty_text_file_is_refused(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    code = cli.main(
        ["pretrain", str(empty), f"--output-dir={tmp_path / 'run'}"]
        + TINY_MODEL
    )
    assert code == 2
    assert "empty" in capsys.readouterr().err


def test_jsonl_line_without_label_is_refused(tmp_path, capsys):
    train = tmp_path / "train.jsonl"
    train.write_text(
        '{"text": "good", "label": 1}\n{"text": "no label here"}\n'
    )
    dev = _labeled(tmp_path, "dev.jsonl", n=4)
    output_dir = tmp_path / "clf"
    code = cli.main(
        [
            "finetune",
            f"--train={train}",
            f"--validation={dev}",
            f"--output-dir={output_dir}",
        ]
        + TINY_MODEL
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "label" in err
    assert not (output_dir / "preset").exists()


def test_negative_warmup_is_refused_by_the_parser(tmp_path, text_file, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(
            ["pretrain", text_file, f"--output-dir={tmp_path / 'run'}"]
            + TINY_MODEL
            + ["--warmup-steps=-3"]
        )
    assert exit_info.value.code == 2
    assert "expected an integer >= 0, received '-3'" in capsys.readouterr().err


def test_warmup_as_long_as_training_is_refused(tmp_path, text_file, capsys):
    output_dir = tmp_path / "run"
    code = cli.main(
        ["pretrain", text_file, f"--output-dir={output_dir}"]
        + TINY_MODEL
        + ["--warmup-steps=4"]
    )
    assert code == 2
    assert "`warmup_steps` (4) must be smaller" in capsys.readouterr().err
    assert not (output_dir / "preset").exists()


def test_projected_dim_list_must_match_layers(tmp_path, text_file, capsys):
    args = [a for a in TINY_MODEL if not a.startswith("--projected-dim")]
    code = cli.main(
        [
            "pretrain",
            text_file,
            f"--output-dir={tmp_path / 'run'}",
            "--projected-dim=8,4,2",
        ]
        + args
    )
    assert code == 2
    assert "one k per layer: expected 1 values" in capsys.readouterr().err


def test_window_mean_initializer_starts_e_and_f_as_window_means():
    import types

    import keras

    from keras_linformer.initializers import WindowMean
    from keras_linformer.training import recipes

    config = types.SimpleNamespace(
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        sequence_length=32,
        projected_dim="8",
        projection="linear",
        sharing="headwise",
        dropout=0.0,
        projection_initializer="window_mean",
    )
    backbone = recipes.build_backbone(config, vocabulary_size=50)
    kernels = [w for w in backbone.weights if "projection" in w.path]
    assert len(kernels) == 4  # E and F in each of 2 layers
    expected = keras.ops.convert_to_numpy(WindowMean()((32, 8)))
    for kernel in kernels:
        assert (keras.ops.convert_to_numpy(kernel) == expected).all()
    config.projection_initializer = "default"
    backbone = recipes.build_backbone(config, vocabulary_size=50)
    kernel = [w for w in backbone.weights if "projection" in w.path][0]
    assert (keras.ops.convert_to_numpy(kernel) < 0).any()


def test_window_mean_initializer_needs_a_matrix_projection(
    tmp_path, text_file, capsys
):
    args = [a for a in TINY_MODEL if not a.startswith("--projected-dim")]
    code = cli.main(
        [
            "pretrain",
            text_file,
            f"--output-dir={tmp_path / 'run'}",
            "--projected-dim=8",
            "--projection=conv",
            "--projection-initializer=window_mean",
        ]
        + args
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "'window_mean'" in err and "projection='conv'" in err
    assert not (tmp_path / "run" / "preset").exists()
