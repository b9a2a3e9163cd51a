"""`sliding_max`'s two exact ways, the gather and the table, side by side.

    python -m benchmarks.sliding_max                       # ~3 min, 2 cores
    python -m benchmarks.sliding_max --ns 4096 --lengths 256,4096 --repeats 3

`SequenceProjection(projection="sliding_max")` computes its k windowed
maxima in one of two ways, both exact: gathering the k windows of w = n / k
rows (n rows read whatever the batch length L is), or a sparse table of
running maxima (about `log2(w) L` rows). The layer takes the table where
`log2(w) L < 1.5 n`. This benchmark times a compiled forward and backward pass
of each way at every batch length L, in one process, with the LRA model's
shapes (batch 32, 2 heads of 32 features, k = 256), and prints the seconds,
the ratio gather / table and the way the layer chooses, so that the rule
can be read against the measurement. Before timing, it checks that the two
ways give the same projection. `--out FILE` also writes the figures as JSON.
"""

import argparse
import json
import sys
import time

import numpy as np


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ns", default="4096,16384")
    parser.add_argument(
        "--lengths",
        default="256,512,1024,2048,3072,4096,6144,16384",
        help="Batch lengths L (those above n are skipped).",
    )
    parser.add_argument("--projected-dim", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-heads", type=int, default=2)
    parser.add_argument("--head-dim", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None, help="Also write JSON here.")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1. Received: {args.repeats}")
    return args


def _csv_ints(text):
    return [int(value) for value in text.split(",") if value]


def time_ways(layer, inputs, padding_mask, repeats):
    """Seconds (median of `repeats`) of a compiled forward and backward
    pass of each way, after checking that both give the same projection."""
    import tensorflow as tf

    length = int(inputs.shape[1])
    real = tf.cast(padding_mask, "bool")
    ways = {
        "gather": layer._sliding_windows_by_gather,
        "table": layer._sliding_windows_by_table,
    }
    outputs = {name: way(inputs, real, length)[0] for name, way in ways.items()}
    if not np.array_equal(outputs["gather"], outputs["table"]):
        raise AssertionError(f"The two ways differ at L = {length}.")
    seconds = {}
    for name, way in ways.items():

        @tf.function
        def step(x, way=way):
            with tf.GradientTape() as tape:
                tape.watch(x)
                projected, _ = way(x, real, length)
                loss = tf.reduce_sum(projected * projected)
            return tape.gradient(loss, x)

        step(inputs)  # trace
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            step(inputs).numpy()
            times.append(time.perf_counter() - start)
        seconds[name] = float(np.median(times))
    return seconds


def run(args):
    import tensorflow as tf

    from keras_linformer.layers import SequenceProjection

    rng = np.random.default_rng(0)
    rows = []
    for n in _csv_ints(args.ns):
        layer = SequenceProjection(
            n, args.projected_dim, "sliding_max", num_heads=args.num_heads
        )
        for length in _csv_ints(args.lengths):
            if length > n:
                continue
            shape = (args.batch_size, length, args.num_heads, args.head_dim)
            inputs = tf.constant(rng.normal(size=shape).astype("float32"))
            # Reviews of varied length, the longest filling the batch.
            real_lengths = rng.integers(
                length // 2, length + 1, args.batch_size
            )
            real_lengths[0] = length
            padding_mask = tf.constant(
                np.arange(length)[None, :] < real_lengths[:, None]
            )
            seconds = time_ways(layer, inputs, padding_mask, args.repeats)
            rows.append(
                {
                    "n": n,
                    "length": length,
                    "gather_seconds": seconds["gather"],
                    "table_seconds": seconds["table"],
                    "gather_over_table": seconds["gather"] / seconds["table"],
                    "layer_uses": (
                        "table" if layer._table_is_cheaper(length) else "gather"
                    ),
                }
            )
            print(format_row(rows[-1]), flush=True)
    return rows


def format_row(row):
    return (
        f"| {row['n']} | {row['length']} | {row['gather_seconds']:.4f} | "
        f"{row['table_seconds']:.4f} | {row['gather_over_table']:.2f} | "
        f"{row['layer_uses']} |"
    )


def main(argv=None):
    args = parse_args(argv)
    print(
        f"sliding_max, forward and backward: batch {args.batch_size}, "
        f"{args.num_heads} heads of {args.head_dim}, k = {args.projected_dim}, "
        f"median of {args.repeats}"
    )
    print("| n | L | gather (s) | table (s) | gather / table | layer uses |")
    print("| --- | --- | --- | --- | --- | --- |")
    rows = run(args)
    if args.out:
        from keras_linformer.artifacts import write_text_atomic

        write_text_atomic(
            args.out,
            json.dumps({"settings": vars(args), "rows": rows}, indent=1),
        )
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
