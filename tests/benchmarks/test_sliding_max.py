"""`benchmarks.sliding_max`: a tiny run on both sides of the layer's rule,
its JSON, and its refusals."""

import json

import pytest

from benchmarks import sliding_max


def test_tiny_run_reports_both_ways_and_the_layers_choice(tmp_path, capsys):
    out = tmp_path / "sliding_max.json"
    rows = sliding_max.main(
        ["--ns", "64", "--lengths", "8,64,128", "--projected-dim", "4",
         "--batch-size", "2", "--repeats", "1", "--out", str(out)]
    )  # fmt: skip
    # Windows of 16, 4 levels: the table at L = 8 (32 rows < 64), the
    # gather at L = 64; L = 128 > n is skipped.
    assert [(row["length"], row["layer_uses"]) for row in rows] == [
        (8, "table"),
        (64, "gather"),
    ]
    for row in rows:
        assert row["gather_seconds"] > 0 and row["table_seconds"] > 0
        ratio = row["gather_seconds"] / row["table_seconds"]
        assert row["gather_over_table"] == pytest.approx(ratio)
    printed = capsys.readouterr().out
    assert "| n | L | gather (s) | table (s) | gather / table |" in printed
    assert "| 64 | 8 |" in printed and "| table |" in printed
    assert json.loads(out.read_text())["rows"] == rows


def test_repeats_below_one_is_refused(capsys):
    with pytest.raises(SystemExit):
        sliding_max.parse_args(["--repeats", "0"])
    assert (
        "--repeats must be at least 1. Received: 0" in capsys.readouterr().err
    )
