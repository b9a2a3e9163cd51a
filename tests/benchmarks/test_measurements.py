"""The benchmark's measurement log: what a stopped run keeps, and what
`--resume` reuses."""

import json

import pytest

from benchmarks import report
from benchmarks import runner
from benchmarks.measurements import MeasurementLog

CONTEXT = {"backend": "tensorflow", "device": "CPU"}


def test_a_resumed_log_answers_each_task_with_its_results_in_order(tmp_path):
    path = tmp_path / "measurements.jsonl"
    log = MeasurementLog(str(path), context=CONTEXT)
    memory = {"task": "models", "n": 512, "memory_models": ["standard"]}
    timing = {"task": "models", "n": 512, "measure_time": True}
    log.add(memory, {"run": 1})
    log.add(memory, {"run": 2})
    log.add(timing, {"time_s": 0.5})

    resumed = MeasurementLog(str(path), resume=True, context=CONTEXT)
    assert resumed.get(dict(reversed(list(timing.items())))) == {"time_s": 0.5}
    assert resumed.get(memory) == {"run": 1}
    assert resumed.get(memory) == {"run": 2}
    assert resumed.get(memory) is None  # a third run was never measured
    assert resumed.get(dict(timing, n=1024)) is None
    assert resumed.reused == 3


def test_measurements_of_another_backend_or_device_are_not_reused(tmp_path):
    path = tmp_path / "measurements.jsonl"
    task = {"task": "models", "n": 512}
    MeasurementLog(str(path), context=CONTEXT).add(task, {"time_s": 0.5})
    for context in (
        {"backend": "jax", "device": "CPU"},
        {**CONTEXT, "device": "GPU"},
    ):
        assert (
            MeasurementLog(str(path), resume=True, context=context).get(task)
            is None
        )


def test_a_line_cut_by_a_kill_is_measured_again_and_the_next_stands_alone(
    tmp_path,
):
    path = tmp_path / "measurements.jsonl"
    first, second = {"n": 1}, {"n": 2}
    MeasurementLog(str(path), context=CONTEXT).add(first, {"time_s": 1.0})
    with open(path, "a") as f:
        f.write('{"context": {"backend": "tens')  # killed mid-write
    log = MeasurementLog(str(path), resume=True, context=CONTEXT)
    assert log.get(second) is None
    log.add(second, {"time_s": 2.0})
    resumed = MeasurementLog(str(path), resume=True, context=CONTEXT)
    assert resumed.get(first) == {"time_s": 1.0}
    assert resumed.get(second) == {"time_s": 2.0}


def test_without_resume_a_run_starts_its_log_afresh(tmp_path):
    path = tmp_path / "out" / "measurements.jsonl"
    MeasurementLog(str(path), context=CONTEXT).add({"n": 1}, {"time_s": 1.0})
    log = MeasurementLog(str(path), context=CONTEXT)
    assert path.read_text() == ""
    assert log.get({"n": 1}) is None


def test_a_resumed_benchmark_reuses_every_measurement_and_reports_the_same(
    tmp_path, monkeypatch, tensorflow_only
):
    """A finished grid rerun with `resume` measures nothing again (any
    measurement would fail here) and reports the same figures."""
    path = str(tmp_path / "measurements.jsonl")
    settings = dict(
        ns=[64],
        ks=[16],
        num_layers=1,
        hidden_dim=16,
        num_heads=2,
        intermediate_dim=32,
        vocabulary_size=50,
        repeats=2,
        memory_runs=2,
        isolate=False,
        verbose=False,
        measurements_path=path,
    )
    first = runner.run_benchmark(**settings)
    assert first.errors == []
    with open(path) as f:
        lines = [json.loads(line) for line in f]
    # Two memory runs of each model and one timing process: 2 * 2 + 1.
    assert len(lines) == 5 and all("result" in line for line in lines)

    def no_measuring(*args, **kwargs):
        raise AssertionError("a resumed run measured again")

    monkeypatch.setattr(runner, "run_task", no_measuring)
    second = runner.run_benchmark(resume=True, **settings)
    assert second.errors == []
    assert second.settings["reused_measurements"] == 5
    assert second.grid == first.grid
    assert "5 measurements reused" in report.format_settings(second)
    with pytest.raises(AssertionError, match="measured again"):
        runner.run_benchmark(**dict(settings, ns=[32]), resume=True)
