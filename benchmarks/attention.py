"""Linformer vs standard attention, next to the paper's Table 3.

From the repository root:

    python -m benchmarks.attention --num-layers 1        # the (n, k) grid
    python -m benchmarks.attention --projection linear   # the paper's E
    python -m benchmarks.attention --long --efficiency
    python -m benchmarks.attention --help

The measurements run in subprocesses (`benchmarks.runner`,
`benchmarks.worker`); the results go to `--output-dir`.
"""

import argparse
import json
import os
import sys

from benchmarks import paper
from keras_linformer.projections import DEFAULT_PROJECTION
from keras_linformer.projections import PROJECTIONS

PROG = "python -m benchmarks.attention"

DESCRIPTION = (
    "Linformer (layerwise sharing, the backbone's default projection "
    f"{DEFAULT_PROJECTION!r} unless --projection says otherwise; "
    "--projection linear is the paper's) vs a standard "
    "Transformer (keras_hub RobertaBackbone) of the same size: inference "
    "time and peak activation memory over the (n, k) grid of the paper's "
    "Table 3, with the paper's ratios beside ours; --long and --efficiency "
    "for linear scaling and attention FLOP/s."
)


def _int_list(text):
    try:
        return [int(x) for x in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas, received {text!r}"
        ) from None


def build_parser():
    """The benchmark's `argparse` parser."""
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION)
    what = parser.add_argument_group("what to run")
    what.add_argument(
        "--long",
        action="store_true",
        help="Linformer alone at n = "
        + ", ".join(map(str, paper.LONG_NS))
        + ": time and memory per token (linear growth).",
    )
    what.add_argument(
        "--efficiency",
        action="store_true",
        help="attention layer FLOP/s vs a plain matmul of the same size.",
    )
    what.add_argument(
        "--grid",
        action="store_true",
        help="also run the (n, k) grid with --long/--efficiency (the grid "
        "runs by default when neither is given).",
    )
    what.add_argument(
        "--ns",
        type=_int_list,
        default=None,
        help="sequence lengths of the grid, e.g. 512,1024 (default: the "
        "paper's 512..8192).",
    )
    what.add_argument(
        "--ks",
        type=_int_list,
        default=None,
        help="projected dimensions (default: the paper's k's for each n).",
    )
    what.add_argument(
        "--long-ns",
        type=_int_list,
        default=list(paper.LONG_NS),
        help="n of --long.",
    )
    what.add_argument("--long-k", type=int, default=256, help="k of --long.")
    what.add_argument(
        "--efficiency-ns",
        type=_int_list,
        default=[1024, 2048, 4096, 8192],
        help="n of --efficiency.",
    )
    what.add_argument(
        "--efficiency-k", type=int, default=256, help="k of --efficiency."
    )
    model = parser.add_argument_group("model (base widths by default)")
    model.add_argument(
        "--num-layers",
        type=int,
        default=None,
        help="encoder layers of both models (default: 12 on a GPU, 1 on "
        "CPU; the ratios are per layer).",
    )
    model.add_argument(
        "--projection",
        choices=PROJECTIONS,
        default=DEFAULT_PROJECTION,
        help="E of the Linformer of the grid and of --long (default: "
        "%(default)s, the backbone's; 'linear' is the paper's E of Table 3, "
        "projected before the key and value dense layers, where "
        "'sliding_max' and 'max' run those layers on all n rows first). "
        "--efficiency always measures the linear E.",
    )
    model.add_argument("--hidden-dim", type=int, default=768)
    model.add_argument("--num-heads", type=int, default=12)
    model.add_argument("--intermediate-dim", type=int, default=3072)
    model.add_argument("--vocabulary-size", type=int, default=8192)
    model.add_argument(
        "--dropout",
        type=float,
        default=0.1,
        help="of both models (inactive at inference; default: both "
        "libraries' default).",
    )
    model.add_argument(
        "--dtype",
        default="float32",
        help="Keras dtype policy: float32, bfloat16, mixed_bfloat16, ...",
    )
    run = parser.add_argument_group("measurement")
    run.add_argument("--batch-size", type=int, default=1)
    run.add_argument(
        "--repeats", type=int, default=5, help="timed forward passes (median)."
    )
    run.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed full-length passes first.",
    )
    run.add_argument(
        "--no-bound",
        action="store_true",
        help="skip the k = 1 Linformer timed beside each row of the grid "
        "(the bound on any k's time ratio with this feed-forward).",
    )
    run.add_argument(
        "--training",
        action="store_true",
        help="also time a training step (forward, backward, AdamW update) "
        "of every model of the grid.",
    )
    run.add_argument(
        "--jit-compile",
        action="store_true",
        help="compile the forward pass with XLA (both models).",
    )
    run.add_argument(
        "--memory-method",
        choices=("rss", "allocator"),
        default="allocator",
        help="the primary memory figure: the backend allocator's peak "
        "(default; resident-set growth where the backend has none on this "
        "device) or resident-set growth. Both are recorded.",
    )
    run.add_argument(
        "--memory-runs",
        type=int,
        default=3,
        help="processes measuring each model's peak memory (median and "
        "spread).",
    )
    run.add_argument(
        "--timeout",
        type=float,
        default=3600,
        help="seconds allowed to each measurement subprocess.",
    )
    run.add_argument(
        "--no-isolate",
        action="store_true",
        help="measure in this process (debugging; memory is then not valid).",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--output-dir",
        default="bench_results",
        help="where results.json, grid.csv, long.csv, efficiency.csv and "
        "bench.png go.",
    )
    out.add_argument(
        "--json",
        action="store_true",
        help="print the result as JSON on stdout instead of the tables.",
    )
    out.add_argument(
        "--resume",
        action="store_true",
        help="reuse the measurements of an earlier run into the same "
        "--output-dir (its measurements.jsonl, written as each one "
        "finishes) that match exactly, and measure only the rest.",
    )
    out.add_argument("--no-plot", action="store_true", help="skip the PNG.")
    out.add_argument("--quiet", action="store_true", help="no progress lines.")
    return parser


def command_line(argv):
    """The command as typed, for the results."""
    return " ".join([PROG, *argv])


def run(args, argv):
    """Runs the benchmark for `args` (parsed from `argv`, which the results
    record as the command); returns an exit status."""
    from benchmarks import report
    from benchmarks import runner

    grid = args.grid or not (args.long or args.efficiency)
    result = runner.run_benchmark(
        ns=args.ns,
        ks=args.ks,
        grid=grid,
        long=args.long,
        efficiency=args.efficiency,
        long_ns=args.long_ns,
        long_k=args.long_k,
        efficiency_ns=args.efficiency_ns,
        efficiency_k=args.efficiency_k,
        batch_size=args.batch_size,
        repeats=args.repeats,
        warmup=args.warmup,
        num_layers=args.num_layers,
        hidden_dim=args.hidden_dim,
        num_heads=args.num_heads,
        intermediate_dim=args.intermediate_dim,
        vocabulary_size=args.vocabulary_size,
        dropout=args.dropout,
        dtype=args.dtype,
        jit_compile=args.jit_compile,
        bound=not args.no_bound,
        training=args.training,
        memory_method=args.memory_method,
        memory_runs=args.memory_runs,
        isolate=not args.no_isolate,
        timeout=args.timeout,
        verbose=not args.quiet,
        projection=args.projection,
        measurements_path=os.path.join(args.output_dir, "measurements.jsonl"),
        resume=args.resume,
    )
    result.settings["command"] = command_line(argv)
    paths = report.write_outputs(result, args.output_dir, plot=not args.no_plot)
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=1)
        print()
    else:
        print(report.format_report(result))
        print("\nWrote " + ", ".join(paths.values()))
    return 1 if result.errors else 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    return run(build_parser().parse_args(argv), argv)


if __name__ == "__main__":
    sys.exit(main())
