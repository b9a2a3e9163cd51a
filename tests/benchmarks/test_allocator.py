"""`benchmarks.allocator`: its table, its refusals, and (slow) a run at a
tiny size with tcmalloc preloaded."""

import json
import os
import subprocess
import sys

import pytest

from benchmarks import allocator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def test_table_gives_the_speedup_and_names_a_failed_cell():
    results = [
        dict(run="linformer", n=4096, length=4096, default_s=6.0,
             preloaded_s=4.0, default_cpu=[6.0, 3.0], preloaded_cpu=[5.0, 0.0],
             error=None),
        dict(run="standard-512", n=512, length=512, default_s=1.0,
             preloaded_s=None, error="killed (out of memory?)"),
    ]  # fmt: skip
    printed = allocator.table(results, "/usr/lib/libtcmalloc_minimal.so.4")
    assert "step, s (libtcmalloc_minimal.so.4)" in printed
    assert "| linformer | 4096 | 6.000 | 4.000 | 1.50x | 33% / 0% |" in printed
    assert "not measured: killed (out of memory?)" in printed


def test_missing_library_is_named_and_nothing_runs(tmp_path, capsys):
    missing = str(tmp_path / "libnothing.so")
    assert allocator.main(["--preload", missing]) == 0
    assert f"Skipping: {missing} not found" in capsys.readouterr().err


def test_repeats_below_one_is_refused(capsys):
    with pytest.raises(SystemExit):
        allocator.parse_args(["--repeats", "0"])
    assert (
        "--repeats must be at least 1. Received: 0" in capsys.readouterr().err
    )


@pytest.mark.slow
def test_quick_run_times_each_cell_with_both_allocators(tmp_path):
    if not os.path.isfile(allocator.TCMALLOC):
        pytest.skip(f"tcmalloc not installed here ({allocator.TCMALLOC})")
    out = tmp_path / "allocator.json"
    process = subprocess.run(
        [sys.executable, "-m", "benchmarks.allocator", "--quick",
         "--repeats", "1", "--out", str(out)],
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    assert process.returncode == 0, process.stderr[-2000:]
    with open(out) as f:
        results = json.load(f)["results"]
    assert [r["length"] for r in results] == [32, 64, 256]
    for r in results:
        assert r["error"] is None
        assert r["default_s"] > 0 and r["preloaded_s"] > 0
        assert all(seconds >= 0 for seconds in r["default_cpu"])
        assert sum(r["preloaded_cpu"]) > 0
    assert "speed-up" in process.stdout
