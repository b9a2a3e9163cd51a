"""Runs the benchmark: one subprocess per measurement, results collected.

`run_benchmark(...)` is the entry point; it returns a `BenchmarkResult`
whose `.to_dict()` is what `--json` writes.
"""

import dataclasses
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import keras_linformer
from benchmarks import REPOSITORY_ROOT
from benchmarks import backends
from benchmarks import flops as flops_lib
from benchmarks import paper
from benchmarks import worker as worker_lib
from benchmarks.measurements import MeasurementLog
from keras_linformer.projections import DEFAULT_PROJECTION
from keras_linformer.projections import projection_kind

BASE_WIDTHS = {"hidden_dim": 768, "num_heads": 12, "intermediate_dim": 3072}
BASE_NUM_LAYERS = 12
CPU_NUM_LAYERS = 1


@dataclasses.dataclass
class BenchmarkResult:
    """What one benchmark run measured.

    Attributes:
        settings: the options the run used (widths, layers, batch, ...).
        machine: host, CPU, memory, device, load before and after.
        grid: one dict per (n, k) cell: times, memories, ratios and the
            paper's ratios beside them.
        long: one dict per n of `--long` (Linformer alone).
        efficiency: one dict per n of `--efficiency`.
        errors: measurements that failed, with their error text.
    """

    settings: dict
    machine: dict
    grid: list = dataclasses.field(default_factory=list)
    long: list = dataclasses.field(default_factory=list)
    efficiency: list = dataclasses.field(default_factory=list)
    errors: list = dataclasses.field(default_factory=list)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        return cls(**data)


def _has_gpu():
    """Whether the Keras backend sees a GPU."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            # The first device query creates JAX's client: keep it from
            # taking most of the GPU before the workers start.
            os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
            import jax

            return jax.default_backend() == "gpu"
        if backend == "torch":
            import torch

            return torch.cuda.is_available()
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    except Exception:  # the backend is missing: the workers will say so
        return False


def machine_info():
    """Host description for the report."""
    info = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu_model": None,
        "memory_gib": None,
        "keras_linformer": keras_linformer.__version__,
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
                    break
    except OSError:
        pass
    from importlib import metadata

    import keras

    info["keras_backend"] = keras.backend.backend()
    for package in ("tensorflow", "keras", "keras-hub", "jax", "torch"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass  # not installed: the report says nothing of it
    return info


def _child_env():
    import keras

    env = dict(os.environ)
    # The workers run on this process's Keras backend.
    env["KERAS_BACKEND"] = keras.backend.backend()
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # JAX would reserve most of the GPU at start; its allocator's peak is
    # what is measured.
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    # `benchmarks` and the package as imported here (also when run from a
    # source tree without installing it).
    package_root = os.path.dirname(
        os.path.dirname(os.path.abspath(keras_linformer.__file__))
    )
    paths = [REPOSITORY_ROOT, package_root, env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in paths if p))
    return env


def run_task(task, isolate=True, timeout=None, env=None):
    """Runs one worker task, in a fresh subprocess unless `isolate=False`
    (`env`: variables set for that subprocess, e.g. `LD_PRELOAD`).

    Returns the worker's result dict, or `{"error": text}` if it failed
    (out of memory, timeout, an exception).
    """
    if not isolate:
        try:
            return worker_lib.run_task(task)
        except Exception as error:
            return {"error": f"{type(error).__name__}: {error}"}
    with tempfile.TemporaryDirectory(prefix="kl-bench-") as tmp:
        task_path = os.path.join(tmp, "task.json")
        result_path = os.path.join(tmp, "result.json")
        with open(task_path, "w") as f:
            json.dump(task, f)
        command = [
            sys.executable,
            "-m",
            "benchmarks.worker",
            task_path,
            result_path,
        ]
        try:
            process = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**_child_env(), **(env or {})},
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout} s"}
        if process.returncode != 0 or not os.path.exists(result_path):
            tail = "\n".join(process.stderr.strip().splitlines()[-5:])
            reason = (
                "killed (out of memory?)"
                if process.returncode in (-9, 137)
                else f"exit status {process.returncode}"
            )
            return {"error": f"{reason}: {tail}"}
        with open(result_path) as f:
            return json.load(f)


def _backend_name():
    import keras

    return keras.backend.backend()


def _ratio(numerator, denominator):
    if not numerator or not denominator:
        return None
    return numerator / denominator


def _log(verbose, message):
    if verbose:
        print(message, file=sys.stderr, flush=True)


def _parse_grid(ns, ks):
    """(n, k) cells: the paper's where neither is given, else the product
    of `ns` and `ks` (k <= n), `ks` defaulting to the paper's row for n."""
    if ns is None and ks is None:
        return paper.paper_grid()
    ns = list(ns) if ns is not None else list(paper.PAPER_NS)
    cells = []
    for n in ns:
        row_ks = (
            ks if ks is not None else paper.PAPER_TIME_RATIO.get(n, {128: None})
        )
        cells += [(n, k) for k in row_ks if k <= n]
    return cells


def run_benchmark(
    ns=None,
    ks=None,
    grid=True,
    long=False,
    efficiency=False,
    long_ns=paper.LONG_NS,
    long_k=256,
    efficiency_ns=(1024, 2048, 4096, 8192),
    efficiency_k=256,
    batch_size=1,
    repeats=5,
    warmup=1,
    num_layers=None,
    hidden_dim=BASE_WIDTHS["hidden_dim"],
    num_heads=BASE_WIDTHS["num_heads"],
    intermediate_dim=BASE_WIDTHS["intermediate_dim"],
    vocabulary_size=8192,
    dropout=0.1,
    dtype="float32",
    jit_compile=False,
    bound=True,
    training=False,
    memory_method="allocator",
    memory_runs=3,
    isolate=True,
    timeout=3600,
    seed=0,
    verbose=True,
    projection=DEFAULT_PROJECTION,
    measurements_path=None,
    resume=False,
):
    """Linformer vs standard attention: the paper's Table 3, and more.

    For each (n, k) cell, a `LinformerBackbone` (layerwise sharing, E of
    kind `projection`) and a
    keras_hub `RobertaBackbone` of the same size (layers, width, heads,
    feed-forward size) run a forward pass on the same inputs
    (`batch_size` sequences of n random tokens, no padding) as a compiled
    `tf.function` with a fixed input signature.

    - Memory: each model of each cell in its own subprocess, `memory_runs`
      times: the peak activation memory of one forward pass (see
      `benchmarks.memory`), by the backend's allocator and by
      resident-set growth, each as the median and spread of the runs.
    - Time: for each n, one subprocess holds the standard model and the
      Linformer of every k and times `repeats` forward passes of each, after
      `warmup` ones, interleaved; the median is reported.

    Args:
        ns, ks: the grid; `None` for the paper's (n = 512 ... 8192 with the
            k's of Table 3). With `ns` only, each n takes the paper's k's;
            with `ks`, every k <= n of each n.
        grid: whether to run the grid.
        long: also run Linformer alone at `long_ns` with k = `long_k`, and
            report time and memory per token.
        efficiency: also measure the attention layer's FLOP/s against a
            plain matmul of the same size, at `efficiency_ns`, k =
            `efficiency_k`.
        batch_size, repeats, warmup: of every timed forward pass.
        num_layers: encoder layers of both models; `None` for 12 (base) on
            a GPU and 1 on CPU (the ratios are per layer).
        hidden_dim, num_heads, intermediate_dim: widths; base by default.
        vocabulary_size: token vocabulary (only the embedding table's size).
        dropout: of both models (inactive: inference).
        dtype: a Keras dtype policy name, e.g. `"float32"`,
            `"mixed_bfloat16"`.
        jit_compile: compile with XLA (`tf.function(jit_compile=True)`).
        bound: also time a Linformer with k = 1 in each row's timing
            process: no k can make Linformer faster than that on this
            machine, so each cell is also reported as a fraction of it
            (`fraction_of_bound`).
        training: also time a training step (forward, backward, AdamW
            update on a squared-output loss) of every model of the grid.
        memory_method: the primary memory figure: `"allocator"` (the
            backend's allocator peak, default; resident-set growth where a
            backend has no allocator measure on this device, as JAX and
            torch on CPU) or `"rss"` (resident-set growth). Both are
            recorded either way.
        memory_runs: processes measuring each model's memory (median and
            spread; the allocator peak moves a few percent between runs
            with TensorFlow's executor order).
        isolate: run each measurement in a subprocess (needed for valid
            memory numbers; `False` only to debug).
        timeout: seconds allowed to each subprocess.
        seed: of weights and inputs.
        verbose: print progress to stderr.
        projection: the kind of E of the Linformer of the grid and of
            `long` (`keras_linformer.projections`): the backbone's default
            (`"sliding_max"`) unless given; `"linear"` is the paper's (its
            Table 3), projected before the key and value dense layers, where
            `"sliding_max"` and `"max"` run those layers on all n rows
            first. `efficiency` always measures the linear kind.
        measurements_path: a JSON-lines file where each measurement is
            written as it finishes (`benchmarks.measurements`), so that a
            run stopped part way keeps what it measured; `None` for none.
        resume: reuse the measurements already in `measurements_path` that
            match a task exactly (same settings, backend and device), and
            measure only the rest.

    Returns:
        A `BenchmarkResult`.
    """
    projection_kind(projection)  # raises on an unknown kind
    if not isinstance(memory_runs, int) or memory_runs < 1:
        raise ValueError(
            "`memory_runs` must be an integer >= 1 (processes measuring each "
            f"model's memory). Received: memory_runs={memory_runs!r}"
        )
    started = time.time()
    gpu = _has_gpu()
    layers_note = "given"
    if num_layers is None:
        num_layers = BASE_NUM_LAYERS if gpu else CPU_NUM_LAYERS
        layers_note = (
            "default: base on GPU"
            if gpu
            else "default on CPU (base is 12; the ratios are per layer)"
        )
    if (
        memory_method == "allocator"
        and not gpu
        and not backends.has_allocator_statistics(backends.current())
    ):
        # Label the figures by what is measured: resident-set growth where
        # this processor gives no allocator statistics.
        memory_method = "rss"
    settings = {
        "num_layers": num_layers,
        "num_layers_note": layers_note,
        "hidden_dim": hidden_dim,
        "num_heads": num_heads,
        "intermediate_dim": intermediate_dim,
        "vocabulary_size": vocabulary_size,
        "batch_size": batch_size,
        "repeats": repeats,
        "warmup": warmup,
        "dropout": dropout,
        "dtype": dtype,
        "jit_compile": jit_compile,
        "bound": bound,
        "training": training,
        "memory_method": "allocator" if gpu else memory_method,
        "memory_runs": memory_runs,
        "device": "GPU" if gpu else "CPU",
        "projection": projection,
        "linformer": "LinformerBackbone(sharing='layerwise', "
        f"projection={projection!r})",
        "standard": "keras_hub.models.RobertaBackbone",
        "backend": _backend_name(),
        "timing": "median of repeats of a compiled forward pass "
        "(tf.function, jax.jit; eager under torch.no_grad)",
        "isolate": isolate,
        "started": datetime.datetime.fromtimestamp(started).isoformat(
            timespec="seconds"
        ),
    }
    machine = machine_info()
    machine["load_start"] = worker_lib.load_average()
    result = BenchmarkResult(settings=settings, machine=machine)
    base_task = {
        "batch_size": batch_size,
        "num_layers": num_layers,
        "hidden_dim": hidden_dim,
        "num_heads": num_heads,
        "intermediate_dim": intermediate_dim,
        "vocabulary_size": vocabulary_size,
        "dropout": dropout,
        "dtype": dtype,
        "jit_compile": jit_compile,
        "memory_method": settings["memory_method"],
        "warmup": warmup,
        "repeats": repeats,
        "seed": seed,
        "projection": projection,
    }

    def task_for(n, models, memory_models, measure_time, training=False):
        return dict(
            base_task,
            task="models",
            n=n,
            models=models,
            memory_models=memory_models,
            measure_time=measure_time,
            measure_training=training,
        )

    log = None
    if measurements_path:
        log = MeasurementLog(
            measurements_path,
            resume=resume,
            context={
                "backend": settings["backend"],
                "device": settings["device"],
            },
        )

    def run(task, what):
        saved = log.get(task) if log else None
        if saved is not None:
            _log(verbose, f"[bench] {what}: measured before, reused")
            return saved
        _log(verbose, f"[bench] {what} ...")
        t0 = time.time()
        out = run_task(task, isolate=isolate, timeout=timeout)
        if "error" in out:
            result.errors.append({"what": what, "error": out["error"]})
            _log(verbose, f"[bench] {what}: FAILED {out['error']}")
        else:
            _log(verbose, f"[bench] {what}: done in {time.time() - t0:.0f} s")
            if log:
                log.add(task, out)
        return out

    if grid:
        cells = _parse_grid(ns, ks)
        by_n = {}
        for n, k in cells:
            by_n.setdefault(n, []).append(k)
        for n, row_ks in by_n.items():
            result.grid += _measure_row(
                n, row_ks, task_for, run, memory_runs, bound, training
            )
    if long:
        result.long = _measure_long(long_ns, long_k, batch_size, task_for, run)
    if efficiency:
        for n in efficiency_ns:
            task = dict(base_task, task="efficiency", n=n, k=efficiency_k)
            out = run(task, f"efficiency n={n} k={efficiency_k}")
            if "error" not in out:
                result.efficiency.append(out)
    finished = time.time()
    settings["finished"] = datetime.datetime.fromtimestamp(finished).isoformat(
        timespec="seconds"
    )
    settings["wall_s"] = round(finished - started, 1)
    settings["reused_measurements"] = log.reused if log else 0
    machine["load_end"] = worker_lib.load_average()
    return result


def _measure_memory(n, specs, task_for, run, runs):
    """`{label: record}`: each model's peak memory, one model a process
    (resident-set growth is valid only for a process's first full-length
    run, and JAX's allocator peak cannot be reset), `runs` times; the
    primary figure, the allocator peak and the resident-set growth each as
    the median of the runs, with the runs themselves beside it."""
    records = {}
    for label, spec in specs:
        measured = []
        for run_index in range(runs):
            out = run(
                task_for(n, [spec], [label], False),
                f"memory n={n} {label} ({run_index + 1}/{runs})",
            )
            model = out.get("models", {}).get(label)
            if model and model.get("memory_bytes") is not None:
                measured.append(model)
        record = {"memory_method": None}
        for key in ("memory_bytes", "allocator_bytes", "rss_bytes"):
            values = [m[key] for m in measured if m.get(key) is not None]
            record[key] = statistics.median(values) if values else None
            record[key.replace("_bytes", "_runs_bytes")] = values
        if measured:
            record["memory_method"] = measured[0]["memory_method"]
        records[label] = record
    return records


def _spread(values):
    return [min(values), max(values)] if values else None


def _measure_row(
    n, row_ks, task_for, run, memory_runs=3, bound=False, training=False
):
    """One row of the grid: the standard model and a Linformer per k.

    Memory comes from `_measure_memory`; one more subprocess times every
    model of the row (and the k = 1 bound) in turns, and with `training`
    another one times their training steps, so that a training step that
    runs out of memory costs only the training figures of its row (with
    both in one process, the n = 8192 row was killed on a 24 GiB machine).
    """
    specs = [("standard", {"kind": "standard"})] + [
        (f"linformer_k{k}", {"kind": "linformer", "k": k}) for k in row_ks
    ]
    all_specs = [spec for _, spec in specs]
    # Timed only: the k = 1 Linformer bounds every k's time ratio.
    timed_specs = all_specs + (
        [{"kind": "linformer", "k": 1}] if bound and 1 not in row_ks else []
    )
    memory = _measure_memory(n, specs, task_for, run, memory_runs)
    timing = run(
        task_for(n, timed_specs, [], True),
        f"time n={n} standard + k={row_ks}",
    )
    times = timing.get("models", {})
    if training:
        steps = run(
            task_for(n, all_specs, [], False, training=True),
            f"training steps n={n} standard + k={row_ks}",
        ).get("models", {})
        for label, step in steps.items():
            times.setdefault(label, {}).update(step)
    row_task = task_for(n, [], [], False)
    widths = timing_task_widths(row_task)
    projection = row_task["projection"]
    standard_time = times.get("standard", {}).get("time_s")
    standard_memory = memory["standard"].get("memory_bytes")
    bound_ratio = _ratio(
        standard_time, times.get("linformer_k1", {}).get("time_s")
    )
    standard_train = times.get("standard", {}).get("train_time_s")
    standard_flops = flops_lib.backbone_flops("standard", **widths)
    # The fraction of the bound a cell would reach if every op ran at the
    # same speed: the k-dependent work alone keeps large k far below it.
    bound_flops = flops_lib.backbone_flops(
        "linformer", k=1, projection=projection, **widths
    )
    rows = []
    for k in row_ks:
        label = f"linformer_k{k}"
        linformer_time = times.get(label, {}).get("time_s")
        linformer_memory = memory[label].get("memory_bytes")
        time_ratio = _ratio(standard_time, linformer_time)
        train_ratio = _ratio(
            standard_train, times.get(label, {}).get("train_time_s")
        )
        memory_ratio = _ratio(standard_memory, linformer_memory)
        allocator_ratio = _ratio(
            memory["standard"].get("allocator_bytes"),
            memory[label].get("allocator_bytes"),
        )
        rss_ratio = _ratio(
            memory["standard"].get("rss_bytes"),
            memory[label].get("rss_bytes"),
        )
        linformer_flops = flops_lib.backbone_flops(
            "linformer", k=k, projection=projection, **widths
        )
        paper_time = paper.paper_ratio(paper.PAPER_TIME_RATIO, n, k)
        paper_memory = paper.paper_ratio(paper.PAPER_MEMORY_RATIO, n, k)
        rows.append(
            {
                "n": n,
                "k": k,
                "linformer_time_s": linformer_time,
                "standard_time_s": standard_time,
                "linformer_time_min_s": times.get(label, {}).get("time_min_s"),
                "standard_time_min_s": times.get("standard", {}).get(
                    "time_min_s"
                ),
                "time_ratio": time_ratio,
                "paper_time_ratio": paper_time,
                "bound_time_ratio": bound_ratio,
                "fraction_of_bound": _ratio(time_ratio, bound_ratio),
                "flop_fraction_of_bound": bound_flops / linformer_flops,
                "linformer_train_time_s": times.get(label, {}).get(
                    "train_time_s"
                ),
                "standard_train_time_s": standard_train,
                "train_time_ratio": train_ratio,
                "linformer_memory_bytes": linformer_memory,
                "standard_memory_bytes": standard_memory,
                "linformer_memory_spread_bytes": _spread(
                    memory[label]["memory_runs_bytes"]
                ),
                "standard_memory_spread_bytes": _spread(
                    memory["standard"]["memory_runs_bytes"]
                ),
                "memory_ratio": memory_ratio,
                "paper_memory_ratio": paper_memory,
                "linformer_allocator_bytes": memory[label].get(
                    "allocator_bytes"
                ),
                "standard_allocator_bytes": memory["standard"].get(
                    "allocator_bytes"
                ),
                "allocator_memory_ratio": allocator_ratio,
                "linformer_rss_bytes": memory[label].get("rss_bytes"),
                "standard_rss_bytes": memory["standard"].get("rss_bytes"),
                "rss_memory_ratio": rss_ratio,
                "memory_method": memory[label].get("memory_method"),
                "linformer_times_s": times.get(label, {}).get("times_s"),
                "standard_times_s": times.get("standard", {}).get("times_s"),
                "linformer_flops": linformer_flops,
                "standard_flops": standard_flops,
                "flop_ratio": standard_flops / linformer_flops,
                "load_time": [
                    timing.get("load_before"),
                    timing.get("load_after"),
                ],
            }
        )
    return rows


def timing_task_widths(task):
    """The sizes of a task, as `flops.backbone_flops` takes them."""
    return {
        "batch_size": task["batch_size"],
        "length": task["n"],
        "hidden_dim": task["hidden_dim"],
        "num_heads": task["num_heads"],
        "intermediate_dim": task["intermediate_dim"],
        "num_layers": task["num_layers"],
    }


def _measure_long(long_ns, k, batch_size, task_for, run):
    rows = []
    for n in long_ns:
        spec = {"kind": "linformer", "k": k}
        label = f"linformer_k{k}"
        out = run(task_for(n, [spec], [label], True), f"long n={n} k={k}")
        model = out.get("models", {}).get(label)
        if not model:
            continue
        tokens = batch_size * n
        rows.append(
            {
                "n": n,
                "k": k,
                "time_s": model["time_s"],
                "time_min_s": model["time_min_s"],
                "times_s": model["times_s"],
                "time_per_token_us": model["time_s"] / tokens * 1e6,
                "memory_bytes": model["memory_bytes"],
                "memory_per_token_bytes": model["memory_bytes"] / tokens,
                "allocator_bytes": model.get("allocator_bytes"),
                "memory_method": model["memory_method"],
                "load": [out.get("load_before"), out.get("load_after")],
            }
        )
    return rows
