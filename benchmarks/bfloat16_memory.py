"""Where the memory goes under `mixed_bfloat16`, part by part, on this CPU.

    python -m benchmarks.bfloat16_memory               # ~2 min, 2 cores
    python -m benchmarks.bfloat16_memory --n 8192 --k 256

Prints the peak tensor memory (TensorFlow's allocator: exact bytes of the
tensors of one forward pass, after a warm-up at n / 8) of each part of a
one-layer Linformer at base widths, in float32 and in `mixed_bfloat16`, side
by side in one process, and the bfloat16 / float32 ratio of each:

- `fused_matmul_bias`: one `tf.matmul` + `tf.nn.bias_add` of (n x 768) by
  (768 x 3072), which TensorFlow fuses into one oneDNN kernel
  (`_MklNativeFusedMatMul`);
- `matmul`: the same matmul without the bias (not fused);
- `feedforward_rows`: a `keras.layers.Dense(3072, activation="gelu")` on the
  (n x 768) rows, as `LinformerEncoder` runs it in float32;
- `feedforward_3d`: the same on (1, n, 768), as it runs in half precision;
- `layer_normalization`: `keras.layers.LayerNormalization` on (1, n, 768);
- `linformer_attention`: `LinformerAttention` (12 heads, k) on (1, n, 768);
- `backbone`: `LinformerBackbone` (1 layer, layerwise sharing, linear).

Each part is measured `--runs` times (the allocator peak moves a few
percent with TensorFlow's executor order); the median is printed, with the
spread. `--out FILE` also writes the results as JSON.
"""

import argparse
import json
import statistics
import sys

import keras
import tensorflow as tf

from benchmarks import backends
from benchmarks import memory as memory_lib
from benchmarks import worker
from keras_linformer.layers import LinformerAttention

HIDDEN, HEADS, INTERMEDIATE = 768, 12, 3072
POLICIES = ("float32", "mixed_bfloat16")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--k", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default=None, help="Also write JSON here.")
    return parser.parse_args(argv)


def _part(name, n, k, policy):
    """`(compiled function, input at length L)` of one part under one
    dtype policy; the function takes any length."""
    policy = keras.DTypePolicy(policy)
    dtype = policy.compute_dtype
    rows = tf.TensorSpec((None, HIDDEN), dtype)
    sequence = tf.TensorSpec((1, None, HIDDEN), dtype)
    if name in ("fused_matmul_bias", "matmul"):
        kernel = tf.cast(tf.random.normal((HIDDEN, INTERMEDIATE)), dtype)
        bias = tf.cast(tf.random.normal((INTERMEDIATE,)), dtype)

        def fn(x):
            y = tf.matmul(x, kernel)
            return tf.nn.bias_add(y, bias) if name == "fused_matmul_bias" else y

        return tf.function(fn, input_signature=[rows]), _rows(dtype)
    if name in ("feedforward_rows", "feedforward_3d"):
        layer = keras.layers.Dense(
            INTERMEDIATE, activation="gelu", dtype=policy
        )
        if name == "feedforward_rows":
            return tf.function(layer, input_signature=[rows]), _rows(dtype)
        fn = tf.function(layer, input_signature=[sequence])
        return fn, _sequence(dtype)
    if name == "layer_normalization":
        layer = keras.layers.LayerNormalization(dtype=policy)
        return tf.function(layer, input_signature=[sequence]), _sequence(dtype)
    if name == "linformer_attention":
        layer = LinformerAttention(HEADS, HIDDEN // HEADS, n, k, dtype=policy)
        fn = tf.function(lambda x: layer(x, x), input_signature=[sequence])
        return fn, _sequence(dtype)
    if name == "backbone":
        # The attention benchmark's model with the paper's E: layerwise
        # sharing, linear projection.
        task = {
            "projection": "linear",
            "vocabulary_size": 8192,
            "num_layers": 1,
            "num_heads": HEADS,
            "hidden_dim": HIDDEN,
            "intermediate_dim": INTERMEDIATE,
            "n": n,
            "dropout": 0.1,
            "dtype": policy.name,
        }
        model = worker.build_backbone("linformer", task, projected_dim=k)
        spec = tf.TensorSpec((1, None), tf.int32)
        fn = tf.function(
            lambda ids: model(
                {"token_ids": ids, "padding_mask": tf.ones_like(ids)}
            ),
            input_signature=[spec],
        )
        return fn, lambda length: tf.zeros((1, length), tf.int32)
    raise ValueError(f"Unknown part {name!r}")


def _rows(dtype):
    return lambda length: tf.cast(tf.random.normal((length, HIDDEN)), dtype)


def _sequence(dtype):
    return lambda length: tf.cast(tf.random.normal((1, length, HIDDEN)), dtype)


PARTS = (
    "fused_matmul_bias",
    "matmul",
    "feedforward_rows",
    "feedforward_3d",
    "layer_normalization",
    "linformer_attention",
    "backbone",
)


def measure(name, n, k, policy, runs):
    """Allocator peaks (bytes) of `runs` full-length forward passes."""
    fn, make_input = _part(name, n, k, policy)
    fn(make_input(max(n // 8, 16)))  # traces; the runtime warms up
    full = make_input(n)
    allocator = backends.current().allocator()
    peaks = []
    for _ in range(runs):
        meter = memory_lib.PeakMeter(allocator)
        meter.start()
        fn(full).numpy()
        peaks.append(meter.stop()["allocator_bytes"])
    return peaks


def main(argv=None):
    args = parse_args(argv)
    if not backends.has_allocator_statistics(backends.current()):
        print(
            "TensorFlow has no allocator statistics on this processor "
            "(get_memory_info('CPU:0') raises 'Allocator stats not "
            "available', as on AMD EPYC); nothing to measure.",
            file=sys.stderr,
        )
        return 1
    results = []
    print(
        f"Peak tensor memory of one forward pass (MiB, median of "
        f"{args.runs}), n = {args.n}, k = {args.k}, batch 1, base widths"
    )
    print(f"{'part':<22} {'float32':>16} {'mixed_bfloat16':>16} {'ratio':>6}")
    for name in PARTS:
        row = {"part": name}
        for policy in POLICIES:
            peaks = measure(name, args.n, args.k, policy, args.runs)
            row[policy] = {
                "median_bytes": statistics.median(peaks),
                "runs_bytes": peaks,
            }
        ratio = (
            row["mixed_bfloat16"]["median_bytes"]
            / row["float32"]["median_bytes"]
        )
        row["ratio"] = ratio
        results.append(row)
        cells = []
        for policy in POLICIES:
            peaks = row[policy]["runs_bytes"]
            cells.append(
                f"{row[policy]['median_bytes'] / 2**20:.1f} "
                f"({min(peaks) / 2**20:.0f}-{max(peaks) / 2**20:.0f})"
            )
        print(f"{name:<22} {cells[0]:>16} {cells[1]:>16} {ratio:>6.2f}")
    if args.out:
        from keras_linformer.artifacts import write_text_atomic

        write_text_atomic(
            args.out,
            json.dumps(
                {"n": args.n, "k": args.k, "runs": args.runs, "parts": results},
                indent=2,
            ),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
