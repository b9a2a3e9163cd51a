"""What `reproduce_perplexity.py` and `reproduce_imdb.py` share: a command
line with one option per size setting (full and `--quick` defaults)."""

import argparse
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA_DIR = os.path.join(HERE, "..", "..", "shared", "data")


def build_parser(description, runs, full, quick, data_help, output_dir):
    """`--quick`, `--data-dir`, `--output-dir`, `--runs`, `--seed`,
    `--verbose`, and `--NAME` for every size setting in `full`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="Tiny run.")
    parser.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        help=f"Holds {data_help} (default: ../shared/data relative to the "
        "repository).",
    )
    parser.add_argument(
        "--output-dir", default=os.path.join("runs", output_dir)
    )
    parser.add_argument(
        "--runs",
        default=",".join(runs),
        help="Comma-separated subset of: " + ", ".join(runs),
    )
    for name, value in full.items():
        kind = float if isinstance(value, float) else int
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=None,
            help=f"Default: {value} ({quick[name]} with --quick).",
        )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2)
    return parser


def settings(args, full, quick):
    """The size settings: `--quick` or full defaults, overridden by options."""
    base = quick if args.quick else full
    return {
        name: base[name] if getattr(args, name) is None else getattr(args, name)
        for name in full
    }
