"""Long documents: the Long Range Arena's Text task (IMDB as UTF-8 bytes).

The LRA Text task (Tay et al. 2020) classifies IMDB reviews read byte by
byte, truncated or padded to n = 4096; its table has Linformer last (53.9%
accuracy, standard attention 64.3%). This script runs the protocol on the
IMDB training (25,000) and dev (1,000) reviews with the byte tokenizer
(`LinformerByteTokenizer`) and `keras_linformer.training`: same
model size, optimizer, batch size and number of training examples for every
run; batches group reviews of similar length (`group_by_length`), so a batch
costs its reviews' length, not n. The classifier's head reads the mean over
each review's bytes, as in the Nystromformer re-run of LRA whose model size
this is (`--pooling cls` reads the `[CLS]` position, as RoBERTa).

Runs (`--runs`, comma-separated):

- `linformer`: the default projection (`sliding_max`), k = 256, n = 4096;
- `linformer-linear`: the paper's `linear` projection, k = 256, n = 4096
  (LRA's Linformer, with the padding handled);
- `standard`: standard attention (keras_hub `RobertaBackbone`), n = 4096;
- `standard-512`, `standard-1024`: standard attention on the first 512 or
  1024 bytes (what a user without efficient attention does);
- `standard-2816`: standard attention on the first 2816 bytes, the longest
  bucket length whose training step fits in 24 GiB at batch 32
  (`python -m benchmarks.long_documents --cells standard@4096` names the
  length it was killed at, and the last one that fitted);
- `linformer-pretrained`: `linformer` after masked-byte pretraining on the
  training reviews (`--pretrain-steps`);
- `linformer-16k`, `linformer-16k-pretrained`: n = 16384, every review
  whole (the longest is about 14,000 bytes), k = 256.

Each run lives in `OUTPUT_DIR/{run}/seed{seed}/` and resumes from its
checkpoints when interrupted; a finished run (its `result.json`, for the
same settings) is reused, so the grid can be spread over several
invocations. A run's directory holds one run's settings (`--pooling`, the
sizes): a run of other settings is refused there, before any run trains;
give it another `--output-dir`. `--pretrained-from` fine-tunes a
`-pretrained` run from another output directory's pretraining of the same
settings (to compare the heads on one pretrained model).

Each result also records the dev accuracy by review length in bytes
(`accuracy_by_length`: up to 1024, 1025 to 4096, over 4096): whether a
model gains on the reviews only n = 16384 reads whole, or on those every n
reads whole. `--by-length` adds it to finished runs that predate it.

    python examples/reproduce_lra_text.py --runs linformer,standard
    python examples/reproduce_lra_text.py --quick          # a few minutes
    python examples/reproduce_lra_text.py --report-only    # the table
    python examples/reproduce_lra_text.py --runs linformer --by-length

Writes `results.json` and `results.md` into `--output-dir`.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reproduce_common  # noqa: E402 (a sibling file, not a package)

from keras_linformer_options import POOLINGS  # noqa: E402 (no TensorFlow)

# name -> (attention, n, projection, pretrained); k is `projected_dim`.
RUNS = {
    "linformer": ("linformer", 4096, "sliding_max", False),
    "linformer-linear": ("linformer", 4096, "linear", False),
    "standard": ("standard", 4096, None, False),
    "standard-512": ("standard", 512, None, False),
    "standard-1024": ("standard", 1024, None, False),
    "standard-2816": ("standard", 2816, None, False),
    "linformer-pretrained": ("linformer", 4096, "sliding_max", True),
    "linformer-16k": ("linformer", 16384, "sliding_max", False),
    "linformer-16k-pretrained": ("linformer", 16384, "sliding_max", True),
}
# LRA's published Text accuracies, for the table.
LRA_TABLE = {
    "Transformer": 64.27,
    "Linformer": 53.94,
    "best (Linear Trans.)": 65.90,
}

# Dev reviews by length in bytes: what n = 4096 and 16384 both read whole,
# in two halves (about 53% of them fit in 1024 bytes), and what only 16384
# does (2.5%). (name, shortest, longest); `None`: no limit.
LENGTH_GROUPS = (
    ("up to 1024", 0, 1024),
    ("1025 to 4096", 1025, 4096),
    ("over 4096", 4097, None),
)

# The model of the Nystromformer re-run of LRA (2 layers, width 64, 2 heads,
# feed-forward 128): LRA's own (4 layers, width 256) does not train in a
# few hours on 2 CPU cores.
FULL = dict(
    num_layers=2,
    num_heads=2,
    hidden_dim=64,
    intermediate_dim=128,
    projected_dim=256,
    batch_size=32,
    finetune_steps=1500,
    pretrain_steps=1500,
    finetune_learning_rate=1e-3,
    pretrain_learning_rate=1e-3,
    warmup_steps=100,
    max_train=None,
    max_dev=None,
)
QUICK = dict(
    num_layers=1,
    num_heads=2,
    hidden_dim=16,
    intermediate_dim=32,
    projected_dim=16,
    batch_size=4,
    finetune_steps=3,
    pretrain_steps=3,
    finetune_learning_rate=1e-3,
    pretrain_learning_rate=1e-3,
    warmup_steps=0,
    max_train=64,
    max_dev=16,
)
# With --quick, n is divided by this (4096 -> 256).
QUICK_LENGTH_DIVISOR = 16


def build_parser():
    parser = reproduce_common.build_parser(
        __doc__.split("\n\n")[0],
        RUNS,
        FULL,
        QUICK,
        data_help="imdb/imdb_train.jsonl and imdb_dev.jsonl",
        output_dir="lra_text",
    )
    parser.add_argument(
        "--seeds",
        default=None,
        help="Comma-separated seeds, each a full run (default: --seed).",
    )
    parser.add_argument(
        "--pooling",
        choices=POOLINGS,
        default="mean",
        help="What the classifier's head reads: the mean over each review's "
        "bytes (the Nystromformer re-run's head, padding left out), or the "
        "[CLS] position (RoBERTa's). Give each its own --output-dir: a run "
        "directory holds one head's run.",
    )
    parser.add_argument(
        "--pretrained-from",
        default=None,
        metavar="OUTPUT_DIR",
        help="Fine-tune the -pretrained runs from the pretraining of the same "
        "run and seed in another output directory, instead of pretraining "
        "again (to compare heads on one pretrained model); its settings must "
        "be this run's, but for --pooling.",
    )
    parser.add_argument(
        "--length-buckets",
        type=int,
        default=16,
        help="Batches group reviews into this many length buckets of n / "
        "this bytes each (default 16: 256 bytes wide at n = 4096, 1024 at "
        "16384); a batch is padded to its bucket's length.",
    )
    parser.add_argument(
        "--by-length",
        action="store_true",
        help="Add the dev accuracy by review length to the finished runs "
        "of --runs and --seeds whose results predate it (from their "
        "fine-tuned presets; new runs record it anyway). Not with "
        "--report-only, which trains and scores nothing.",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="Train nothing: write the table of the finished runs.",
    )
    return parser


def model_settings(name, size, quick):
    """The run's `ModelConfig` fields (what its result records)."""
    attention, n, projection, _ = RUNS[name]
    if quick:
        n //= QUICK_LENGTH_DIVISOR
    return dict(
        attention=attention,
        tokenizer="byte",
        num_layers=size["num_layers"],
        num_heads=size["num_heads"],
        hidden_dim=size["hidden_dim"],
        intermediate_dim=size["intermediate_dim"],
        sequence_length=n,
        projected_dim=min(size["projected_dim"], n),
        projection=projection or "sliding_max",
        sharing="headwise",
        dropout=0.1,
        vocabulary_size=0,  # bytes: no vocabulary
    )


def training(args, size, steps, learning_rate, output_dir, seed):
    """The keyword arguments `pretrain` and `finetune` share."""
    return dict(
        batch_size=size["batch_size"],
        epochs=1,
        steps_per_epoch=steps,
        learning_rate=learning_rate,
        warmup_steps=min(size["warmup_steps"], steps - 1),
        output_dir=output_dir,
        seed=seed,
        strategy="one_device",
        checkpoint_every=max(1, steps // 10),
        length_buckets=args.length_buckets,
        group_by_length=True,
        verbose=args.verbose,
    )


def run_record(args, name, seed, size, data):
    """The run's directory and the settings its result records."""
    record = dict(
        model_settings(name, size, args.quick),
        size=size,
        seed=seed,
        data=data["train_jsonl"],
        pooling=args.pooling,
        length_buckets=args.length_buckets,
    )
    return os.path.join(args.output_dir, name, f"seed{seed}"), record


def _pretraining_settings(record):
    """What a run's pretraining depends on: not the head or the fine-tuning
    (and each output directory has its own copy of the data slice)."""
    size = {
        key: value
        for key, value in record.get("size", {}).items()
        if key not in ("finetune_steps", "finetune_learning_rate", "max_dev")
    }
    ignored = ("pooling", "data")
    settings = {k: v for k, v in record.items() if k not in ignored}
    return dict(settings, size=size)


def pretrained_source(args, name, seed, record):
    """The pretrained preset that `--pretrained-from` gives the run, or
    `None` (the run pretrains itself, or does not pretrain)."""
    if not (args.pretrained_from and RUNS[name][3]):
        return None
    source = os.path.join(args.pretrained_from, name, f"seed{seed}")
    preset = os.path.join(source, "pretrain", "preset")
    if not os.path.isdir(preset):
        raise SystemExit(
            f"--pretrained-from: no finished pretraining of {name}, seed "
            f"{seed}: {preset} does not exist."
        )
    recorded = reproduce_common.recorded_settings(source)
    if recorded is None:
        raise SystemExit(
            f"--pretrained-from: {source} has no record of its settings "
            "(run_settings.json or result.json)."
        )
    differences = reproduce_common.differences(
        _pretraining_settings(recorded), _pretraining_settings(record)
    )
    if differences:
        raise SystemExit(
            f"--pretrained-from: {source} pretrained a model of other "
            f"settings ({'; '.join(differences)})."
        )
    return preset


def length_group_files(dev_records, data_dir):
    """Writes the dev reviews of each of `LENGTH_GROUPS` to a JSONL file of
    its own in `data_dir`: `{name: (path, reviews)}`, empty groups left
    out."""
    lengths = [len(str(r["text"]).encode("utf-8")) for r in dev_records]
    groups = {}
    for index, (name, shortest, longest) in enumerate(LENGTH_GROUPS):
        records = [
            record
            for record, length in zip(dev_records, lengths)
            if shortest <= length <= (longest or float("inf"))
        ]
        if records:
            path = os.path.join(data_dir, f"imdb_dev_length{index}.jsonl")
            reproduce_common.write_atomic(
                path, "".join(json.dumps(r) + "\n" for r in records)
            )
            groups[name] = (path, len(records))
    return groups


def accuracy_by_length(preset, groups):
    """The classifier `preset`'s accuracy on each of `groups` (from
    `length_group_files`): `{name: {"accuracy", "examples"}}`."""
    import keras

    from keras_linformer.training import evaluate

    by_length = {}
    for name, (path, reviews) in groups.items():
        metrics = evaluate(preset, path)
        keras.backend.clear_session()
        by_length[name] = {
            "accuracy": metrics["accuracy"],
            "examples": reviews,
        }
    return by_length


def add_accuracy_by_length(args, name, seed, size, data):
    """Adds `accuracy_by_length` to the finished run's result, where it
    lacks it (the run finished before results recorded it)."""
    run_dir, record = run_record(args, name, seed, size, data)
    result_file = os.path.join(run_dir, "result.json")
    result = reproduce_common.reuse(result_file, record)
    if result is None or "accuracy_by_length" in result:
        return
    preset = os.path.join(run_dir, "finetune", "preset")
    if not os.path.isdir(preset):
        raise SystemExit(
            f"--by-length: {run_dir} has a result but no fine-tuned preset "
            f"({preset})."
        )
    result["accuracy_by_length"] = accuracy_by_length(
        preset, data["length_groups"]
    )
    reproduce_common.write_atomic(result_file, json.dumps(result, indent=2))


def run_one(args, name, seed, size, data):
    """Pretrains (where the run says so) and fine-tunes one run, or reuses
    its finished result."""
    import keras

    from keras_linformer.training import ModelConfig
    from keras_linformer.training import finetune
    from keras_linformer.training import pretrain

    model = model_settings(name, size, args.quick)
    run_dir, record = run_record(args, name, seed, size, data)
    result_file = os.path.join(run_dir, "result.json")
    if reproduce_common.reuse(result_file, record) or args.report_only:
        return
    print(f"== {name} seed={seed}: {model}", flush=True)
    start = time.time()
    preset = pretrained_source(args, name, seed, record)
    pretrained = None
    if preset:
        with open(os.path.join(os.path.dirname(preset), "metrics.json")) as f:
            pretrained = json.load(f)
    elif RUNS[name][3]:
        pretrained = pretrain(
            [data["train_text"]],
            validation_files=[data["dev_text"]],
            model=ModelConfig(**model),
            mask_rate=0.15,
            **training(
                args,
                size,
                size["pretrain_steps"],
                size["pretrain_learning_rate"],
                os.path.join(run_dir, "pretrain"),
                seed,
            ),
        )
        preset = os.path.join(run_dir, "pretrain", "preset")
        keras.backend.clear_session()
    finetune_start = time.time()
    # From the pretrained preset, or a new model of the same settings.
    finetuned = finetune(
        data["train_jsonl"],
        data["dev_jsonl"],
        preset=preset,
        model=None if preset else ModelConfig(**model),
        num_classes=2,
        dropout=model["dropout"],
        pooling=args.pooling,
        **training(
            args,
            size,
            size["finetune_steps"],
            size["finetune_learning_rate"],
            os.path.join(run_dir, "finetune"),
            seed,
        ),
    )
    keras.backend.clear_session()
    result = {
        "run": name,
        "seed": seed,
        "sequence_length": model["sequence_length"],
        "accuracy": finetuned["validation_accuracy"],
        "dev_examples": data["dev_examples"],
        "accuracy_by_length": accuracy_by_length(
            os.path.join(run_dir, "finetune", "preset"),
            data["length_groups"],
        ),
        "pretrain_perplexity": pretrained
        and pretrained["validation_perplexity"],
        "finetune_history": finetuned["history"],
        # The seconds of this invocation: after a resume, of the steps from
        # `finetune_resumed_from` on only.
        "finetune_seconds": time.time() - finetune_start,
        "finetune_resumed_from": finetuned["resumed_from"],
        "seconds": time.time() - start,
        "pretrained_from": preset and os.path.dirname(preset),
        "config": record,
    }
    reproduce_common.write_atomic(result_file, json.dumps(result, indent=2))


def _minutes(result):
    """A run's fine-tuning minutes; a resumed run's cover part of it."""
    minutes = f"{result['finetune_seconds'] / 60:.0f}"
    resumed = result.get("finetune_resumed_from")
    return f"{minutes} (from step {resumed})" if resumed else minutes


def _by_length_table(by_run):
    """Lines of the dev accuracy by review length (mean over the seeds that
    recorded it), or none when no run did."""
    lines = []
    for name in RUNS:
        runs = [r for r in by_run.get(name, []) if "accuracy_by_length" in r]
        if not runs:
            continue
        groups = runs[0]["accuracy_by_length"]
        if not lines:
            lines = [
                "",
                "| run | seeds | "
                + " | ".join(
                    f"{group} bytes ({groups[group]['examples']} reviews)"
                    for group in groups
                )
                + " |",
                "| --- | --- |" + " --- |" * len(groups),
            ]
        cells = []
        for group in groups:
            accuracies = [
                100 * r["accuracy_by_length"][group]["accuracy"]
                for r in runs
                if group in r["accuracy_by_length"]
            ]
            mean = sum(accuracies) / max(1, len(accuracies))
            cells.append(f"{mean:.1f}%" if accuracies else "")
        lines.append(f"| {name} | {len(runs)} | " + " | ".join(cells) + " |")
    return lines


def table(results):
    lines = [
        "| run | n | seeds | dev accuracy | each seed | fine-tuning min, each seed |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    by_run = {}
    for result in results:
        by_run.setdefault(result["run"], []).append(result)
    for name in RUNS:
        if name not in by_run:
            continue
        runs = sorted(by_run[name], key=lambda r: r["seed"])
        accuracies = [100 * r["accuracy"] for r in runs]
        # Results from before `--pooling` ran with the "[CLS]" head.
        pooling = runs[0].get("config", {}).get("pooling", "cls")
        label = f"{name} ([CLS] head)" if pooling == "cls" else name
        lines.append(
            f"| {label} | {runs[0]['sequence_length']} | {len(runs)} | "
            f"{sum(accuracies) / len(accuracies):.1f}% | "
            + " / ".join(f"{a:.1f}" for a in accuracies)
            + " | "
            + " / ".join(_minutes(r) for r in runs)
            + " |"
        )
    lines += _by_length_table(by_run)
    lines.append("")
    lines.append(
        "LRA's table (Text, accuracy): "
        + ", ".join(f"{k} {v}" for k, v in LRA_TABLE.items())
    )
    return "\n".join(lines)


def main(argv=None):
    args = build_parser().parse_args(argv)
    paths = reproduce_common.data_files(
        args.data_dir, "imdb", ["imdb_train.jsonl", "imdb_dev.jsonl"]
    )
    if paths is None:
        return 0
    train_path, dev_path = paths
    names = reproduce_common.run_names(args.runs, RUNS)
    seeds = (
        [int(s) for s in args.seeds.split(",")] if args.seeds else [args.seed]
    )
    size = reproduce_common.settings(args, FULL, QUICK)
    from keras_linformer.length_buckets import bucket_lengths

    for name in names:  # A bad --length-buckets fails before any run trains.
        bucket_lengths(
            model_settings(name, size, args.quick)["sequence_length"],
            args.length_buckets,
        )
    data_dir = os.path.join(args.output_dir, "data")
    os.makedirs(data_dir, exist_ok=True)
    train_jsonl, train_text, _ = reproduce_common.write_slice(
        train_path, size["max_train"], data_dir
    )
    dev_jsonl, dev_text, dev_records = reproduce_common.write_slice(
        dev_path, size["max_dev"], data_dir
    )
    data = dict(
        train_jsonl=train_jsonl,
        train_text=train_text,
        dev_jsonl=dev_jsonl,
        dev_text=dev_text,
        dev_examples=len(dev_records),
        length_groups=length_group_files(dev_records, data_dir),
    )
    if not args.report_only:
        records = [
            (name, seed, *run_record(args, name, seed, size, data))
            for seed in seeds
            for name in names
        ]
        for name, seed, _, record in records:
            pretrained_source(args, name, seed, record)
        reproduce_common.claim_unfinished(
            (run_dir, record) for _, _, run_dir, record in records
        )
    for seed in seeds:
        for name in names:
            run_one(args, name, seed, size, data)
            if args.by_length and not args.report_only:
                add_accuracy_by_length(args, name, seed, size, data)
    results = reproduce_common.finished_results(args.output_dir)
    text = table(results)
    reproduce_common.write_atomic(
        os.path.join(args.output_dir, "results.json"),
        json.dumps({"settings": size, "runs": results}, indent=2),
    )
    reproduce_common.write_atomic(
        os.path.join(args.output_dir, "results.md"), text + "\n"
    )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
