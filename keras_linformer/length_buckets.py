"""Padding a batch only as far as its longest row needs.

Training batches and serving requests are packed to n, then cut back to the
smallest of a few fixed lengths that holds their longest row. Only padding
is removed, so a model's outputs are the ones it gives on the batch padded
to n: Linformer's matrix projections use the first L rows of E, pooling and
convolution pad back to n inside the layer, and standard attention masks the
padding either way. Rounding up to multiples of a step bounds the number of
shapes that `tf.function`, XLA and `MirroredStrategy` trace.

Example:

>>> bucket_lengths(512, 8)
[64, 128, 192, 256, 320, 384, 448, 512]
"""

# Training and evaluation pad to the smallest multiple of n / 8 that fits
# (declared beside the command line's other defaults).
from keras_linformer_options import DEFAULT_LENGTH_BUCKETS

# Serving signatures pad a request to the smallest multiple of 64 that fits.
SERVING_LENGTH_STEP = 64


def bucket_lengths(sequence_length, length_buckets=DEFAULT_LENGTH_BUCKETS):
    """The lengths batches are cut to: multiples of ceil(n / buckets) below
    n, then n. `length_buckets=1` gives `[n]` (every batch padded to n).

    Raises:
        ValueError: if `length_buckets` is not an integer in [1, n].
    """
    if (
        isinstance(length_buckets, bool)
        or not isinstance(length_buckets, int)
        or not 1 <= length_buckets <= sequence_length
    ):
        raise ValueError(
            "`length_buckets` must be an integer from 1 (pad every batch to "
            f"n) to n={sequence_length}. Received: "
            f"length_buckets={length_buckets!r}"
        )
    step = -(-sequence_length // length_buckets)
    return list(range(step, sequence_length, step)) + [sequence_length]


def cut_padding(token_ids, padding_mask, step, sequence_length):
    """Cuts `(batch, n)` rows padded at the end to `(batch, length)`, where
    length is the longest row's real length rounded up to a multiple of
    `step` (at least `step`), and at most `sequence_length`.

    Returns:
        `(token_ids, padding_mask)`, cut.
    """
    import tensorflow as tf  # the data pipelines and signatures are tf

    real = tf.reduce_sum(tf.cast(tf.not_equal(padding_mask, 0), tf.int32), 1)
    longest = tf.maximum(tf.reduce_max(tf.concat([real, [0]], 0)), 1)
    length = tf.minimum(-(-longest // step) * step, sequence_length)
    return token_ids[:, :length], padding_mask[:, :length]
