"""Benchmarks of keras_linformer, run from a clone of the repository.

Not part of the installed package (which never imports this folder): run
them from the repository root as modules, `python -m benchmarks.<name>`.
benchmarks/README.md lists them; results/README.md lists the results they
measured.

- `python -m benchmarks.attention`: Linformer vs standard attention next to
  the paper's Table 3 (`--long`, `--efficiency`). Its parts: `runner`
  (`run_benchmark`, one subprocess per measurement: `python -m
  benchmarks.worker`), `worker`, `backends`, `memory`, `flops` (the FLOP
  model), `paper` (Table 3) and `report` (tables, CSV, JSON, plot).
- `python -m benchmarks.length_buckets`: fine-tuning throughput with and
  without length buckets.
- `python -m benchmarks.long_documents`: the training step at n = 4096
  and 16384 (the Long Range Arena Text model), weighed over an epoch.
- `python -m benchmarks.sliding_max`: `sliding_max`'s gather and table,
  side by side at every batch length.
- `python -m benchmarks.allocator`: the training step with glibc's
  allocator and with a preloaded one (tcmalloc).
- `python -m benchmarks.serving_latency`: latency and throughput of text
  exports on TF Serving's execution path.
- `python -m benchmarks.bfloat16_memory`: where the memory goes under
  `mixed_bfloat16`, part by part.
- `python -m benchmarks.replicas`: training throughput on 1, 2, ...
  replicas.

As a library:

    from benchmarks.report import format_report
    from benchmarks.runner import run_benchmark

    print(format_report(run_benchmark(ns=[512, 1024], num_layers=1)))
"""

import importlib.util
import os

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_example(name):
    """The module of `examples/{name}.py` (the examples are scripts, not a
    package)."""
    path = os.path.join(REPOSITORY_ROOT, "examples", name + ".py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The IMDB training reviews, where the examples look for their data
# ($KERAS_LINFORMER_DATA, else data/ in the repository).
IMDB_TRAIN = os.path.join(
    load_example("reproduce_common").DEFAULT_DATA_DIR,
    "imdb",
    "imdb_train.jsonl",
)
