"""Masked-LM perplexity of Linformer vs a standard Transformer on WikiText-2.

Reproduces, at a size that trains on a few CPU cores, the paper's claim
(Wang et al. 2020, section 5.1) that Linformer with n = 512 reaches nearly
the masked-LM perplexity of a standard Transformer already at k = 128, and
that sharing the projections (headwise, key-value, layerwise) costs little.

Every run uses the same model size, data, steps, optimizer, seed and one
shared WordPiece vocabulary learned once from the training text; only the
attention differs. Each run is `keras_linformer.training.pretrain` in its
own directory, so an interrupted run resumes from its checkpoints,
and a finished one is reused when the script is run again (a run of other
settings is refused in a directory that holds one).

    python examples/reproduce_perplexity.py                 # full (~75 min, 2 cores)
    python examples/reproduce_perplexity.py --quick         # a few minutes
    python examples/reproduce_perplexity.py --runs standard,k128-headwise

Writes `results.json`, `results.md` (the table) and `validation_curves.png`
into `--output-dir`.
"""

import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reproduce_common  # noqa: E402 (a sibling file, not a package)

# name -> (attention, k as a fraction of n, sharing, projection). At the full
# size n = 512, so n/8 = 64 and n/4 = 128.
RUNS = {
    "standard": ("standard", None, None, None),
    "k128-headwise": ("linformer", 4, "headwise", "linear"),
    "k64-headwise": ("linformer", 8, "headwise", "linear"),
    "k128-none": ("linformer", 4, "none", "linear"),
    "k128-key_value": ("linformer", 4, "key_value", "linear"),
    "k128-layerwise": ("linformer", 4, "layerwise", "linear"),
    "k128-mean": ("linformer", 4, "headwise", "mean"),
    "k128-max": ("linformer", 4, "headwise", "max"),
    "k128-conv": ("linformer", 4, "headwise", "conv"),
    # "sliding_max" is "max" on full blocks; it differs on shorter ones.
    "k128-sliding": ("linformer", 4, "headwise", "sliding_max"),
}
# The settings of a run that make its `ModelConfig`; the others are
# `pretrain`'s keyword arguments.
MODEL_SETTINGS = (
    "attention",
    "vocabulary_size",
    "num_layers",
    "num_heads",
    "hidden_dim",
    "intermediate_dim",
    "sequence_length",
    "projected_dim",
    "projection",
    "sharing",
    "dropout",
)

# Sizes. Full: ~1.5 M backbone parameters, n = 512, 600 steps of 16
# sequences (~4.9 M tokens, about two passes over WikiText-2 train).
FULL = dict(
    sequence_length=512,
    num_layers=2,
    num_heads=4,
    hidden_dim=128,
    intermediate_dim=512,
    vocabulary_size=8000,
    batch_size=16,
    steps=600,
    evaluations=6,
    learning_rate=1e-3,
    max_lines=None,
    max_validation_lines=None,
)
QUICK = dict(
    sequence_length=64,
    num_layers=1,
    num_heads=2,
    hidden_dim=32,
    intermediate_dim=64,
    vocabulary_size=1000,
    batch_size=8,
    steps=6,
    evaluations=2,
    learning_rate=1e-3,
    max_lines=400,
    max_validation_lines=60,
)


def build_parser():
    return reproduce_common.build_parser(
        __doc__.split("\n\n")[0],
        RUNS,
        FULL,
        QUICK,
        data_help="wikitext-2/train.txt and valid.txt",
        output_dir="reproduce_perplexity",
    )


def settings(args):
    return reproduce_common.settings(args, FULL, QUICK)


def read_slice(path, max_lines, directory):
    """`path` itself, or its first `max_lines` non-empty lines as a file."""
    if not max_lines:
        return path
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f if line.strip()][:max_lines]
    out = os.path.join(directory, os.path.basename(path))
    with open(out, "w", encoding="utf-8") as f:
        f.writelines(lines)
    return out


def run_config(name, size, args, run_dir, train_file, valid_file):
    """One run's settings, flat: its `ModelConfig` fields (`MODEL_SETTINGS`)
    and `pretrain`'s keyword arguments (`run_pretrain`)."""
    from keras_linformer.length_buckets import DEFAULT_LENGTH_BUCKETS

    attention, k_fraction, sharing, projection = RUNS[name]
    n = size["sequence_length"]
    evaluations = max(1, size["evaluations"])
    return dict(
        # data
        files=[train_file],
        validation_files=[valid_file],
        mask_rate=0.15,
        vocabulary_size=size["vocabulary_size"],
        # model
        attention=attention,
        num_layers=size["num_layers"],
        num_heads=size["num_heads"],
        hidden_dim=size["hidden_dim"],
        intermediate_dim=size["intermediate_dim"],
        sequence_length=n,
        projected_dim=n // k_fraction if k_fraction else n // 4,
        projection=projection or "linear",
        sharing=sharing or "headwise",
        dropout=0.1,
        # training: `evaluations` epochs make the points of the curve.
        batch_size=size["batch_size"],
        epochs=evaluations,
        steps_per_epoch=max(1, size["steps"] // evaluations),
        learning_rate=size["learning_rate"],
        output_dir=run_dir,
        seed=args.seed,
        strategy="one_device",
        checkpoint_every=max(1, size["steps"] // evaluations),
        length_buckets=DEFAULT_LENGTH_BUCKETS,
        verbose=args.verbose,
    )


def run_pretrain(config, vocabulary):
    """`keras_linformer.training.pretrain` with the settings of
    `run_config` and the shared vocabulary."""
    from keras_linformer.training import ModelConfig
    from keras_linformer.training import pretrain

    settings = dict(config)
    model = ModelConfig(**{key: settings.pop(key) for key in MODEL_SETTINGS})
    files = settings.pop("files")
    return pretrain(files, model=model, vocabulary=vocabulary, **settings)


def describe(config):
    if config["attention"] == "standard":
        return "standard Transformer (RobertaBackbone)"
    return (
        f"Linformer k={config['projected_dim']}, sharing={config['sharing']}, "
        f"projection={config['projection']}"
    )


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, result in results.items():
        losses = result["history"].get("val_loss", [])
        steps = [
            result["steps_per_epoch"] * (i + 1) for i in range(len(losses))
        ]
        ppl = [math.exp(min(loss, 700.0)) for loss in losses]
        ax.plot(steps, ppl, marker="o", label=name)
    ax.set_xlabel("training step")
    ax.set_ylabel("validation perplexity (masked tokens)")
    ax.set_yscale("log")
    ax.set_title("WikiText-2 masked LM: Linformer vs standard attention")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    # Through a temporary file, as the tables: never half-written.
    partial = path + ".partial"
    fig.savefig(partial, dpi=100, format="png")
    plt.close(fig)
    os.replace(partial, path)


def table(results, reference="standard", sharing_reference="k128-none"):
    lines = [
        "| run | model | val perplexity | vs standard | vs k128-none "
        "| params | minutes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]

    def relative(result, ref_name):
        if ref_name not in results:
            return "n/a"
        ref = results[ref_name]["validation_perplexity"]
        return f"{100 * (result['validation_perplexity'] / ref - 1):+.1f}%"

    for name, result in results.items():
        lines.append(
            f"| {name} | {result['model']} | "
            f"{result['validation_perplexity']:.2f} | "
            f"{relative(result, reference)} | "
            f"{relative(result, sharing_reference)} | "
            f"{result['backbone_parameters']:,} | "
            f"{result['seconds'] / 60:.1f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    args = build_parser().parse_args(argv)
    paths = reproduce_common.data_files(
        args.data_dir, "wikitext-2", ["train.txt", "valid.txt"]
    )
    if paths is None:
        return 0
    train_path, valid_path = paths
    names = reproduce_common.run_names(args.runs, RUNS)

    import keras
    import tensorflow as tf

    from keras_linformer.models import learn_vocabulary
    from keras_linformer.training import data

    size = settings(args)
    os.makedirs(args.output_dir, exist_ok=True)
    data_dir = os.path.join(args.output_dir, "data")
    os.makedirs(data_dir, exist_ok=True)
    train_file = read_slice(train_path, size["max_lines"], data_dir)
    valid_file = read_slice(valid_path, size["max_validation_lines"], data_dir)

    start = time.time()
    vocab_file = os.path.join(args.output_dir, "vocabulary.txt")
    if os.path.exists(vocab_file):
        with open(vocab_file, encoding="utf-8") as f:
            vocabulary = [line.rstrip("\n") for line in f]
    else:
        keras.utils.set_random_seed(args.seed)
        lines = data.read_text_lines([train_file])
        vocabulary = learn_vocabulary(
            tf.data.Dataset.from_tensor_slices(lines).batch(1000),
            vocabulary_size=size["vocabulary_size"],
        )
        reproduce_common.write_atomic(vocab_file, "\n".join(vocabulary) + "\n")
    print(
        f"Shared vocabulary: {len(vocabulary)} word pieces "
        f"({time.time() - start:.0f} s).",
        flush=True,
    )

    runs = {}
    for name in names:
        run_dir = os.path.join(args.output_dir, name)
        config = run_config(name, size, args, run_dir, train_file, valid_file)
        record = {
            key: value
            for key, value in config.items()
            # Bucketing only removes padding: runs before and after it
            # compare as the same run.
            if key not in ("verbose", "output_dir", "length_buckets")
        }
        runs[name] = run_dir, config, record
    reproduce_common.claim_unfinished(
        (run_dir, record) for run_dir, _, record in runs.values()
    )

    results = {}
    for name, (run_dir, config, record) in runs.items():
        result_file = os.path.join(run_dir, "result.json")
        previous = reproduce_common.reuse(result_file, record)
        if previous:
            print(f"== {name}: reusing {result_file}", flush=True)
            results[name] = previous
            continue
        print(f"== {name}: {describe(config)}", flush=True)
        run_start = time.time()
        metrics = run_pretrain(config, vocabulary)
        result = {
            "model": describe(config),
            "validation_perplexity": metrics["validation_perplexity"],
            "validation_loss": metrics["validation_loss"],
            "validation_accuracy": metrics["validation_accuracy"],
            "steps": metrics["steps"],
            "steps_per_epoch": config["steps_per_epoch"],
            "history": metrics["history"],
            "backbone_parameters": _backbone_parameters(run_dir),
            "seconds": time.time() - run_start,
            "config": record,
        }
        reproduce_common.write_atomic(result_file, json.dumps(result, indent=2))
        results[name] = result
        keras.backend.clear_session()

    summary = {
        "task": "WikiText-2 masked LM, validation perplexity on valid.txt",
        "quick": args.quick,
        "settings": size,
        "vocabulary_size": len(vocabulary),
        "train_file": train_file,
        "validation_file": valid_file,
        "wall_seconds": time.time() - start,
        "runs": results,
    }
    reproduce_common.write_atomic(
        os.path.join(args.output_dir, "results.json"),
        json.dumps(summary, indent=2),
    )
    text = table(results)
    reproduce_common.write_atomic(
        os.path.join(args.output_dir, "results.md"), text + "\n"
    )
    plot(results, os.path.join(args.output_dir, "validation_curves.png"))
    print()
    print(text)
    print(
        f"\nWrote {args.output_dir}/results.json, results.md and "
        f"validation_curves.png ({summary['wall_seconds'] / 60:.1f} min)."
    )
    return 0


def _backbone_parameters(run_dir):
    """The backbone's parameter count, from the saved preset's metadata."""
    with open(os.path.join(run_dir, "preset", "metadata.json")) as f:
        return json.load(f)["parameter_count"]


if __name__ == "__main__":
    sys.exit(main())
