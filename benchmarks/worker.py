"""Measurements that run inside one (sub)process.

`python -m benchmarks.worker TASK.json RESULT.json` runs one task and
writes its result; the parent (`benchmarks.runner`) starts one such process
per configuration, so that each has its own memory
high-water mark and no allocator state leaks between configurations.

Tasks (a dict, `"task"` says which):

- `"models"`: build backbones of one sequence length n (a
  `LinformerBackbone` with layerwise sharing and the projection of
  `task["projection"]` (the backbone's default where it has none), and/or
  keras_hub's `RobertaBackbone` of the same size); measure one model's peak
  activation memory for a forward pass, and/or time several, repeats
  interleaved so that load from other processes hits all alike.
- `"efficiency"`: one `LinformerAttention` layer and a plain matmul of the
  same size, timed interleaved, with the FLOPs the layer's graph runs.
- `"long_documents"`: one cell of `benchmarks.long_documents`, the LRA Text
  classifier's training step at each bucket length of n, and its peak.
"""

import json
import os
import platform
import resource
import statistics
import sys
import time

from benchmarks import backends
from benchmarks import flops as flops_lib
from benchmarks import memory as memory_lib
from keras_linformer.projections import DEFAULT_PROJECTION

SHORT_WARMUP_LENGTH = 16


def load_average():
    """The 1, 5 and 15 minute load averages (2 decimals), or None."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def build_backbone(kind, task, projected_dim=None):
    """A `LinformerBackbone` (`kind="linformer"`) or `RobertaBackbone`."""
    common = dict(
        vocabulary_size=task["vocabulary_size"],
        num_layers=task["num_layers"],
        num_heads=task["num_heads"],
        hidden_dim=task["hidden_dim"],
        intermediate_dim=task["intermediate_dim"],
        max_sequence_length=task["n"],
        dropout=task["dropout"],
        dtype=task["dtype"],
    )
    if kind == "linformer":
        from keras_linformer.models import LinformerBackbone

        return LinformerBackbone(
            projected_dim=projected_dim,
            projection=task.get("projection", DEFAULT_PROJECTION),
            sharing="layerwise",
            **common,
        )
    if kind == "standard":
        import keras_hub

        return keras_hub.models.RobertaBackbone(**common)
    raise ValueError(f"Unknown model kind {kind!r}")


def _model_labels(task):
    labels = []
    for spec in task["models"]:
        if spec["kind"] == "linformer":
            labels.append(f"linformer_k{spec['k']}")
        else:
            labels.append("standard")
    return labels


def _interleaved_times(calls, inputs, sync, warmup, repeats):
    """`{label: [seconds]}` of `repeats` calls each, after `warmup`
    untimed ones; repeats interleaved and the order alternated, so that
    load from other processes hits every model alike."""
    labels = list(calls)
    for _ in range(warmup):
        for label in labels:
            sync(calls[label](inputs))
    times = {label: [] for label in labels}
    for repeat in range(repeats):
        for label in labels if repeat % 2 == 0 else labels[::-1]:
            start = time.perf_counter()
            sync(calls[label](inputs))
            times[label].append(time.perf_counter() - start)
    return times


def run_models(task):
    """Memory and/or time of the backbones in `task["models"]` at one n.

    All models are built and traced on a short input first. Then
    `task["memory_models"]` (labels) each get one measured full-length
    forward pass. With the `"rss"` method only one model can be measured
    per process, and before any other full-length run (see
    `benchmarks.memory`); the allocator peak (GPU, or
    `memory_method="allocator"`) is exact for any number of models. Then,
    with `task["measure_time"]`, every model is timed, repeats interleaved
    and the order alternated, so that load from other processes hits all
    of them alike; with `task["measure_training"]`, so are their training
    steps.
    """
    import keras

    backend = backends.current()
    keras.utils.set_random_seed(task.get("seed", 0))
    on_gpu = backend.has_gpu()
    labels = _model_labels(task)
    memory_labels = list(task.get("memory_models", []))
    measure_time = task.get("measure_time", True)
    method = "allocator" if on_gpu else task.get("memory_method", "rss")
    if method == "rss" and len(memory_labels) > 1:
        raise ValueError(
            "Resident-memory growth is valid for one model per process; "
            f"received memory_models={memory_labels}."
        )
    unknown = set(memory_labels) - set(labels)
    if unknown:
        raise ValueError(f"memory_models {sorted(unknown)} not in {labels}")
    n, batch_size = task["n"], task["batch_size"]
    result = {
        "n": n,
        "batch_size": batch_size,
        "load_before": load_average(),
        "models": {label: {} for label in labels},
    }
    started = time.perf_counter()
    models, forwards = {}, {}
    for label, spec in zip(labels, task["models"]):
        models[label] = build_backbone(spec["kind"], task, spec.get("k"))
        forwards[label] = backend.forward(
            models[label], batch_size, task["jit_compile"]
        )
        result["models"][label]["parameters"] = int(
            models[label].count_params()
        )
    full = backend.inputs(task, n)
    short = backend.inputs(task, min(n, SHORT_WARMUP_LENGTH))
    sync = backend.sync
    if memory_labels or measure_time:  # a training-only run needs no trace
        for label in labels:
            sync(forwards[label](short))  # traces, starts the runtime
    for label in memory_labels:
        meter = memory_lib.PeakMeter(backend.allocator())
        meter.start()
        sync(forwards[label](full))
        measured = meter.stop()
        used = method if measured[f"{method}_bytes"] is not None else "rss"
        measured["memory_bytes"] = measured[f"{used}_bytes"]
        measured["memory_method"] = used
        result["models"][label].update(measured)
    if measure_time:
        times = _interleaved_times(
            forwards, full, sync, max(task["warmup"], 1), task["repeats"]
        )
        for label in labels:
            result["models"][label].update(
                {
                    "times_s": times[label],
                    "time_s": statistics.median(times[label]),
                    "time_min_s": min(times[label]),
                }
            )
    if task.get("measure_training"):
        steps = {
            label: backend.train_step(
                models[label], batch_size, task["jit_compile"]
            )
            for label in labels
        }
        # One untimed step each: traces, and builds the optimizer's slots.
        times = _interleaved_times(steps, full, sync, 1, task["repeats"])
        for label in labels:
            result["models"][label].update(
                {
                    "train_times_s": times[label],
                    "train_time_s": statistics.median(times[label]),
                }
            )
    result["load_after"] = load_average()
    result["wall_s"] = time.perf_counter() - started
    result["device"] = "GPU" if on_gpu else "CPU"
    result["backend"] = backend.name
    return result


def run_efficiency(task):
    """Achieved FLOP/s of one `LinformerAttention` vs a plain matmul, on
    the backend Keras runs on."""
    import keras
    from keras import ops

    from keras_linformer.layers import LinformerAttention
    from keras_linformer.layers import SequenceProjection

    backend = backends.current()
    keras.utils.set_random_seed(task.get("seed", 0))
    n, k, b = task["n"], task["k"], task["batch_size"]
    d, h = task["hidden_dim"], task["num_heads"]
    dtype = task["dtype"]
    key_dim = d // h
    # The paper's linear E, as the analytic count below assumes.
    shared = SequenceProjection(
        n, k, projection="linear", dtype=dtype, name="shared_projection"
    )
    layer = LinformerAttention(
        num_heads=h,
        key_dim=key_dim,
        sequence_length=n,
        projected_dim=k,
        projection="linear",
        sharing="layerwise",
        shared_projection=shared,
        dtype=dtype,
    )
    compute_dtype = layer.dtype_policy.compute_dtype
    x = ops.cast(keras.random.normal((b, n, d), seed=1), compute_dtype)
    mask = ops.ones((b, n), "int32")
    layer(x, padding_mask=mask)
    weight = ops.cast(
        keras.random.normal((d, d), seed=2) / d**0.5, compute_dtype
    )
    x2d = ops.reshape(x, (b * n, d))
    jit = task["jit_compile"]
    attention = backend.compile(
        lambda x, mask: layer(x, padding_mask=mask, training=False), jit
    )
    matmul = backend.compile(lambda a: ops.matmul(a, weight), jit)
    sync = backend.sync

    analytic = flops_lib.linformer_attention_flops(b, n, d, h, key_dim, k)
    matmul_flops = flops_lib.matmul_flops(b * n, d, d)
    runs = {
        "attention": lambda: attention(x, mask),
        "matmul": lambda: matmul(x2d),
    }
    for _ in range(max(task["warmup"], 1) + 1):
        for fn in runs.values():
            sync(fn())
    times = {name: [] for name in runs}
    load_before = load_average()
    started = time.perf_counter()
    for repeat in range(task["repeats"]):
        names = list(runs) if repeat % 2 == 0 else list(runs)[::-1]
        for name in names:
            t0 = time.perf_counter()
            sync(runs[name]())
            times[name].append(time.perf_counter() - t0)
    attention_time = statistics.median(times["attention"])
    matmul_time = statistics.median(times["matmul"])
    attention_flops = analytic["total"]
    result = {
        "n": n,
        "k": k,
        "batch_size": b,
        "attention_flops": int(attention_flops),
        "attention_flops_analytic": {
            key: int(v) for key, v in analytic.items()
        },
        "attention_time_s": attention_time,
        "attention_times_s": times["attention"],
        "attention_flops_per_s": attention_flops / attention_time,
        "matmul_shape": [b * n, d, d],
        "matmul_flops": int(matmul_flops),
        "matmul_time_s": matmul_time,
        "matmul_times_s": times["matmul"],
        "matmul_flops_per_s": matmul_flops / matmul_time,
        "load_before": load_before,
    }
    result["efficiency"] = (
        result["attention_flops_per_s"] / result["matmul_flops_per_s"]
    )
    if task.get("breakdown", True):
        result["breakdown_s"] = _attention_breakdown(
            backend, layer, x, mask, task["repeats"], jit
        )
    result["load_after"] = load_average()
    result["wall_s"] = time.perf_counter() - started
    result["device"] = "GPU" if backend.has_gpu() else "CPU"
    result["backend"] = backend.name
    return result


def _attention_breakdown(backend, layer, x, mask, repeats, jit_compile):
    """Median time of each step of the projection-first path, each its own
    compiled function (so they add up to a bit more than the whole)."""
    import keras
    from keras import ops

    try:
        projection = layer.key_projection
        projected, _ = projection(x, padding_mask=mask)
        query = layer.query_dense(x)
        keys = layer.key_dense(projected)
        values = layer.value_dense(projected)
        # The layer's order (query first: a batched matmul straight into
        # (b, h, t, k), no transposed copy of the scores).
        scores = ops.einsum("bthd,bkhd->bhtk", query, keys)
        weights = ops.softmax(scores, axis=-1)
        context = ops.einsum("bhtk,bkhd->bthd", weights, values)
    except Exception as error:  # the layer's internals changed
        return {"error": repr(error)}
    steps = {
        "query_dense": (lambda x: layer.query_dense(x), (x,)),
        "projection E^T X": (
            lambda x, m: projection(x, padding_mask=m)[0],
            (x, mask),
        ),
        "key+value dense (k rows)": (
            lambda p: (layer.key_dense(p), layer.value_dense(p)),
            (projected,),
        ),
        "scores einsum": (
            lambda q, a: ops.einsum("bthd,bkhd->bhtk", q, a),
            (query, keys),
        ),
        "scores einsum key-first (old order)": (
            lambda a, q: ops.einsum("bkhd,bthd->bhtk", a, q),
            (keys, query),
        ),
        "softmax": (lambda s: ops.softmax(s, axis=-1), (scores,)),
        "context einsum": (
            lambda w, v: ops.einsum("bhtk,bkhd->bthd", w, v),
            (weights, values),
        ),
        "output_dense": (lambda c: layer.output_dense(c), (context,)),
    }
    timings = {}
    for name, (fn, args) in steps.items():
        compiled = backend.compile(fn, jit_compile)
        backend.sync(keras.tree.flatten(compiled(*args))[0])
        samples = []
        for _ in range(max(repeats, 3)):
            t0 = time.perf_counter()
            backend.sync(keras.tree.flatten(compiled(*args))[0])
            samples.append(time.perf_counter() - t0)
        timings[name] = statistics.median(samples)
    return timings


PROGRESS = "long_documents: timing batch length"
# After each length: its step time and the process's resident peak so far,
# so a cell killed for memory still tells how much the longest length that
# fitted took.
DONE = "long_documents: timed batch length"


def run_long_documents(task):
    """A cell of `benchmarks.long_documents`: one byte-level text classifier
    (the LRA Text model) at n; the training step time at each bucket length
    and the peak memory across them."""
    import keras
    import numpy as np

    from keras_linformer.models import LinformerByteTokenizer
    from keras_linformer.models import task_classes
    from keras_linformer.training import ModelConfig
    from keras_linformer.training.recipes import make_optimizer

    keras.utils.set_random_seed(0)
    config = ModelConfig(**task["model"])
    tokenizer = LinformerByteTokenizer()
    backbone = config.build_backbone(tokenizer.vocabulary_size())
    classifier = task_classes(type(backbone)).text_classifier(
        backbone, num_classes=2
    )
    classifier.compile(
        optimizer=make_optimizer(
            task["learning_rate"], task["steps"], task["warmup_steps"]
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(0)
    batch_size = task["batch_size"]

    def step(length):
        x = {
            "token_ids": rng.integers(
                5, tokenizer.vocabulary_size(), (batch_size, length)
            ).astype("int32"),
            "padding_mask": np.ones((batch_size, length), "int32"),
        }
        y = rng.integers(0, 2, (batch_size,)).astype("int32")
        start = time.perf_counter()
        classifier.train_on_batch(x, y)
        return time.perf_counter() - start

    lengths = [int(length) for length in task["lengths"]]
    step(lengths[0])  # traces, builds the optimizer's slots
    meter = memory_lib.PeakMeter(backends.current().allocator())
    meter.start()
    times = {}
    for length in lengths:
        # Where a cell killed for memory got to (the runner keeps the tail).
        print(f"{PROGRESS} {length}", file=sys.stderr, flush=True)
        step(length)  # traces this length's shape
        times[length] = statistics.median(
            step(length) for _ in range(task["repeats"])
        )
        print(
            f"{DONE} {length}: step {times[length]:.2f} s, resident peak "
            f"{memory_lib.hwm_bytes() / 2**30:.1f} GiB",
            file=sys.stderr,
            flush=True,
        )
    measured = meter.stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    method = "allocator" if measured["allocator_bytes"] is not None else "rss"
    # Zero growth past the first step (a tiny model, whose steps fit in
    # what the first took) hides the peak; it does not measure a zero.
    memory = measured[f"{method}_bytes"] or None
    return {
        "step_s": {str(length): t for length, t in times.items()},
        "memory_bytes": memory,
        "memory_method": method,
        "parameters": int(classifier.count_params()),
        # The whole process (start, trace, steps): user and kernel time.
        "cpu_user_s": usage.ru_utime,
        "cpu_system_s": usage.ru_stime,
    }


TASKS = {
    "models": run_models,
    "efficiency": run_efficiency,
    "long_documents": run_long_documents,
}


def run_task(task):
    """Runs one task dict in this process and returns its result dict."""
    result = TASKS[task["task"]](task)
    result["python"] = platform.python_version()
    return result


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    task_path, result_path = argv
    with open(task_path) as f:
        task = json.load(f)
    result = run_task(task)
    with open(result_path, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
