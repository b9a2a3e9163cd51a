"""The attention benchmark (`python -m benchmarks.attention`): its command
line, and a tiny grid end to end (the slow tier), its files and figures."""

import json
import os
import statistics
import subprocess
import sys

import pytest

from benchmarks import attention
from benchmarks import backends
from benchmarks import flops
from benchmarks import paper
from benchmarks import report
from benchmarks import runner
from benchmarks import worker
from keras_linformer.projections import DEFAULT_PROJECTION

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))

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


@pytest.fixture
def allocator_statistics(tensorflow_only):
    """Skips where TensorFlow keeps no allocator statistics on this CPU
    (AMD EPYC among others): in-process runs of several models need them."""
    if not backends.has_allocator_statistics(backends.current()):
        pytest.skip(
            "TensorFlow has no allocator statistics on this processor "
            "(get_memory_info('CPU:0') raises 'Allocator stats not "
            "available')"
        )


@pytest.mark.slow
def test_memory_method_names_what_this_machine_measures(tensorflow_only):
    """Asked for allocator figures, the bench labels its settings with the
    method it can use here: the allocator's where TensorFlow keeps
    statistics, resident-set growth where it does not."""
    result = runner.run_benchmark(
        ns=[256],
        ks=[64],
        memory_method="allocator",
        memory_runs=1,
        bound=False,
        isolate=True,
        verbose=False,
        **TINY,
    )
    assert result.errors == []
    expected = (
        "allocator"
        if backends.has_allocator_statistics(backends.current())
        else "rss"
    )
    assert result.settings["memory_method"] == expected
    (cell,) = result.grid
    assert cell["memory_method"] == expected
    assert f"memory={expected}" in report.format_report(result)


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


@pytest.mark.slow
def test_tiny_grid_returns_a_result_per_cell_and_files_parse_back(
    tmp_path, allocator_statistics
):
    ns, k = [1024, 2048], 64
    result = runner.run_benchmark(
        ns=ns,
        ks=[k],
        memory_method="allocator",  # valid with several models a process
        memory_runs=2,
        isolate=False,  # in this process: the subprocess path is below
        training=True,
        verbose=False,
        **TINY,
    )
    _check_result(result, ns, k)
    for cell in result.grid:
        # The primary figure is the allocator's, the median of the runs,
        # and lies within their spread; resident memory sits beside it.
        assert cell["memory_method"] == "allocator"
        for model in ("linformer", "standard"):
            low, high = cell[f"{model}_memory_spread_bytes"]
            assert low <= cell[f"{model}_memory_bytes"] <= high
            assert (
                cell[f"{model}_memory_bytes"]
                == cell[f"{model}_allocator_bytes"]
            )
            assert cell[f"{model}_rss_bytes"] is not None
        # The k = 1 Linformer, timed beside the row, bounds every k.
        assert cell["bound_time_ratio"] > 0
        assert cell["fraction_of_bound"] == pytest.approx(
            cell["time_ratio"] / cell["bound_time_ratio"]
        )
        # k = 1 does fewer matmul FLOPs than any k: the FLOP ceiling of the
        # fraction is below 1.
        assert 0 < cell["flop_fraction_of_bound"] < 1
        assert cell["train_time_ratio"] == pytest.approx(
            cell["standard_train_time_s"] / cell["linformer_train_time_s"]
        )

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
    assert "fraction of the k = 1 bound" in text
    assert "Training step time saved" in text


@pytest.mark.slow
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
    assert len(model["times_s"]) == TINY["repeats"]
    assert model["time_s"] == statistics.median(model["times_s"])
    # At least the float32 weights of the 1-layer model it ran.
    assert model["memory_bytes"] > 4 * 64 * 256 * 2
    assert out["device"] in ("CPU", "GPU")


@pytest.mark.slow
def test_long_and_efficiency_in_process(allocator_statistics):
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
        tokens = row["n"] * TINY["batch_size"]
        expected = row["time_s"] / tokens * 1e6
        assert row["time_per_token_us"] == pytest.approx(expected)
    (eff,) = result.efficiency
    assert (
        eff["attention_flops"]
        == (flops.linformer_attention_flops(1, 512, 64, 2, 32, 32)["total"])
    )
    assert 0 < eff["efficiency"]
    assert "Linformer alone" in report.format_report(result)


@pytest.mark.slow
@pytest.mark.parametrize("projection", [DEFAULT_PROJECTION, "max"])
def test_grid_of_a_pooling_projection(allocator_statistics, projection):
    """The backbone's default E (`"sliding_max"`) and max pooling: the
    workers' Linformer pools, the FLOPs are the pooling ones (the key and
    value dense layers on all n rows), the report and its settings say so."""
    result = runner.run_benchmark(
        ns=[256],
        ks=[64],
        projection=projection,
        memory_method="allocator",
        memory_runs=1,
        bound=False,
        isolate=False,
        verbose=False,
        **TINY,
    )
    assert result.errors == []
    assert result.settings["projection"] == projection
    (cell,) = result.grid
    widths = dict(
        batch_size=TINY["batch_size"],
        length=256,
        hidden_dim=TINY["hidden_dim"],
        num_heads=TINY["num_heads"],
        intermediate_dim=TINY["intermediate_dim"],
        num_layers=TINY["num_layers"],
    )
    pooled = flops.backbone_flops(
        "linformer", k=64, projection=projection, **widths
    )
    linear = flops.backbone_flops("linformer", k=64, **widths)
    assert cell["linformer_flops"] == pooled != linear
    assert cell["time_ratio"] > 0 and cell["memory_ratio"] > 0
    assert f"projection={projection}" in report.format_report(result)


@pytest.mark.parametrize("projection", [None, "linear"])
def test_the_workers_build_the_projection_asked_for(projection):
    """The backbone's default E where the task names none."""
    task = dict(TINY, n=256, dropout=0.0, dtype="float32")
    if projection:
        task["projection"] = projection
    backbone = worker.build_backbone("linformer", task, projected_dim=64)
    expected = projection or DEFAULT_PROJECTION
    assert backbone.get_config()["projection"] == expected


def test_an_unknown_projection_is_refused():
    with pytest.raises(ValueError, match=r"Unknown `projection`: 'pool'"):
        runner.run_benchmark(projection="pool", verbose=False, **TINY)
    parser = attention.build_parser()
    assert parser.parse_args(["--projection", "max"]).projection == "max"
    assert parser.parse_args([]).projection == DEFAULT_PROJECTION
    with pytest.raises(SystemExit):
        parser.parse_args(["--projection", "softmax"])


@pytest.mark.parametrize("memory_runs", [0, -1, 1.5])
def test_memory_runs_must_be_a_positive_integer(memory_runs):
    with pytest.raises(
        ValueError, match=r"memory_runs.*>= 1.*" + str(memory_runs)
    ):
        runner.run_benchmark(memory_runs=memory_runs, verbose=False, **TINY)


def test_the_command_line_reaches_the_runner_and_is_recorded(
    monkeypatch, tmp_path, capsys
):
    """`main(argv)` runs what `argv` asks for, with the backbone's default
    E unless `--projection` names another, and records `argv` as the
    command (not `sys.argv`, which is pytest's here)."""
    calls = []

    def run_benchmark(**kwargs):
        calls.append(kwargs)
        return runner.BenchmarkResult(settings={}, machine={})

    monkeypatch.setattr(runner, "run_benchmark", run_benchmark)
    monkeypatch.setattr(report, "format_report", lambda result: "report")
    out = str(tmp_path)
    for argv, projection in (
        (["--long", "--output-dir", out], DEFAULT_PROJECTION),
        (["--projection", "linear", "--output-dir", out], "linear"),
    ):
        assert attention.main(argv) == 0
        kwargs = calls.pop()
        assert kwargs["projection"] == projection
        assert kwargs["long"] is ("--long" in argv)
        with open(os.path.join(out, "results.json")) as f:
            command = json.load(f)["settings"]["command"]
        assert command == " ".join(["python -m benchmarks.attention", *argv])
    assert "report" in capsys.readouterr().out


# A process where TensorFlow and tensorflow-text cannot be imported, as on a
# GPU machine that has only JAX: the benchmark must run there.
WITHOUT_TENSORFLOW = """
import importlib.abc, importlib.machinery, json, sys

class Blocked(importlib.abc.Loader):
    def create_module(self, spec):
        raise ImportError(f"{spec.name} is blocked in this test")
    def exec_module(self, module):
        raise ImportError(module.__name__)

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tensorflow_text", "tf_keras"):
            return importlib.machinery.ModuleSpec(name, Blocked())
        return None

sys.meta_path.insert(0, Blocker())
from benchmarks.attention import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tensorflow_text"))
print(json.dumps({"code": code, "tensorflow_modules": loaded}))
"""


@pytest.mark.slow
def test_benchmark_runs_on_jax_without_tensorflow(tmp_path):
    """The JAX path: a tiny grid and the efficiency measurement in worker
    subprocesses (which block TensorFlow too, inheriting nothing of it),
    results written and read."""
    pytest.importorskip("jax", reason="needs JAX (the test extra installs it)")
    site = tmp_path / "site"
    site.mkdir()
    # Worker subprocesses start their own interpreter: block TensorFlow
    # there with a `sitecustomize` on their path.
    (site / "sitecustomize.py").write_text(
        WITHOUT_TENSORFLOW.split("from benchmarks.attention import main")[0]
    )
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        PYTHONPATH=os.pathsep.join(
            [str(site), ROOT, os.environ.get("PYTHONPATH", "")]
        ),
    )
    out_dir = tmp_path / "out"
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            WITHOUT_TENSORFLOW,
            "--ns",
            "256",
            "--ks",
            "32",
            "--num-layers",
            "1",
            "--hidden-dim",
            "64",
            "--num-heads",
            "2",
            "--intermediate-dim",
            "128",
            "--repeats",
            "2",
            "--training",
            "--grid",
            "--efficiency",
            "--efficiency-ns",
            "256",
            "--efficiency-k",
            "32",
            "--output-dir",
            str(out_dir),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary == {"code": 0, "tensorflow_modules": []}
    with open(out_dir / "results.json") as f:
        result = json.load(f)
    assert result["errors"] == []
    assert result["settings"]["backend"] == "jax"
    assert result["machine"]["keras_backend"] == "jax"
    (cell,) = result["grid"]
    assert (cell["n"], cell["k"]) == (256, 32)
    assert cell["linformer_time_s"] > 0 and cell["standard_time_s"] > 0
    assert cell["linformer_memory_bytes"] > 0
    assert cell["train_time_ratio"] > 0 and cell["fraction_of_bound"] > 0
    # The attention layer's FLOP/s against a matmul, on JAX too.
    (efficiency,) = result["efficiency"]
    assert efficiency["backend"] == "jax"
    assert efficiency["attention_flops_per_s"] > 0
    assert efficiency["matmul_flops_per_s"] > 0
    assert all(t > 0 for t in efficiency["breakdown_s"].values())


def test_the_plot_shows_what_was_measured_and_names_what_was_not(tmp_path):
    """A device without a memory reading (JAX on a CPU) or a cell that
    failed gives None: the plot leaves those points out instead of failing
    on a log axis of zeros."""
    pytest.importorskip("matplotlib", reason="the plot needs matplotlib")
    grid = [
        {
            "n": n,
            "k": 32,
            "linformer_time_s": 0.01 * n / 256,
            "linformer_memory_bytes": None,
            "standard_time_s": None if n == 1024 else 0.02 * n / 256,
            "standard_memory_bytes": None,
        }
        for n in (256, 512, 1024)
    ]
    settings = {
        "device": "cpu",
        "num_layers": 1,
        "hidden_dim": 64,
        "batch_size": 2,
        "dtype": "float32",
    }
    result = runner.BenchmarkResult(settings=settings, machine={}, grid=grid)
    png = tmp_path / "bench.png"
    assert report.plot_result(result, str(png))
    assert png.stat().st_size > 0
