"""examples/bfloat16_memory.py: every part measured in both precisions."""

import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _load():
    path = os.path.join(ROOT, "examples", "bfloat16_memory.py")
    spec = importlib.util.spec_from_file_location("bfloat16_memory", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_part_is_measured_and_a_plain_matmul_halves(
    tmp_path, tensorflow_only
):
    script = _load()
    if script.backends.current().allocator().info() is None:
        pytest.skip("TensorFlow reports no CPU allocator peak here (oneDNN)")
    out = tmp_path / "memory.json"
    assert (
        script.main(
            ["--n", "512", "--k", "64", "--runs", "2", "--out", str(out)]
        )
        == 0
    )
    result = json.loads(out.read_text())
    parts = {row["part"]: row for row in result["parts"]}
    assert list(parts) == list(script.PARTS)
    for row in parts.values():
        float32 = row["float32"]["median_bytes"]
        half = row["mixed_bfloat16"]["median_bytes"]
        assert float32 > 0 and half > 0
        assert len(row["float32"]["runs_bytes"]) == 2
        assert row["ratio"] == pytest.approx(half / float32)
    # A bfloat16 matmul writes half the bytes of a float32 one.
    assert parts["matmul"]["ratio"] < 0.75
