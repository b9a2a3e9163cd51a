"""Byte-level long documents from the command line, at n = 4096.

The path of `examples/reproduce_lra_text.py` at a tiny model size: train a
byte-level classifier from scratch on reviews truncated and padded to 4096
bytes, then evaluate and export the preset it saves, for Linformer and for
standard attention.
"""

import json
import os

import pytest

import keras_linformer_cli

pytestmark = pytest.mark.slow

REVIEWS = [
    ("A slow start, then " + "a moving, wonderful film. " * 120, 1),
    ("Dull and far too long. " * 150, 0),
    ("Short and sweet.", 1),
    ("Bad acting, worse plot. Avoid. " * 40, 0),
    ("Café crème: un film magnifique, très émouvant. " * 30, 1),
    ("Nothing happens. " * 300, 0),
]


def _write_jsonl(path, records):
    with open(path, "w", encoding="utf-8") as f:
        for text, label in records:
            f.write(json.dumps({"text": text, "label": label}) + "\n")


@pytest.mark.parametrize("attention", ["linformer", "standard"])
def test_byte_classifier_at_4096_trains_evaluates_and_exports(
    tmp_path, attention
):
    train, dev = tmp_path / "train.jsonl", tmp_path / "dev.jsonl"
    _write_jsonl(train, REVIEWS)
    _write_jsonl(dev, REVIEWS[:4])
    output_dir = tmp_path / "run"
    code = keras_linformer_cli.main(
        [
            "finetune",
            "--tokenizer=byte",
            f"--attention={attention}",
            "--sequence-length=4096",
            "--projected-dim=256",
            "--num-layers=1",
            "--num-heads=2",
            "--hidden-dim=16",
            "--intermediate-dim=32",
            "--batch-size=2",
            "--steps-per-epoch=2",
            "--group-by-length",
            f"--train={train}",
            f"--validation={dev}",
            f"--output-dir={output_dir}",
            "--verbose=0",
        ]
    )
    assert code == 0
    preset = output_dir / "preset"
    with open(preset / "tokenizer.json") as f:
        tokenizer = json.load(f)
    assert tokenizer["class_name"] == "LinformerByteTokenizer"
    with open(preset / "config.json") as f:
        backbone = json.load(f)["config"]
    assert backbone["max_sequence_length"] == 4096
    assert backbone["vocabulary_size"] == 261  # 5 specials + 256 bytes

    report = tmp_path / "eval.json"
    code = keras_linformer_cli.main(
        ["evaluate", str(preset), str(dev), "--json", str(report)]
    )
    assert code == 0
    with open(report) as f:
        metrics = json.load(f)
    assert metrics["examples"] == 4
    assert 0.0 <= metrics["accuracy"] <= 1.0

    code = keras_linformer_cli.main(
        [
            "export",
            str(preset),
            "--name=reviews",
            f"--base-dir={tmp_path / 'saved_models'}",
        ]
    )
    assert code == 0
    versions = os.listdir(tmp_path / "saved_models" / "reviews")
    assert versions == ["1"]
    assert (
        tmp_path / "saved_models" / "reviews" / "1" / "saved_model.pb"
    ).exists()
