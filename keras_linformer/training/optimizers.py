"""Optimizers whose gradient clipping does not depend on the replicas.

Under a `tf.distribute` strategy, Keras clips each replica's share of the
gradient before the replicas' sum (see `upstream.replace_gradient_clipping`),
so `clipnorm` on two GPUs is not `clipnorm` on one. `DistributedClipping`
all-reduces the gradients and clips their sum as on one device; the first
replica hands the clipped gradient on and the others zeros, so that the
optimizer's own all-reduce adds up to exactly the clipped gradient.

The rows of a sparse (embedding) gradient are summed per index before
clipping: `tf.clip_by_norm` takes the norm of an `IndexedSlices`' rows,
and rows gathered from several replicas come in other groupings.
"""

import keras
import tensorflow as tf

from keras_linformer import upstream


def _sum_duplicate_rows(gradient):
    """An `IndexedSlices` with one row per index (duplicates summed)."""
    if not isinstance(gradient, tf.IndexedSlices):
        return gradient
    indices, positions = tf.unique(gradient.indices)
    values = tf.math.unsorted_segment_sum(
        gradient.values, positions, tf.shape(indices)[0]
    )
    return tf.IndexedSlices(values, indices, gradient.dense_shape)


def _scale(gradient, factor):
    if isinstance(gradient, tf.IndexedSlices):
        return tf.IndexedSlices(
            gradient.values * factor, gradient.indices, gradient.dense_shape
        )
    return gradient * factor


@upstream.replace_gradient_clipping
class DistributedClipping:
    """Mixin for a Keras optimizer: clip the gradient of the global batch,
    so that clipping gives the same update on any number of replicas."""

    def clip_gradients_globally(self, grads, keras_clip):
        """Clips `grads` (this replica's) as Keras' `keras_clip` would
        clip the gradient of the global batch."""
        clipping = (
            (self.clipnorm and self.clipnorm > 0)
            or (self.global_clipnorm and self.global_clipnorm > 0)
            or (self.clipvalue and self.clipvalue > 0)
        )
        if not clipping:
            return grads
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return keras_clip(
                [_sum_duplicate_rows(g) if g is not None else g for g in grads]
            )
        present = [i for i, g in enumerate(grads) if g is not None]
        summed = context.all_reduce(
            tf.distribute.ReduceOp.SUM, [grads[i] for i in present]
        )
        clipped = keras_clip([_sum_duplicate_rows(g) for g in summed])
        first = tf.equal(context.replica_id_in_sync_group, 0)
        grads = list(grads)
        for i, gradient in zip(present, clipped):
            grads[i] = _scale(gradient, tf.cast(first, gradient.dtype))
        return grads


@keras.saving.register_keras_serializable(package="keras_linformer")
class AdamW(DistributedClipping, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` that clips the gradient of the global batch
    under a distribution strategy (see `DistributedClipping`)."""


@keras.saving.register_keras_serializable(package="keras_linformer")
class SGD(DistributedClipping, keras.optimizers.SGD):
    """`keras.optimizers.SGD` that clips the gradient of the global batch
    under a distribution strategy (see `DistributedClipping`)."""
