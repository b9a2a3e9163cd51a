"""Fine-tuning throughput on IMDB reviews with and without length buckets.

    python -m benchmarks.length_buckets                    # ~15 min, 2 cores
    python -m benchmarks.length_buckets --steps 10 --max-texts 400

Fine-tunes a text classifier (2 layers, width 128, 4 heads, as in
`reproduce_imdb.py`) with `model.fit` on real reviews, in one process,
and prints examples per second for every cell, measured side by side:

- models: Linformer (k = 128, the backbone's default projection unless
  `--projection` says otherwise) and the
  same-size standard Transformer (keras_hub `RobertaBackbone`);
- `length_buckets=1` (every batch padded to n, as before bucketing) and
  `length_buckets=8` (each batch padded to the smallest multiple of n / 8
  that holds its longest review, `keras_linformer.training.data`);
- short reviews (those that fit in 256 positions) at n = 256 and 1024: the
  cost of a larger n on the same texts;
- all reviews at n = 512 and 1024.

Each cell runs `--warmup` untimed steps (graph tracing for the shapes it
meets), then `--steps` timed ones, on the same seeded stream of batches;
the time is the sum of the train steps' wall times (a Keras callback).
`--out FILE` also writes the results as JSON.
"""

import argparse
import json
import os
import sys
import time

import keras

from benchmarks import IMDB_TRAIN
from keras_linformer.projections import DEFAULT_PROJECTION
from keras_linformer.projections import PROJECTIONS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=IMDB_TRAIN)
    parser.add_argument("--max-texts", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=40, help="Timed steps.")
    parser.add_argument("--warmup", type=int, default=12)
    parser.add_argument("--projected-dim", type=int, default=128)
    parser.add_argument(
        "--projection",
        choices=PROJECTIONS,
        default=DEFAULT_PROJECTION,
        help="Linformer's E (default: the backbone's, %(default)s).",
    )
    parser.add_argument("--short-length", type=int, default=256)
    parser.add_argument("--out", default=None, help="Also write JSON here.")
    return parser.parse_args(argv)


class StepTimer(keras.callbacks.Callback):
    """Records the wall time of every train step."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def measure(texts, labels, vocabulary, attention, n, buckets, args):
    """Examples per second of `fit` on one cell."""
    import keras_hub

    from keras_linformer.models import LinformerBackbone
    from keras_linformer.models import task_classes
    from keras_linformer.training import data

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    size = dict(
        vocabulary_size=len(vocabulary),
        num_layers=2,
        num_heads=4,
        hidden_dim=128,
        intermediate_dim=512,
        max_sequence_length=n,
    )
    if attention == "standard":
        backbone = keras_hub.models.RobertaBackbone(**size)
    else:
        backbone = LinformerBackbone(
            projected_dim=args.projected_dim,
            projection=args.projection,
            **size,
        )
    classes = task_classes(type(backbone))
    preprocessor = classes.text_classifier_preprocessor(
        classes.tokenizer(vocabulary=vocabulary), sequence_length=n
    )
    classifier = classes.text_classifier(backbone, num_classes=2)
    classifier.compile(
        optimizer=keras.optimizers.AdamW(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    dataset = data.classification_dataset(
        texts, labels, preprocessor, args.batch_size, 0, True, buckets
    )
    # Warm-up: traces the train step (`reduce_retracing` generalizes the
    # length after the first few bucket shapes).
    classifier.fit(dataset, steps_per_epoch=args.warmup, epochs=1, verbose=0)
    # Timed: the train steps themselves (each pulls its batch from the
    # prefetched pipeline), not `fit`'s start-up, which varies by a second.
    timer = StepTimer()
    classifier.fit(
        dataset.skip(args.warmup),
        steps_per_epoch=args.steps,
        epochs=1,
        verbose=0,
        callbacks=[timer],
    )
    seconds = sum(timer.seconds)
    return args.steps * args.batch_size / seconds


def main(argv=None):
    args = parse_args(argv)
    if not os.path.exists(args.data):
        print(f"Skipping: {args.data} not found; give --data.", file=sys.stderr)
        return 0
    import tensorflow as tf

    from keras_linformer.models import LinformerBackbone
    from keras_linformer.models import learn_vocabulary
    from keras_linformer.models import task_classes
    from keras_linformer.training.data import read_labeled

    texts, labels = read_labeled(args.data)
    texts, labels = texts[: args.max_texts], labels[: args.max_texts]
    vocabulary = learn_vocabulary(
        tf.data.Dataset.from_tensor_slices(texts).batch(1000),
        vocabulary_size=8000,
    )
    tokenizer = task_classes(LinformerBackbone).tokenizer(vocabulary=vocabulary)
    # [CLS] and [SEP] take two positions.
    lengths = [int(tf.size(tokenizer(text))) + 2 for text in texts]
    short = [
        i for i, length in enumerate(lengths) if length <= args.short_length
    ]
    print(
        f"{len(texts)} reviews, median {sorted(lengths)[len(lengths) // 2]} "
        f"positions; {len(short)} fit in {args.short_length}.",
        flush=True,
    )
    sets = {
        "short": ([texts[i] for i in short], [labels[i] for i in short]),
        "all": (texts, labels),
    }
    cells = [
        ("short", args.short_length),
        ("short", 1024),
        ("all", 512),
        ("all", 1024),
    ]
    results = []
    for texts_name, n in cells:
        for attention in ("standard", "linformer"):
            for buckets in (1, 8):
                rate = measure(
                    *sets[texts_name], vocabulary, attention, n, buckets, args
                )
                results.append(
                    dict(
                        texts=texts_name,
                        n=n,
                        attention=attention,
                        length_buckets=buckets,
                        examples_per_second=rate,
                    )
                )
                print(
                    f"{texts_name:>5} n={n:<5} {attention:<9} "
                    f"buckets={buckets}: {rate:7.1f} examples/s",
                    flush=True,
                )
    print()
    print(table(results, args.short_length))
    if args.out:
        from keras_linformer.artifacts import write_text_atomic

        write_text_atomic(
            args.out,
            json.dumps(dict(settings=vars(args), results=results), indent=2),
        )
    return 0


def table(results, short_length):
    rate = {
        (r["texts"], r["n"], r["attention"], r["length_buckets"]): r[
            "examples_per_second"
        ]
        for r in results
    }
    lines = [
        "| texts | n | model | examples/s, padded to n | with buckets | "
        "speed-up |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for texts, n, attention, _ in sorted(rate):
        if _ != 1:
            continue
        before, after = (
            rate[texts, n, attention, 1],
            rate[texts, n, attention, 8],
        )
        lines.append(
            f"| {texts} | {n} | {attention} | {before:.1f} | {after:.1f} | "
            f"{after / before:.2f}x |"
        )
    lines.append("")
    for attention in ("standard", "linformer"):
        for buckets in (1, 8):
            cost = (
                rate["short", short_length, attention, buckets]
                / rate["short", 1024, attention, buckets]
            )
            lines.append(
                f"Short reviews, {attention}, buckets={buckets}: n = 1024 costs "
                f"{cost:.2f}x what n = {short_length} costs."
            )
    lines.append(
        "All reviews at n = 1024 with buckets: Linformer / standard "
        f"examples per second = "
        f"{rate['all', 1024, 'linformer', 8] / rate['all', 1024, 'standard', 8]:.2f}."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
