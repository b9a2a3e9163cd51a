"""Text classification preprocessing for Linformer models."""

import keras
from keras_hub.models import TextClassifierPreprocessor

from keras_linformer import upstream
from keras_linformer.models.linformer_backbone import LinformerBackbone
from keras_linformer.models.linformer_tokenizer import LinformerTokenizer
from keras_linformer.models.task_utils import backbone_inputs
from keras_linformer.models.task_utils import with_backbone_sequence_length


@keras.saving.register_keras_serializable(package="keras_linformer")
# From a preset without a preprocessor config, pack to the backbone's n.
@upstream.fill_preset_kwargs(with_backbone_sequence_length)
class LinformerTextClassifierPreprocessor(TextClassifierPreprocessor):
    """A Linformer preprocessing layer which tokenizes and packs inputs.

    This preprocessing layer will do three things:

    1. Tokenize any number of input segments using the `tokenizer`.
    2. Pack the inputs together using a `keras_hub.layers.MultiSegmentPacker`.
       with the appropriate `"[CLS]"`, `"[SEP]"` and `"[PAD]"` tokens.
    3. Construct a dictionary with keys `"token_ids"` and `"padding_mask"`,
       that can be passed directly to a `LinformerBackbone`.

    This layer can be used directly with `tf.data.Dataset.map` to preprocess
    string data in the `(x, y, sample_weight)` format used by
    `keras.Model.fit`.

    Args:
        tokenizer: A `keras_linformer.models.LinformerTokenizer` instance.
        sequence_length: The length of the packed inputs. It must not exceed
            the backbone's `max_sequence_length` (n); when loaded with
            `from_preset()` it defaults to that n.
        truncate: string. The algorithm to truncate a list of batched segments
            to fit within `sequence_length`. The value can be either
            `round_robin` or `waterfall`:
            - `"round_robin"`: Available space is assigned one token at a
                time in a round-robin fashion to the inputs that still need
                some, until the limit is reached.
            - `"waterfall"`: The allocation of the budget is done using a
                "waterfall" algorithm that allocates quota in a
                left-to-right manner and fills up the buckets until we run
                out of budget. It supports an arbitrary number of segments.

    Call arguments:
        x: A tensor of single string sequences, or a tuple of multiple
            tensor sequences to be packed together. Inputs may be batched or
            unbatched. For single sequences, raw python inputs will be converted
            to tensors. For multiple sequences, pass tensors directly.
        y: Any label data. Will be passed through unaltered.
        sample_weight: Any label weight data. Will be passed through unaltered.

    Examples:

    Directly calling the layer on data.
    ```python
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += ["the", "quick", "brown", "fox", "jumped", "."]
    tokenizer = keras_linformer.models.LinformerTokenizer(vocabulary=vocab)
    preprocessor = (
        keras_linformer.models.LinformerTextClassifierPreprocessor(
            tokenizer, sequence_length=16
        )
    )

    # Tokenize and pack a single sentence.
    preprocessor("The quick brown fox jumped.")

    # Tokenize a batch of single sentences.
    preprocessor(["The quick brown fox jumped.", "The fox."])

    # Preprocess a batch of sentence pairs. Pass the pair as `x=`: a tuple
    # passed positionally is read as `(x, y)`.
    first = tf.constant(["The quick brown fox jumped.", "The fox."])
    second = tf.constant(["The fox jumped.", "The quick fox."])
    preprocessor(x=(first, second))

    # From a preset directory saved with `save_to_preset()`; the sequence
    # length defaults to the backbone's `max_sequence_length`.
    preprocessor = (
        keras_linformer.models.LinformerTextClassifierPreprocessor.from_preset(
            "./my_linformer_preset"
        )
    )
    ```

    Mapping with `tf.data.Dataset`.
    ```python
    first = tf.constant(["The quick brown fox jumped.", "The fox."])
    second = tf.constant(["The fox jumped.", "The quick fox."])
    label = tf.constant([1, 1])

    # Map labeled single sentences.
    ds = tf.data.Dataset.from_tensor_slices((first, label))
    ds = ds.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)

    # Map unlabeled single sentences.
    ds = tf.data.Dataset.from_tensor_slices(first)
    ds = ds.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)

    # Map labeled sentence pairs.
    ds = tf.data.Dataset.from_tensor_slices(((first, second), label))
    ds = ds.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)

    # Map unlabeled sentence pairs.
    ds = tf.data.Dataset.from_tensor_slices((first, second))
    # Watch out for tf.data's default unpacking of tuples here!
    # Best to invoke the `preprocessor` directly in this case.
    ds = ds.map(
        lambda first, second: preprocessor(x=(first, second)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    ```
    """

    backbone_cls = LinformerBackbone
    tokenizer_cls = LinformerTokenizer

    def call(self, x, y=None, sample_weight=None):
        return backbone_inputs(
            super().call(x, y=y, sample_weight=sample_weight)
        )
