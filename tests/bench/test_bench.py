"""The benchmark: a tiny grid end to end, its files, and the FLOP counter."""

import argparse
import json

import pytest

from keras_linformer.bench import cli
from keras_linformer.bench import flops
from keras_linformer.bench import memory
from keras_linformer.bench import paper
from keras_linformer.bench import report
from keras_linformer.bench import runner
from keras_linformer.bench.cli import add_bench_arguments

TINY = dict(
    num_layers=1,
    hidden_dim=64,
    num_heads=2,
    intermediate_dim=256,
    vocabulary_size=100,
    batch_size=1,
    repeats=2,
    warmup=1,
)


def test_flop_counter_matches_hand_count():
    # b=1, L=8, d=4, h=2, dk=dv=2, k=4; a matmul (m x p)(p x q) is 2mpq.
    hand = {
        "query": 2 * 8 * 4 * (2 * 2),  # X Wq: (8 x 4)(4 x 4)
        "projection": 2 * 4 * 8 * 4,  # E^T X once (F = E): (4 x 8)(8 x 4)
        "column_sums": 2 * 4 * 8 * 1,  # E^T 1 for the bias
        "key": 2 * 4 * 4 * (2 * 2),  # (E^T X) Wk: (4 x 4)(4 x 4)
        "value": 2 * 4 * 4 * (2 * 2),
        "scores": 2 * 2 * (8 * 2 * 4),  # per head Q K'^T: (8 x 2)(2 x 4)
        "context": 2 * 2 * (8 * 4 * 2),  # per head P V': (8 x 4)(4 x 2)
        "output": 2 * 8 * (2 * 2) * 4,  # concat(heads) Wo
    }
    counted = flops.linformer_attention_flops(1, 8, 4, 2, 2, 4)
    assert {k: v for k, v in counted.items() if k != "total"} == hand
    assert counted["total"] == sum(hand.values()) == 1600
    standard = flops.standard_attention_flops(1, 8, 4, 2, 2)
    assert standard["total"] == 4 * 256 + 2 * (2 * 2 * 8 * 2 * 8)


def test_flop_counter_matches_the_layer_graph(tensorflow_only):
    """The traced LinformerAttention runs exactly the counted matmuls: the
    projection-first path, with one projection for keys and values."""
    import tensorflow as tf

    from keras_linformer.layers import LinformerAttention
    from keras_linformer.layers import SequenceProjection

    b, n, d, h, k = 2, 16, 8, 2, 4
    shared = SequenceProjection(n, k)
    layer = LinformerAttention(
        h, d // h, n, k, sharing="layerwise", shared_projection=shared
    )
    fn = tf.function(lambda x, m: layer(x, padding_mask=m))
    graph = flops.graph_matmul_flops(
        fn.get_concrete_function(
            tf.TensorSpec((b, n, d)), tf.TensorSpec((b, n), tf.int32)
        )
    )
    assert graph["unknown"] == []
    assert (
        graph["total"]
        == flops.linformer_attention_flops(b, n, d, h, d // h, k)["total"]
    )


def _check_result(result, ns, k):
    assert result.errors == []
    assert [(c["n"], c["k"]) for c in result.grid] == [(n, k) for n in ns]
    for cell in result.grid:
        for key in (
            "linformer_time_s",
            "standard_time_s",
            "linformer_memory_bytes",
            "standard_memory_bytes",
            "time_ratio",
            "memory_ratio",
            "linformer_flops",
            "standard_flops",
        ):
            assert cell[key] > 0, (key, cell)
        assert len(cell["linformer_times_s"]) == TINY["repeats"]
        assert cell["paper_time_ratio"] == paper.paper_ratio(
            paper.PAPER_TIME_RATIO, cell["n"], k
        )
    assert result.settings["num_layers"] == 1


def test_tiny_grid_returns_a_result_per_cell_and_files_parse_back(
    tmp_path, tensorflow_only
):
    ns, k = [1024, 2048], 64
    result = runner.run_benchmark(
        ns=ns,
        ks=[k],
        memory_method="allocator",  # valid with several models a process
        isolate=False,  # in this process: the subprocess path is below
        verbose=False,
        **TINY,
    )
    _check_result(result, ns, k)

    paths = report.write_outputs(result, str(tmp_path))
    with open(paths["json"]) as f:
        loaded = json.load(f)
    assert loaded == json.loads(json.dumps(result.to_dict()))
    again = runner.BenchmarkResult.from_dict(loaded)
    assert [c["n"] for c in again.grid] == ns
    rows = report.read_grid_csv(paths["grid_csv"])
    assert [(r["n"], r["k"]) for r in rows] == [(n, k) for n in ns]
    for row, cell in zip(rows, result.grid):
        assert row["linformer_time_s"] == pytest.approx(
            cell["linformer_time_s"]
        )
        assert row["standard_memory_bytes"] == cell["standard_memory_bytes"]
        assert row["time_ratio"] == pytest.approx(cell["time_ratio"])
    assert (tmp_path / "bench.png").stat().st_size > 0
    text = report.format_report(result)
    assert "Time saved" in text and "Memory saved" in text


def test_a_measurement_runs_in_its_own_subprocess():
    """What every cell of the real run does: a fresh process, one model,
    resident-memory growth of its first full-length pass, then timing."""
    task = dict(
        TINY,
        task="models",
        n=1024,
        models=[{"kind": "linformer", "k": 64}],
        memory_models=["linformer_k64"],
        measure_time=True,
        dropout=0.1,
        dtype="float32",
        jit_compile=False,
        memory_method="rss",
        seed=0,
    )
    out = runner.run_task(task, isolate=True, timeout=300)
    assert "error" not in out, out.get("error")
    model = out["models"]["linformer_k64"]
    assert model["memory_method"] == "rss"
    assert model["memory_bytes"] > 0 and model["time_s"] > 0
    assert len(model["times_s"]) == TINY["repeats"]
    assert out["device"] in ("CPU", "GPU")


def test_long_and_efficiency_in_process(tensorflow_only):
    result = runner.run_benchmark(
        grid=False,
        long=True,
        long_ns=(512, 1024),
        long_k=32,
        efficiency=True,
        efficiency_ns=(512,),
        efficiency_k=32,
        memory_method="allocator",
        isolate=False,
        verbose=False,
        **TINY,
    )
    assert result.errors == []
    assert [r["n"] for r in result.long] == [512, 1024]
    for row in result.long:
        assert row["time_per_token_us"] > 0 and row["memory_bytes"] > 0
    (eff,) = result.efficiency
    assert eff["attention_flops"] == eff["attention_flops_graph"]
    assert (
        eff["attention_flops"]
        == (flops.linformer_attention_flops(1, 512, 64, 2, 32, 32)["total"])
    )
    assert 0 < eff["efficiency"]
    assert "long_linear" in result.targets
    assert "Linformer alone" in report.format_report(result)


def test_rss_meter_sees_a_run_that_touches_new_memory():
    meter = memory.PeakMeter()
    meter.start()
    block = bytearray(64 * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    measured = meter.stop()
    del block
    assert 60 * 2**20 <= measured["rss_bytes"] <= 90 * 2**20


def test_targets_and_table_from_a_synthetic_result():
    cell = dict.fromkeys(report.GRID_COLUMNS)
    cells = []
    for (n, k), ours in {(512, 128): 1.6, (512, 256): 1.2}.items():
        row = dict(cell, n=n, k=k, time_ratio=ours, memory_ratio=9.0)
        row["paper_time_ratio"] = paper.PAPER_TIME_RATIO[n][k]
        row["paper_memory_ratio"] = paper.PAPER_MEMORY_RATIO[n][k]
        row["time_beats_paper"] = ours >= row["paper_time_ratio"]
        row["memory_beats_paper"] = True
        cells.append(row)
    result = runner.BenchmarkResult(settings={}, machine={}, grid=cells)
    targets = runner.evaluate_targets(result)
    assert targets["grid_memory"]["met"]
    assert not targets["grid_time"]["met"]
    assert targets["grid_time"]["missed"] == [(512, 256, 1.2, 1.3)]
    result.targets = targets
    table = report.format_grid(result, "time")
    assert "1.60 (1.5) ok" in table and "1.20 (1.3) MISS" in table


def test_cli_arguments():
    parser = add_bench_arguments(argparse.ArgumentParser())
    args = parser.parse_args(
        ["--ns", "512,1024", "--ks", "128", "--num-layers", "2", "--long"]
    )
    assert args.ns == [512, 1024] and args.ks == [128]
    assert args.num_layers == 2 and args.long and not args.efficiency
    assert args.hidden_dim == 768 and args.num_heads == 12
    assert args.intermediate_dim == 3072
    assert runner._parse_grid(None, None) == paper.paper_grid()
    assert len(paper.paper_grid()) == 19


def test_the_recorded_command_is_the_one_typed(monkeypatch):
    parser = add_bench_arguments(argparse.ArgumentParser())
    argv = ["--long", "--repeats", "3"]
    args = parser.parse_args(argv)
    monkeypatch.setattr(
        "sys.argv", ["/usr/bin/keras-linformer", "bench", *argv]
    )
    assert cli.command_line(args) == "keras-linformer bench --long --repeats 3"
    args._argv = ["--efficiency"]  # python -m keras_linformer.bench
    assert cli.command_line(args) == "keras-linformer bench --efficiency"
