"""`python -m benchmarks.bfloat16_memory`: every part measured in both
precisions."""

import json

import pytest


@pytest.mark.slow
def test_every_part_is_measured_and_a_plain_matmul_halves(
    tmp_path, tensorflow_only
):
    from benchmarks import bfloat16_memory as script

    if not script.backends.has_allocator_statistics(script.backends.current()):
        pytest.skip(
            "TensorFlow has no allocator statistics on this processor "
            "(get_memory_info('CPU:0') raises 'Allocator stats not "
            "available')"
        )
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
