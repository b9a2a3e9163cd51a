"""Checks and mixins shared by the Linformer tasks and preprocessors."""

import keras

from keras_linformer import upstream


def check_preprocessor_fits_backbone(preprocessor, backbone):
    """Raises a `ValueError` if `preprocessor` makes inputs `backbone` refuses.

    A packed sequence longer than the backbone's `max_sequence_length` (n),
    or a tokenizer with more ids than the backbone's embedding has rows,
    would fail only later, inside the graph (and an out-of-range embedding
    lookup on a GPU silently returns zeros), so both are refused when the
    task is built.
    """
    if preprocessor is None:
        return
    sequence_length = getattr(preprocessor, "sequence_length", None)
    if (
        sequence_length is not None
        and sequence_length > backbone.max_sequence_length
    ):
        raise ValueError(
            f"The preprocessor packs sequences of length {sequence_length}, "
            "longer than the backbone's max_sequence_length="
            f"{backbone.max_sequence_length}. Pass sequence_length <= "
            f"{backbone.max_sequence_length} to the preprocessor."
        )
    tokenizer = getattr(preprocessor, "tokenizer", None)
    # A tokenizer loaded from a preset gets its vocabulary after the task is
    # built; it was saved together with the backbone.
    if tokenizer is None or getattr(tokenizer, "vocabulary", None) is None:
        return
    vocabulary_size = tokenizer.vocabulary_size()
    if vocabulary_size > backbone.vocabulary_size:
        raise ValueError(
            f"The tokenizer has {vocabulary_size} tokens, more than the "
            f"backbone's vocabulary_size={backbone.vocabulary_size}: token "
            f"ids {backbone.vocabulary_size} to {vocabulary_size - 1} would "
            "be outside the embedding. Build the backbone with "
            f"vocabulary_size={vocabulary_size}."
        )


def _not_task_weights(task):
    """What `Task.save_task_weights` leaves out, plus the optimizer.

    A preset is a starting point for inference or fine-tuning; training
    resumes from checkpoints. With the optimizer's slots in the preset,
    loading it into a freshly compiled task warns "Skipping variable loading
    for optimizer".
    """
    # The backbone stops the walk into its own layers; the token embedding,
    # which the masked-LM head ties, is reached through the head too.
    backbone = task.backbone
    skip = [backbone, *backbone.layers, backbone.token_embedding]
    if task.optimizer is not None:
        skip.append(task.optimizer)
    return skip


class PresetWithoutOptimizerMixin:
    """Task methods that keep the optimizer out of preset task weights.

    Put it before the keras_hub task class:
    `class LinformerTextClassifier(PresetWithoutOptimizerMixin, TextClassifier)`.
    """

    def save_task_weights(self, filepath):
        keras.saving.save_weights(
            self, filepath=filepath, objects_to_skip=_not_task_weights(self)
        )

    def load_task_weights(self, filepath):
        keras.saving.load_weights(
            self, filepath, objects_to_skip=_not_task_weights(self)
        )


def with_backbone_sequence_length(backbone_config, kwargs):
    """Packs to the backbone's n (`upstream.fill_preset_kwargs`)."""
    if "sequence_length" not in kwargs:
        kwargs["sequence_length"] = backbone_config["max_sequence_length"]
    return kwargs


@upstream.fill_preset_kwargs(with_backbone_sequence_length)
class BackboneInputsMixin:
    """Preprocessor methods that make inputs as `LinformerBackbone` takes
    them; put it before the keras_hub preprocessor class.

    `call` drops `segment_ids` (the backbone has none) and makes
    `padding_mask` int32 like the backbone's input (a boolean mask fails in
    `fit` under `tf.distribute.MirroredStrategy`); `from_preset` without a
    saved preprocessor config packs to the backbone's n.
    """

    def call(self, x, y=None, sample_weight=None):
        # Preprocessing runs in tf.data on every backend; TensorFlow is
        # imported here so that the backbone alone runs without it.
        import tensorflow as tf

        output = super().call(x, y=y, sample_weight=sample_weight)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(output)
        x = dict(x)
        del x["segment_ids"]
        x["padding_mask"] = tf.cast(x["padding_mask"], "int32")
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
