"""What the reproduction scripts share: a command line with one option per
size setting (full and `--quick` defaults), and finished runs' results."""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# $KERAS_LINFORMER_DATA, else data/ in the repository (a folder or a link,
# kept out of git): the data sets are not part of the repository.
DEFAULT_DATA_DIR = os.environ.get("KERAS_LINFORMER_DATA") or os.path.join(
    HERE, "..", "data"
)


def build_parser(description, runs, full, quick, data_help, output_dir):
    """`--quick`, `--data-dir`, `--output-dir`, `--runs`, `--seed`,
    `--verbose`, and `--NAME` for every size setting in `full`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="Tiny run.")
    parser.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        help=f"Holds {data_help} (default: $KERAS_LINFORMER_DATA, else data/ "
        "in the repository).",
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


def data_files(data_dir, data_set, names):
    """The paths of `names` in `data_dir/data_set`, or None (after saying
    on stderr what was expected where) when any of them is missing."""
    paths = [os.path.join(data_dir, data_set, name) for name in names]
    if all(os.path.exists(path) for path in paths):
        return paths
    expected = " and ".join(f"{data_set}/{name}" for name in names)
    print(
        f"Skipping: {data_set} not found under {data_dir} (expected "
        f"{expected}); give --data-dir or set $KERAS_LINFORMER_DATA.",
        file=sys.stderr,
    )
    return None


def run_names(runs_option, runs):
    """The names of `--runs`, each one of `runs`."""
    names = [name.strip() for name in runs_option.split(",") if name.strip()]
    unknown = [name for name in names if name not in runs]
    if unknown:
        raise SystemExit(f"Unknown run(s) {unknown}; choose from {list(runs)}")
    return names


def write_atomic(path, text):
    """Writes `text` to `path` through a temporary file: never half-written
    (the package's own writer, imported here so that `--help` stays fast)."""
    from keras_linformer.artifacts import write_text_atomic

    write_text_atomic(path, text)


# Settings that no longer exist, with the value every run has now: a result
# recorded with one of them (before it was removed) is the same run as one
# recorded without it, so finished runs are reused, not trained again.
RETIRED_SETTINGS = {"samples": "blocks"}
# Settings added since, with the value every run had before: a result
# recorded without one is the same run as one recorded with that value.
ADDED_SETTINGS = {"pooling": "cls", "length_buckets": 16}


def _current_settings(record):
    implied = {**RETIRED_SETTINGS, **ADDED_SETTINGS}
    return {
        key: value
        for key, value in record.items()
        if key not in implied or value != implied[key]
    }


def reuse(result_file, record):
    """The finished result at `result_file` if it ran with `record`."""
    import json

    if os.path.exists(result_file):
        with open(result_file, encoding="utf-8") as f:
            previous = json.load(f)
        recorded = previous.get("config")
        if isinstance(recorded, dict) and _current_settings(
            recorded
        ) == _current_settings(record):
            return previous
    return None


# Beside a run's checkpoints: the settings it was started with.
RUN_SETTINGS = "run_settings.json"


def recorded_settings(run_dir):
    """The settings the run in `run_dir` was started with (its record, else
    its result's), or `None`."""
    import json

    for name, key in ((RUN_SETTINGS, None), ("result.json", "config")):
        path = os.path.join(run_dir, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                recorded = json.load(f)
            return recorded.get(key) if key else recorded
    return None


def differences(there, here):
    """Each setting that differs between two records, by its path; a
    setting absent from a record had the value it implies."""
    import json

    from keras_linformer.training.resumable import setting_differences

    implied = {**RETIRED_SETTINGS, **ADDED_SETTINGS}
    there, here = json.loads(json.dumps([there, here]))
    return list(setting_differences({**implied, **there}, {**implied, **here}))


def claim_run_dir(run_dir, record):
    """Records `record` as the settings of the run in `run_dir`, or stops
    with an error when the directory holds a run of other settings.

    A run resumes from the checkpoints it finds in its directory, so a run
    started in the directory of another (another `--pooling`, another number
    of steps) would continue that run's weights and overwrite its result.
    A directory from before this record existed is claimed as it is.
    """
    import json

    recorded = recorded_settings(run_dir)
    differing = [] if recorded is None else differences(recorded, record)
    if differing:
        raise SystemExit(
            f"{run_dir} holds a run of other settings ({'; '.join(differing)})"
            ": this run would resume its checkpoints. Give another "
            "--output-dir (or remove that directory)."
        )
    write_atomic(
        os.path.join(run_dir, RUN_SETTINGS),
        json.dumps(json.loads(json.dumps(record)), indent=2),
    )


def claim_unfinished(runs):
    """Claims the directory of each of `runs` ((directory, record) pairs)
    that has no finished result of its settings, before any of them trains:
    a clash stops the grid at its start, not hours into it."""
    for run_dir, record in runs:
        if not reuse(os.path.join(run_dir, "result.json"), record):
            claim_run_dir(run_dir, record)


def finished_results(output_dir):
    """Every `result.json` under `output_dir`, in a stable order."""
    import json

    results = []
    for root, _, files in sorted(os.walk(output_dir)):
        if "result.json" in files:
            with open(os.path.join(root, "result.json"), encoding="utf-8") as f:
                results.append(json.load(f))
    return results


def write_slice(path, limit, directory):
    """The first `limit` records of a JSONL file, as JSONL and as text (one
    review a line, for pretraining)."""
    import json

    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                records.append(json.loads(line))
                if limit and len(records) >= limit:
                    break
    stem = os.path.splitext(os.path.basename(path))[0]
    jsonl = os.path.join(directory, stem + ".jsonl")
    text = os.path.join(directory, stem + ".txt")
    write_atomic(jsonl, "".join(json.dumps(r) + "\n" for r in records))
    write_atomic(
        text, "".join(" ".join(str(r["text"]).split()) + "\n" for r in records)
    )
    return jsonl, text, records
