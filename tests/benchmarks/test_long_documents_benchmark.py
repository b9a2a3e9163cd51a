"""`benchmarks.long_documents`: the epoch weighting of step times, the
memory bound that decides which cells run, the batch lengths of the run's
pipeline, and (slow) the benchmark end to end at a tiny size."""

import json
import os
import subprocess
import sys

import pytest

from benchmarks import long_documents

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def test_epoch_step_time_weighs_each_length_by_its_batches():
    step_s = {"256": 1.0, "512": 3.0}
    # Three short batches and one long: (3 * 1 + 1 * 3) / 4.
    assert long_documents.epoch_step_s(step_s, {256: 3, 512: 1}) == 1.5


def test_standard_attention_bound_grows_with_the_square_of_the_length():
    size = long_documents.settings(quick=False)
    at_4096 = long_documents.attention_probabilities_bytes(size, 4096, 4096)
    at_16384 = long_documents.attention_probabilities_bytes(size, 16384, 16384)
    assert at_16384 == 16 * at_4096
    # Batch 32, 2 heads, 2 layers of float32 probabilities.
    assert at_4096 == 4 * 32 * 2 * 4096**2 * 2


def test_cells_time_the_example_runs_own_model():
    size = long_documents.settings(quick=False)
    example = long_documents.lra_example()
    for run in ("linformer", "linformer-linear", "standard", "linformer-16k"):
        n = example.RUNS[run][1]
        model = long_documents.cell_model(run, n, size)
        assert model == example.model_settings(run, size, quick=False)
    # At a length no run has, only n (and k <= n) change.
    model = long_documents.cell_model("standard", 16384, size)
    assert model["sequence_length"] == 16384
    assert model["attention"] == "standard"


def test_cells_option_picks_cells_and_names_unknown_ones(capsys):
    args = long_documents.parse_args(
        ["--cells", "standard@4096,linformer@4096"]
    )
    # In the benchmark's order, whatever the order given.
    assert args.cells == (
        ("linformer", "linformer", 4096),
        ("standard", "standard", 4096),
    )
    with pytest.raises(SystemExit):
        long_documents.parse_args(["--cells", "standard@2048"])
    error = capsys.readouterr().err
    assert "unknown cell(s) ['standard@2048']" in error
    assert "linformer-linear@4096" in error


def test_a_killed_cell_names_the_length_it_was_timing():
    error = (
        "killed (out of memory?): I0000 cudart_stub.cc:31] no cuda\n"
        "long_documents: timing batch length 2048\n"
        "long_documents: timed batch length 2048: step 5.10 s, resident "
        "peak 17.2 GiB\n"
        "long_documents: timing batch length 2304"
    )
    reason = long_documents.failure_reason(error)
    assert reason == (
        "killed (out of memory?), at batch length 2304 (last timed: 2048: "
        "step 5.10 s, resident peak 17.2 GiB)"
    )
    # Killed while timing the first length: nothing timed to report.
    first = "killed (out of memory?): long_documents: timing batch length 256"
    assert long_documents.failure_reason(first) == (
        "killed (out of memory?), at batch length 256"
    )
    # Any other failure keeps its text, on one line.
    assert long_documents.failure_reason("exit status 1:\nValueError: x") == (
        "exit status 1: ValueError: x"
    )


def test_batch_lengths_are_the_buckets_of_one_epoch():
    texts = ["a" * length for length in (10, 20, 30, 200, 210, 220, 5, 7)]
    labels = [0, 1] * 4
    counts = long_documents.epoch_batch_lengths(texts, labels, 256, 2)
    assert sum(counts.values()) == len(texts) // 2
    step = 256 // long_documents.LENGTH_BUCKETS
    for length in counts:
        assert length % step == 0 and length <= 256
    # Grouped by length: the long reviews share batches of the top buckets.
    assert max(counts) >= 224 and min(counts) <= 32


def test_table_names_cells_not_run_and_the_length_ratio():
    counts = {256: 1}
    results = [
        dict(
            label="linformer",
            n=256,
            counts=counts,
            step_s={"256": 1.0},
            memory_bytes=2**30,
            memory_method="rss",
        ),
        dict(
            label="linformer",
            n=1024,
            counts=counts,
            step_s={"256": 1.5},
            memory_bytes=2**30,
            memory_method="rss",
        ),
        dict(label="standard", n=1024, counts=counts, reason="too big"),
    ]
    printed = long_documents.table(results)
    assert "| standard | 1024 | not run: too big |" in printed
    assert "n = 1024 instead of cut at n = 256: 1.50x" in printed


@pytest.mark.slow
def test_quick_run_times_every_cell(tmp_path):
    data = tmp_path / "train.jsonl"
    with open(data, "w") as f:
        for i in range(32):
            f.write(json.dumps({"text": "word " * (5 + 9 * i), "label": i % 2}))
            f.write("\n")
    out = tmp_path / "result.json"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.long_documents",
            "--quick",
            "--data",
            str(data),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    with open(out) as f:
        results = json.load(f)["results"]
    assert len(results) == len(long_documents.CELLS)
    for result in results:
        assert "error" not in result, result
        assert set(result["step_s"]) == {str(n) for n in result["counts"]}
        assert all(t > 0 for t in result["step_s"].values())
        # A tiny model's steps can fit in what its first step took: then
        # the peak is not seen, and is not reported as zero.
        assert result["memory_bytes"] is None or result["memory_bytes"] > 0
    assert "instead of cut at n = 128" in process.stdout
