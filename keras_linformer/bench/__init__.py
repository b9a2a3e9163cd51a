"""Benchmarks: Linformer vs standard attention, next to the paper's Table 3.

    from keras_linformer.bench import run_benchmark
    result = run_benchmark(ns=[512, 1024], num_layers=1)
    print(format_report(result))

From the command line: `keras-linformer bench [--long] [--efficiency]`, or
`python -m keras_linformer.bench`. The measurements run in subprocesses
(`keras_linformer.bench.worker`), one per configuration.
"""

from keras_linformer.bench.cli import add_bench_arguments
from keras_linformer.bench.cli import main
from keras_linformer.bench.cli import run_bench_command
from keras_linformer.bench.flops import linformer_attention_flops
from keras_linformer.bench.flops import standard_attention_flops
from keras_linformer.bench.paper import PAPER_MEMORY_RATIO
from keras_linformer.bench.paper import PAPER_TIME_RATIO
from keras_linformer.bench.report import format_report
from keras_linformer.bench.report import write_outputs
from keras_linformer.bench.runner import BenchmarkResult
from keras_linformer.bench.runner import run_benchmark

__all__ = [
    "BenchmarkResult",
    "PAPER_MEMORY_RATIO",
    "PAPER_TIME_RATIO",
    "add_bench_arguments",
    "format_report",
    "linformer_attention_flops",
    "main",
    "run_bench_command",
    "run_benchmark",
    "standard_attention_flops",
    "write_outputs",
]
