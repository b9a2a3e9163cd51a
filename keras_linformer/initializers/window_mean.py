"""`WindowMean`: E as mean pooling, the starting point of a learned E."""

import keras
from keras import ops


def window_matrix(shape, inside, outside, dtype=None):
    """A tensor of `shape` (..., n, k) whose every (n, k) block holds
    `inside` where position l lies in window j (`floor(l k / n) == j`) and
    `outside` elsewhere."""
    n, k = shape[-2], shape[-1]
    window = ops.floor_divide(ops.arange(n) * k, n)
    is_inside = ops.equal(window[:, None], ops.arange(k)[None, :])
    dtype = dtype or "float32"
    block = ops.cast(ops.where(is_inside, inside, outside), dtype)
    # A new tensor of `shape`, not a broadcast view: PyTorch refuses to
    # `assign` into a view whose elements share memory (weight loading
    # included).
    return ops.zeros(shape, dtype) + block


@keras.saving.register_keras_serializable(package="keras_linformer")
class WindowMean(keras.initializers.Initializer):
    """Initializes an (n, k) projection matrix E to window means.

    `E[l, j] = k / n` if position l lies in window j (`floor(l k / n) == j`),
    else 0: at initialization the paper's `"linear"` projection then equals
    mean pooling over windows of n / k positions, except that a window only
    partly filled by a short document is divided by n / k, not by its real
    count. The default initializer of `"linear"` is zero-mean and random, so
    each slot starts as a random-sign mixture of all n positions, in which a
    document's mean value cancels out; this one starts from positive window
    weights, so the mean is there from the first step. Training then moves
    every entry of E: it stays the paper's projection, exact to its
    equations. (Measured on padded IMDB reviews, this start does not close
    the linear projection's gap: docs/results.md, `k128-meaninit`.) Shapes `(..., n, k)` get the same (n, k) block in every
    leading index (one per head with `sharing="none"`).

    Example:

    >>> import keras_linformer as kl
    >>> E = kl.initializers.WindowMean()((4, 2))
    >>> keras.ops.convert_to_numpy(E).tolist()
    [[0.5, 0.0], [0.5, 0.0], [0.0, 0.5], [0.0, 0.5]]
    """

    def __call__(self, shape, dtype=None):
        if len(shape) < 2:
            raise ValueError(
                "`WindowMean` initializes an (n, k) matrix, or a stack of "
                f"them (..., n, k). Received: shape={tuple(shape)}"
            )
        n, k = shape[-2], shape[-1]
        return window_matrix(shape, inside=k / n, outside=0.0, dtype=dtype)

    def get_config(self):
        return {}
