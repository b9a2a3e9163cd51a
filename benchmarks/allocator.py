"""The training step with the C library's memory allocator and with a
preloaded one (tcmalloc), side by side.

    python -m benchmarks.allocator                    # ~4 min, 2 cores
    python -m benchmarks.allocator --quick            # a tiny check
    python -m benchmarks.allocator --preload /path/to/libjemalloc.so.2

TensorFlow on CPU allocates and frees its large activation buffers on every
step; with glibc's malloc each one is a fresh `mmap`, so the step also pays
the kernel for zeroed pages. A caching allocator loaded with `LD_PRELOAD`
keeps them. This benchmark times the training step of the Long Range Arena
Text model (`examples/reproduce_lra_text.py`'s, as `benchmarks.long_documents`
builds it: batch 32) at a few lengths, each cell twice in a fresh process:
once as it is, once with `LD_PRELOAD=--preload`. Nothing else differs, so
the ratio is the allocator's. Beside it, the share of each process's CPU
time spent in the kernel (start and trace included).

The default `--preload` is Debian's tcmalloc (`apt install
libtcmalloc-minimal4`); without it the benchmark says so and stops.
"""

import argparse
import json
import os
import sys

from benchmarks import long_documents

TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
# (run of examples/reproduce_lra_text.py, its n, the batch length timed).
CELLS = (
    ("standard-512", 512, 512),
    ("linformer", 4096, 1024),
    ("linformer", 4096, 4096),
)
QUICK_LENGTH_DIVISOR = 16


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.allocator",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "--preload",
        default=TCMALLOC,
        help="the allocator library to preload (default: %(default)s).",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a tiny model and n / 16: checks the benchmark runs.",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed steps per cell."
    )
    parser.add_argument("--out", default=None, help="Also write JSON here.")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1. Received: {args.repeats}")
    return args


def table(results, preload):
    name = os.path.basename(preload)
    lines = [
        f"| model | batch length | step, s (default) | step, s ({name}) | "
        "speed-up | kernel share of CPU time (default / preloaded) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        default, preloaded = r["default_s"], r["preloaded_s"]
        if default is None or preloaded is None:
            speedup = f"not measured: {r['error']}"
        else:
            speedup = f"{default / preloaded:.2f}x"
        lines.append(
            f"| {r['run']} | {r['length']} | {_seconds(default)} | "
            f"{_seconds(preloaded)} | {speedup} | "
            f"{_share(r.get('default_cpu'))} / {_share(r.get('preloaded_cpu'))} |"
        )
    return "\n".join(lines)


def _share(cpu):
    """The kernel's share of a process's CPU time, `cpu` = (user, system)."""
    if not cpu or sum(cpu) <= 0:
        return "?"
    return f"{cpu[1] / sum(cpu):.0%}"


def _seconds(value):
    return "" if value is None else f"{value:.3f}"


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isfile(args.preload):
        print(
            f"Skipping: {args.preload} not found; install it (Debian: apt "
            "install libtcmalloc-minimal4) or give --preload.",
            file=sys.stderr,
        )
        return 0
    from benchmarks.runner import run_task

    size = long_documents.settings(args.quick)
    results = []
    for run, n, length in CELLS:
        if args.quick:
            n //= QUICK_LENGTH_DIVISOR
            length //= QUICK_LENGTH_DIVISOR
        task = long_documents.cell_task(run, n, size, [length], args.repeats)
        result = dict(run=run, n=n, length=length, error=None)
        for key, env in (
            ("default", {}),
            ("preloaded", {"LD_PRELOAD": args.preload}),
        ):
            measured = run_task(task, env=env)
            if "error" in measured:
                result[f"{key}_s"] = None
                result["error"] = measured["error"]
            else:
                result[f"{key}_s"] = measured["step_s"][str(length)]
                result[f"{key}_cpu"] = [
                    measured["cpu_user_s"],
                    measured["cpu_system_s"],
                ]
        results.append(result)
        print(json.dumps(result), flush=True)
    print()
    print(table(results, args.preload))
    if args.out:
        from keras_linformer.artifacts import write_text_atomic

        write_text_atomic(
            args.out,
            json.dumps(
                dict(preload=args.preload, settings=size, results=results),
                indent=2,
            ),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
