"""Latency and throughput of text exports on TF Serving's execution path.

    python -m benchmarks.serving_latency              # ~10 min, 2 cores
    python -m benchmarks.serving_latency --quick      # ~2 min

Exports a Linformer text classifier and the same-size standard Transformer
(keras_hub `RobertaBackbone`) at n = 512 and n = 1024 (random weights: the
cost does not depend on them), loads each SavedModel the way the model
server does (the TF1 loader into a Session, a callable on the SignatureDef's
tensor names), and measures, side by side in one run:

- latency p50 / p99 at batch 1, for a short text (about 30 words) and a long
  one (about 600 words), through `serving_default` (text in; the request is
  padded to its longest text rounded up to 64);
- the same texts through `predict_ids` with the ids padded to n: what the
  text signature cost before it stopped padding to n (without the
  tokenization, so the comparison favours the old way);
- throughput (texts per second) at batch 8 and 32 of long texts.

Texts are IMDB training reviews when the data directory has them, else
sentences from the built-in corpus. `--out FILE` also writes JSON.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

from benchmarks import IMDB_TRAIN
from keras_linformer.projections import DEFAULT_PROJECTION
from keras_linformer.projections import PROJECTIONS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--num-layers", type=int, default=4)
    parser.add_argument("--hidden-dim", type=int, default=256)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--projected-dim", type=int, default=128)
    parser.add_argument(
        "--projection",
        choices=PROJECTIONS,
        default=DEFAULT_PROJECTION,
        help="Linformer's E (default: the backbone's, %(default)s).",
    )
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--out", default=None)
    return parser.parse_args(argv)


def texts_of_length(words, count=32):
    """`count` texts of about `words` words (IMDB reviews where available)."""
    if os.path.exists(IMDB_TRAIN):
        with open(IMDB_TRAIN, encoding="utf-8") as f:
            pool = [json.loads(line)["text"].split() for line in f][:3000]
        pool = " ".join(" ".join(p) for p in pool).split()
    else:
        from keras_linformer.training.data import DEFAULT_CORPUS

        with open(DEFAULT_CORPUS, encoding="utf-8") as f:
            pool = f.read().split()
    return [" ".join(pool[i * words : (i + 1) * words]) for i in range(count)]


def export(attention, n, vocabulary, args, base_dir):
    import keras
    import keras_hub

    from keras_linformer.export import export_for_serving
    from keras_linformer.models import LinformerBackbone
    from keras_linformer.models import task_classes

    keras.utils.set_random_seed(0)
    size = dict(
        vocabulary_size=len(vocabulary),
        num_layers=args.num_layers,
        num_heads=args.num_heads,
        hidden_dim=args.hidden_dim,
        intermediate_dim=4 * args.hidden_dim,
        max_sequence_length=n,
        dropout=0.0,
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
    tokenizer = classes.tokenizer(vocabulary=vocabulary)
    classifier = classes.text_classifier(
        backbone,
        num_classes=2,
        preprocessor=classes.text_classifier_preprocessor(
            tokenizer, sequence_length=n
        ),
    )
    path = export_for_serving(
        classifier, base_dir=base_dir, name=f"{attention}_{n}", warmup=False
    )
    return path, classifier.preprocessor


class SessionModel:
    """A SavedModel as the model server runs it."""

    def __init__(self, path):
        import tensorflow as tf
        from tensorflow.core.protobuf import config_pb2

        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        with self.graph.as_default():
            meta_graph = tf.compat.v1.saved_model.loader.load(
                self.session, ["serve"], path
            )
        self.callables = {}
        for name, signature in meta_graph.signature_def.items():
            if name.startswith("__"):
                continue
            options = config_pb2.CallableOptions()
            inputs = sorted(signature.inputs)
            options.feed.extend(signature.inputs[i].name for i in inputs)
            options.fetch.append(signature.outputs["probabilities"].name)
            self.callables[name] = (
                inputs,
                self.session._make_callable_from_options(options),
            )

    def __call__(self, signature, **inputs):
        names, run = self.callables[signature]
        return run(*[inputs[name] for name in names])


def latencies(call, count):
    call()  # the first run of a shape allocates
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * np.percentile(times, 50), 1000 * np.percentile(times, 99)


def measure(model, preprocessor, short, long, args):
    """Latencies of one export, and its throughput on long texts."""
    import tensorflow as tf

    def text_call(texts):
        text = np.array(texts, dtype=object)
        return lambda: model("serving_default", text=text)

    def padded_call(texts):
        x = preprocessor(tf.constant(texts))
        ids = {k: x[k].numpy().astype(np.int32) for k in x}
        return lambda: model("predict_ids", **ids)

    row = {}
    for label, texts in (("short", short), ("long", long)):
        row[f"{label}_text_ms"] = latencies(text_call(texts[:1]), args.requests)
        row[f"{label}_padded_to_n_ms"] = latencies(
            padded_call(texts[:1]), args.requests
        )
    for batch in (8, 32):
        p50, _ = latencies(text_call(long[:batch]), args.batches)
        row[f"long_batch{batch}_texts_per_s"] = batch / (p50 / 1000)
    return row


def main(argv=None):
    args = parse_args(argv)
    if args.quick:
        args.num_layers, args.hidden_dim, args.requests, args.batches = (
            2,
            128,
            10,
            2,
        )
    import tensorflow as tf

    from keras_linformer.models import learn_vocabulary

    short, long = texts_of_length(30), texts_of_length(600)
    vocabulary = learn_vocabulary(
        tf.data.Dataset.from_tensor_slices(long).batch(32),
        vocabulary_size=8000,
    )
    results = []
    with tempfile.TemporaryDirectory() as base_dir:
        for n in (512, 1024):
            for attention in ("linformer", "standard"):
                path, preprocessor = export(
                    attention, n, vocabulary, args, base_dir
                )
                row = dict(attention=attention, n=n)
                row.update(
                    measure(SessionModel(path), preprocessor, short, long, args)
                )
                results.append(row)
                print(json.dumps(row), flush=True)
    print()
    print(table(results, args))
    if args.out:
        from keras_linformer.artifacts import write_text_atomic

        write_text_atomic(
            args.out,
            json.dumps(dict(settings=vars(args), results=results), indent=2),
        )
    return 0


def table(results, args):
    lines = [
        f"{args.num_layers} layers, width {args.hidden_dim}, "
        f"{args.num_heads} heads, k = {args.projected_dim}, "
        f"{args.projection} E; milliseconds "
        "p50 / p99 at batch 1; texts per second at batch 8 and 32 (long).",
        "",
        "| n | model | short text | short, padded to n | speed-up | long text "
        "| long, padded to n | long x8 /s | long x32 /s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:

        def ms(key, r=r):
            return f"{r[key][0]:.1f} / {r[key][1]:.1f}"

        speedup = r["short_padded_to_n_ms"][0] / r["short_text_ms"][0]
        lines.append(
            f"| {r['n']} | {r['attention']} | {ms('short_text_ms')} | "
            f"{ms('short_padded_to_n_ms')} | {speedup:.1f}x | "
            f"{ms('long_text_ms')} | {ms('long_padded_to_n_ms')} | "
            f"{r['long_batch8_texts_per_s']:.1f} | "
            f"{r['long_batch32_texts_per_s']:.1f} |"
        )
    by = {(r["attention"], r["n"]): r for r in results}
    for batch in (8, 32):
        key = f"long_batch{batch}_texts_per_s"
        ratio = by["linformer", 1024][key] / by["standard", 1024][key]
        lines.append(
            f"\nn = 1024, long texts, batch {batch}: Linformer / standard "
            f"throughput = {ratio:.2f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
