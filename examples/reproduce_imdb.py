"""IMDB sentiment on padded, variable-length reviews: Linformer vs a
standard Transformer.

Reproduces, at a size that trains on a few CPU cores, the paper's downstream
claim (Wang et al. 2020, table 2: IMDB accuracy RoBERTa-base 94.1, Linformer
n = 512, k = 128 94.0). Every model gets masked-LM pretraining on the IMDB
training reviews, then fine-tuning on their labels; accuracy on
`imdb_dev.jsonl`. Same size, data, steps, optimizer, seeds and one shared
WordPiece vocabulary for every model. Fine-tuning sees single reviews padded
to n (median about 230 word pieces), which is where the paper's plain linear
projection loses accuracy (docs/results.md); the runs compare it with the
pooling projections of `keras_linformer.projections`:

- `standard`: keras_hub `RobertaBackbone`;
- `k128`, `k256`: the paper's `"linear"` projection;
- `k128-mean`: mean pooling; `k128-max`, `k256-max`: max pooling (windows
  of n / k);
- `k128-sliding`, `k256-sliding`: `"sliding_max"` (windows of n / k real
  positions spread over each document, so a short review fills all k
  slots).

Runs of projection kinds and options since removed (`k128-scaled`,
`k128-softmax`, `k128-stretched`, `k128-documents`, `k128-meaninit` and
their k256 versions) keep their results under results/imdb and in
docs/results.md; `--report-only` still tabulates them.

n = 512 (the paper's Table 2 setting) is the main comparison; n = 1024 the
long-document one (`--sequence-lengths 512,1024`). Each run is
`keras_linformer.training.pretrain` / `finetune` in its own directory
`OUTPUT_DIR/n{n}/seed{seed}/{run}` (resumable; a finished run is reused when
the script runs again, so the grid can be spread over several invocations;
a run of other sizes is refused in a directory that holds one).

    python examples/reproduce_imdb.py                  # full grid, 2 seeds
    python examples/reproduce_imdb.py --runs standard,k128 --seeds 0
    python examples/reproduce_imdb.py --quick          # a few minutes
    python examples/reproduce_imdb.py --report-only    # tables of finished runs

Writes `results.json` and `results.md` (the table over every finished run
found under `--output-dir`, dev accuracy by review length, and each run's
difference from the standard model review by review, with the standard
error that the 1,000-review dev set puts on it) into `--output-dir`.
"""

import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reproduce_common  # noqa: E402 (a sibling file, not a package)

# name -> (attention, k at full size, projection). `--quick` divides k by
# 8 (n = 128 there).
RUNS = {
    "standard": ("standard", None, "linear"),
    "k128": ("linformer", 128, "linear"),
    "k128-mean": ("linformer", 128, "mean"),
    "k128-max": ("linformer", 128, "max"),
    "k256": ("linformer", 256, "linear"),
    "k256-max": ("linformer", 256, "max"),
    "k128-sliding": ("linformer", 128, "sliding_max"),
    "k256-sliding": ("linformer", 256, "sliding_max"),
}

# Dev accuracy is also reported by review length in word pieces (before
# truncation to n): [low, high), high None for no bound.
LENGTH_BANDS = ((0, 256), (256, 512), (512, None))

FULL = dict(
    num_layers=2,
    num_heads=4,
    hidden_dim=128,
    intermediate_dim=512,
    vocabulary_size=8000,
    vocabulary_texts=5000,
    batch_size=8,
    pretrain_steps=500,
    finetune_steps=1500,
    pretrain_learning_rate=1e-3,
    finetune_learning_rate=3e-4,
    max_train=None,
    max_dev=None,
)
QUICK = dict(
    num_layers=1,
    num_heads=2,
    hidden_dim=32,
    intermediate_dim=64,
    vocabulary_size=1000,
    vocabulary_texts=300,
    batch_size=8,
    pretrain_steps=4,
    finetune_steps=4,
    pretrain_learning_rate=1e-3,
    finetune_learning_rate=3e-4,
    max_train=300,
    max_dev=100,
)
QUICK_SEQUENCE_LENGTH, QUICK_K_DIVISOR = 128, 8


def _int_list(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise ValueError(f"expected comma-separated integers, got {text!r}")
    return values


def build_parser():
    parser = reproduce_common.build_parser(
        __doc__.split("\n\n")[0],
        RUNS,
        FULL,
        QUICK,
        data_help="imdb/imdb_train.jsonl and imdb_dev.jsonl",
        output_dir="reproduce_imdb",
    )
    parser.add_argument(
        "--sequence-lengths",
        type=_int_list,
        default=None,
        help="Comma-separated n values (default: 512,1024; 128 with --quick).",
    )
    parser.add_argument(
        "--seeds",
        type=_int_list,
        default=None,
        help="Comma-separated seeds, each a full run (default: 0,1). "
        "Overrides --seed.",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="Train nothing: rewrite results.json and results.md from the "
        "finished runs (adding the length bands to results that lack "
        "them).",
    )
    return parser


def settings(args):
    return reproduce_common.settings(args, FULL, QUICK)


def model_settings(name, size, sequence_length, quick):
    """The run's `ModelConfig` fields (what its result records)."""
    attention, k, projection = RUNS[name]
    if k is None:
        k = sequence_length // 8  # unused by the standard model
    elif quick:
        k //= QUICK_K_DIVISOR
    return dict(
        attention=attention,
        num_layers=size["num_layers"],
        num_heads=size["num_heads"],
        hidden_dim=size["hidden_dim"],
        intermediate_dim=size["intermediate_dim"],
        sequence_length=sequence_length,
        projected_dim=k,
        projection=projection,
        sharing="headwise",
        dropout=0.1,
        vocabulary_size=size["vocabulary_size"],
    )


def common_training(args, size, steps, learning_rate, output_dir, seed):
    """The keyword arguments `pretrain` and `finetune` share."""
    from keras_linformer.length_buckets import DEFAULT_LENGTH_BUCKETS

    return dict(
        batch_size=size["batch_size"],
        epochs=1,
        steps_per_epoch=steps,
        learning_rate=learning_rate,
        warmup_steps=0,
        output_dir=output_dir,
        seed=seed,
        strategy="one_device",
        checkpoint_every=max(1, steps // 4),
        length_buckets=DEFAULT_LENGTH_BUCKETS,
        verbose=args.verbose,
    )


def describe(model):
    if model["attention"] == "standard":
        return "standard Transformer (RobertaBackbone)"
    return (
        f"Linformer k={model['projected_dim']}, headwise, {model['projection']}"
    )


def table(results):
    """One row per (n, run): every seed's accuracy, the mean, and the mean's
    difference from the standard model's mean at the same n."""
    lines = [
        "| n | run | model | MLM val perplexity (mean) | dev accuracy by seed "
        "| mean | vs standard (points) | minutes per run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    groups = {}
    for result in results:
        key = (result["sequence_length"], result["run"])
        groups.setdefault(key, []).append(result)
    means = {
        key: statistics.mean(r["accuracy"] for r in group)
        for key, group in groups.items()
    }
    for key in sorted(groups, key=_run_order):
        group = sorted(groups[key], key=lambda r: r["seed"])
        n, name = key
        reference = means.get((n, "standard"))
        delta = (
            f"{100 * (means[key] - reference):+.1f}"
            if reference is not None
            else "n/a"
        )
        seeds = ", ".join(
            f"{100 * r['accuracy']:.1f}% (seed {r['seed']})" for r in group
        )
        perplexity = statistics.mean(r["pretrain_perplexity"] for r in group)
        minutes = statistics.mean(r["seconds"] for r in group) / 60
        lines.append(
            f"| {n} | {name} | {group[0]['model']} | {perplexity:.2f} | "
            f"{seeds} | {100 * means[key]:.1f}% | {delta} | {minutes:.1f} |"
        )
    return "\n".join(lines)


def band_name(low, high):
    if low == 0:
        return f"< {high}"
    if high is None:
        return f">= {low}"
    return f"{low}-{high - 1}"


def _run_order(key):
    """Sort key of an (n, run) pair: by n, then in the order of `RUNS`
    (runs no longer in `RUNS`, from earlier results, after them by name)."""
    names = list(RUNS)
    name = key[1]
    return key[0], names.index(name) if name in names else len(names), name


def evaluate_dev(preset_dir, dev_jsonl, batch_size):
    """The fine-tuned preset's dev predictions, from one pass in file order.

    Returns `(bands, correct)`: `bands` is the accuracy in each of
    `LENGTH_BANDS`, a list of `{"band", "examples", "accuracy"}` (accuracy
    `None` for an empty band); `correct` is one character per dev review,
    `"1"` where the prediction was right, so that two models can be compared
    review by review (`paired_table`).
    """
    import numpy as np

    from keras_linformer.models.presets import load_preset
    from keras_linformer.training import data

    task = load_preset(preset_dir, require_task=True)
    preprocessor = task.preprocessor
    texts, labels = data.read_labeled(dev_jsonl)
    pieces = preprocessor.tokenizer(texts)
    pieces = pieces.to_list() if hasattr(pieces, "to_list") else pieces
    lengths = np.array([len(p) for p in pieces])
    dataset = data.classification_dataset(
        texts, labels, preprocessor, batch_size, 0, False
    )
    task.preprocessor = None  # the dataset is already preprocessed
    predictions = task.predict(dataset, verbose=0).argmax(-1)
    correct = predictions == np.asarray(labels)
    bands = []
    for low, high in LENGTH_BANDS:
        inside = (lengths >= low) & (lengths < (high or np.inf))
        count = int(inside.sum())
        bands.append(
            {
                "band": band_name(low, high),
                "examples": count,
                "accuracy": float(correct[inside].mean()) if count else None,
            }
        )
    return bands, "".join("1" if right else "0" for right in correct)


def paired_table(results):
    """Each run's difference from the standard model at the same n, on the
    seeds both have, with two standard errors.

    Both models are scored on the same reviews and trained from the same
    seeds, so the comparison is paired twice over:

    - over reviews: for review i, d_i is the run's accuracy on it (mean over
      the shared seeds) minus the standard model's. The difference of the
      two mean accuracies is mean(d); the dev set's finite size puts the
      standard error stdev(d) / sqrt(N) on it.
    - over seeds: a_s is the difference of the two accuracies with seed s.
      stdev(a) / sqrt(S) is the standard error that the spread between
      seeds (training noise) puts on the same mean; n/a with one seed.

    Runs without per-review results (`dev_correct`) for every shared seed
    are left out.

    Example:

    >>> print(paired_table([
    ...     dict(run="standard", seed=0, sequence_length=512,
    ...          dev_correct="1100"),
    ...     dict(run="k128-max", seed=0, sequence_length=512,
    ...          dev_correct="1000"),
    ... ]).splitlines()[-1])
    | 512 | k128-max | 0 | -25.0 | 25.0 | -74.0 to +24.0 | n/a |
    """
    marks = {}
    for result in results:
        key = (result["sequence_length"], result["run"])
        marks.setdefault(key, {})[result["seed"]] = result.get("dev_correct")
    lines = [
        "| n | run | seeds | vs standard (points) "
        "| standard error, reviews (points) | 95% interval, reviews (points) "
        "| standard error, seeds (points) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key in sorted(marks, key=_run_order):
        n, name = key
        reference = marks.get((n, "standard"), {})
        seeds = sorted(set(marks[key]) & set(reference))
        run = [marks[key][seed] for seed in seeds]
        standard = [reference[seed] for seed in seeds]
        if name == "standard" or not seeds or not all(run + standard):
            continue
        if len({len(correct) for correct in run + standard}) != 1:
            continue
        d = [
            sum(c[i] == "1" for c in run) / len(seeds)
            - sum(c[i] == "1" for c in standard) / len(seeds)
            for i in range(len(run[0]))
        ]
        mean = 100 * statistics.mean(d)
        error = 100 * statistics.stdev(d) / len(d) ** 0.5
        per_seed = [
            100 * (a.count("1") - b.count("1")) / len(a)
            for a, b in zip(run, standard)
        ]
        seed_error = (
            f"{statistics.stdev(per_seed) / len(seeds) ** 0.5:.1f}"
            if len(seeds) > 1
            else "n/a"
        )
        lines.append(
            f"| {n} | {name} | {', '.join(map(str, seeds))} | {mean:+.1f} | "
            f"{error:.1f} | {mean - 1.96 * error:+.1f} to "
            f"{mean + 1.96 * error:+.1f} | {seed_error} |"
        )
    return "\n".join(lines)


def length_table(results):
    """Mean dev accuracy over seeds in each length band, and its difference
    from the standard model's in the same band and n."""
    names = [band_name(low, high) for low, high in LENGTH_BANDS]
    header = " | ".join(f"{name} pieces" for name in names)
    lines = [
        f"| n | run | examples per band | {header} |",
        "| --- | --- | --- | " + " | ".join("---" for _ in names) + " |",
    ]
    means = {}
    counts = {}
    for result in results:
        bands = result.get("accuracy_by_length")
        if not bands:
            continue
        key = (result["sequence_length"], result["run"])
        for band in bands:
            if band["accuracy"] is not None:
                means.setdefault(key + (band["band"],), []).append(
                    band["accuracy"]
                )
            counts[band["band"]] = band["examples"]
    keys = sorted({key[:2] for key in means}, key=_run_order)
    for n, run in keys:
        cells = []
        for name in names:
            values = means.get((n, run, name))
            if not values:
                cells.append("n/a")
                continue
            mean = statistics.mean(values)
            cell = f"{100 * mean:.1f}%"
            reference = means.get((n, "standard", name))
            if reference and run != "standard":
                delta = 100 * (mean - statistics.mean(reference))
                cell += f" ({delta:+.1f})"
            cells.append(cell)
        examples = ", ".join(str(counts.get(name, 0)) for name in names)
        lines.append(
            f"| {n} | {run} | {examples} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def _write_result(result_file, result):
    # Never a half-written result.
    reproduce_common.write_atomic(result_file, json.dumps(result, indent=2))


def main(argv=None):
    args = build_parser().parse_args(argv)
    paths = reproduce_common.data_files(
        args.data_dir, "imdb", ["imdb_train.jsonl", "imdb_dev.jsonl"]
    )
    if paths is None:
        return 0
    train_path, dev_path = paths
    names = reproduce_common.run_names(args.runs, RUNS)

    import tensorflow as tf

    from keras_linformer.models import learn_vocabulary

    size = settings(args)
    data_dir = os.path.join(args.output_dir, "data")
    os.makedirs(data_dir, exist_ok=True)
    train_jsonl, train_text, train_records = reproduce_common.write_slice(
        train_path, size["max_train"], data_dir
    )
    dev_jsonl, dev_text, dev_records = reproduce_common.write_slice(
        dev_path, size["max_dev"], data_dir
    )
    lengths = sorted(len(r["text"].split()) for r in dev_records)
    print(
        f"IMDB: {len(train_records)} training, {len(dev_records)} dev "
        f"reviews; dev median {lengths[len(lengths) // 2]} words.",
        flush=True,
    )

    start = time.time()
    vocab_file = os.path.join(args.output_dir, "vocabulary.txt")
    if os.path.exists(vocab_file):
        with open(vocab_file, encoding="utf-8") as f:
            vocabulary = [line.rstrip("\n") for line in f]
    else:
        texts = [r["text"] for r in train_records[: size["vocabulary_texts"]]]
        vocabulary = learn_vocabulary(
            tf.data.Dataset.from_tensor_slices(texts).batch(1000),
            vocabulary_size=size["vocabulary_size"],
        )
        reproduce_common.write_atomic(vocab_file, "\n".join(vocabulary) + "\n")
    print(
        f"Shared vocabulary: {len(vocabulary)} word pieces "
        f"({time.time() - start:.0f} s).",
        flush=True,
    )

    sequence_lengths = args.sequence_lengths or (
        [QUICK_SEQUENCE_LENGTH] if args.quick else [512, 1024]
    )
    seeds = args.seeds or ([args.seed] if args.quick else [0, 1])
    if not args.report_only:
        reproduce_common.claim_unfinished(
            run_record(args, name, n, seed, size, train_jsonl)
            for n in sequence_lengths
            for seed in seeds
            for name in names
        )
    for n in sequence_lengths:
        for seed in seeds:
            for name in names:
                run_one(
                    args,
                    name,
                    n,
                    seed,
                    size,
                    vocabulary,
                    train_jsonl,
                    train_text,
                    dev_jsonl,
                    dev_text,
                    len(dev_records),
                )

    results = reproduce_common.finished_results(args.output_dir)
    summary = {
        "task": "IMDB sentiment: masked-LM pretraining, then fine-tuning; "
        "accuracy on imdb_dev.jsonl",
        "quick": args.quick,
        "settings": size,
        "vocabulary_size": len(vocabulary),
        "wall_seconds": time.time() - start,
        "runs": results,
    }
    reproduce_common.write_atomic(
        os.path.join(args.output_dir, "results.json"),
        json.dumps(summary, indent=2),
    )
    text = (
        f"{table(results)}\n\nDev accuracy by review length (mean over "
        "seeds; in brackets, points against the standard model):\n\n"
        f"{length_table(results)}\n\nDifference from the standard model, "
        "review by review, with the standard error from the dev set's size "
        f"(mean over seeds):\n\n{paired_table(results)}"
    )
    reproduce_common.write_atomic(
        os.path.join(args.output_dir, "results.md"), text + "\n"
    )
    print()
    print(text)
    print(
        f"\nWrote {args.output_dir}/results.json and results.md "
        f"({summary['wall_seconds'] / 60:.1f} min)."
    )
    return 0


def run_record(args, name, n, seed, size, train_jsonl):
    """The run's directory and the settings its result records."""
    record = dict(
        model_settings(name, size, n, args.quick),
        size=size,
        seed=seed,
        data=train_jsonl,
    )
    return os.path.join(args.output_dir, f"n{n}", f"seed{seed}", name), record


def run_one(
    args,
    name,
    n,
    seed,
    size,
    vocabulary,
    train_jsonl,
    train_text,
    dev_jsonl,
    dev_text,
    dev_examples,
):
    """Pretrains and fine-tunes one (run, n, seed), or reuses its result."""
    import keras

    from keras_linformer.training import ModelConfig
    from keras_linformer.training import finetune
    from keras_linformer.training import pretrain

    model = model_settings(name, size, n, args.quick)
    run_dir, record = run_record(args, name, n, seed, size, train_jsonl)
    result_file = os.path.join(run_dir, "result.json")
    preset_dir = os.path.join(run_dir, "finetune", "preset")
    previous = reproduce_common.reuse(result_file, record)
    if not previous and args.report_only:
        return
    if previous:
        print(f"== n={n} seed={seed} {name}: reusing {result_file}", flush=True)
        missing = {"accuracy_by_length", "dev_correct"} - set(previous)
        if missing and os.path.isdir(preset_dir):
            # A result from before the length bands or the per-review
            # results: add them once.
            bands, correct = evaluate_dev(
                preset_dir, dev_jsonl, size["batch_size"]
            )
            previous.setdefault("accuracy_by_length", bands)
            previous.setdefault("dev_correct", correct)
            _write_result(result_file, previous)
            keras.backend.clear_session()
        return
    print(f"== n={n} seed={seed} {name}: {describe(model)}", flush=True)
    run_start = time.time()
    pretrain_dir = os.path.join(run_dir, "pretrain")
    pretrained = pretrain(
        [train_text],
        validation_files=[dev_text],
        model=ModelConfig(**model),
        vocabulary=vocabulary,
        mask_rate=0.15,
        **common_training(
            args,
            size,
            size["pretrain_steps"],
            size["pretrain_learning_rate"],
            pretrain_dir,
            seed,
        ),
    )
    keras.backend.clear_session()
    print(f"== n={n} seed={seed} {name}: fine-tuning", flush=True)
    finetuned = finetune(
        train_jsonl,
        dev_jsonl,
        preset=os.path.join(pretrain_dir, "preset"),
        num_classes=2,
        dropout=model["dropout"],
        **common_training(
            args,
            size,
            size["finetune_steps"],
            size["finetune_learning_rate"],
            os.path.join(run_dir, "finetune"),
            seed,
        ),
    )
    keras.backend.clear_session()
    bands, correct = evaluate_dev(preset_dir, dev_jsonl, size["batch_size"])
    keras.backend.clear_session()
    result = {
        "run": name,
        "seed": seed,
        "model": describe(model),
        "sequence_length": n,
        "pretrain_perplexity": pretrained["validation_perplexity"],
        "accuracy": finetuned["validation_accuracy"],
        "dev_examples": dev_examples,
        "pretrain_history": pretrained["history"],
        "finetune_history": finetuned["history"],
        "accuracy_by_length": bands,
        "dev_correct": correct,
        "seconds": time.time() - run_start,
        "config": record,
    }
    os.makedirs(run_dir, exist_ok=True)
    _write_result(result_file, result)


if __name__ == "__main__":
    sys.exit(main())
