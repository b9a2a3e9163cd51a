"""Optimizers whose gradient clipping does not depend on the replicas.

Under a `tf.distribute` strategy, Keras 3 (TensorFlow backend) clips each
replica's gradient (`clipnorm`, `global_clipnorm`, `clipvalue`) *before*
the gradients of the replicas are summed
(`BaseOptimizer._backend_apply_gradients` calls `_clip_gradients`, then
`TFOptimizer._backend_update_step` all-reduces). With R replicas each
replica holds 1/R of the gradient of the global batch, so clipping acts on
different numbers than on one device: training with `clipnorm` on two
GPUs is not training with the same global batch on one. The TensorFlow
team acknowledged clipping before aggregation as "usually wrong"
(tensorflow/tensorflow issue 33929).

`DistributedClipping` clips the summed gradient instead: each replica
all-reduces the gradients, clips the sum exactly as on one device, and
hands on 1/R of it, so the optimizer's own all-reduce adds up to the
clipped sum. This costs one more all-reduce per step, only when clipping
is configured and there are several replicas.
"""

import keras
import tensorflow as tf


def _scale(gradient, factor):
    if isinstance(gradient, tf.IndexedSlices):
        return tf.IndexedSlices(
            gradient.values * factor, gradient.indices, gradient.dense_shape
        )
    return gradient * factor


class DistributedClipping:
    """Mixin for a Keras optimizer: clip after summing over replicas."""

    def _clip_gradients(self, grads):
        clipping = (
            (self.clipnorm and self.clipnorm > 0)
            or (self.global_clipnorm and self.global_clipnorm > 0)
            or (self.clipvalue and self.clipvalue > 0)
        )
        context = tf.distribute.get_replica_context()
        if not clipping or context is None or context.num_replicas_in_sync == 1:
            return super()._clip_gradients(grads)
        present = [i for i, g in enumerate(grads) if g is not None]
        summed = context.all_reduce(
            tf.distribute.ReduceOp.SUM, [grads[i] for i in present]
        )
        clipped = super()._clip_gradients(summed)
        share = 1.0 / context.num_replicas_in_sync
        grads = list(grads)
        for i, gradient in zip(present, clipped):
            grads[i] = _scale(gradient, tf.cast(share, gradient.dtype))
        return grads


@keras.saving.register_keras_serializable(package="keras_linformer")
class AdamW(DistributedClipping, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` that clips the gradient of the global batch
    under a distribution strategy (see `DistributedClipping`)."""


@keras.saving.register_keras_serializable(package="keras_linformer")
class SGD(DistributedClipping, keras.optimizers.SGD):
    """`keras.optimizers.SGD` that clips the gradient of the global batch
    under a distribution strategy (see `DistributedClipping`)."""
