"""Masked language modeling preprocessing for Linformer models."""

import keras
from keras_hub.models import MaskedLMPreprocessor

from keras_linformer import upstream
from keras_linformer.models.linformer_backbone import LinformerBackbone
from keras_linformer.models.linformer_tokenizer import LinformerTokenizer
from keras_linformer.models.task_utils import backbone_inputs
from keras_linformer.models.task_utils import with_backbone_sequence_length


@keras.saving.register_keras_serializable(package="keras_linformer")
# From a preset without a preprocessor config, pack to the backbone's n.
@upstream.fill_preset_kwargs(with_backbone_sequence_length)
class LinformerMaskedLMPreprocessor(MaskedLMPreprocessor):
    """Linformer preprocessing for the masked language modeling task.

    This preprocessing layer will prepare inputs for a masked language modeling
    task. It is primarily intended for use with the
    `keras_linformer.models.LinformerMaskedLM` task model. Preprocessing will
    occur in multiple steps.

    1. Tokenize any number of input segments using the `tokenizer`.
    2. Pack the inputs together with the appropriate `"[CLS]"`, `"[SEP]"` and
      `"[PAD]"` tokens.
    3. Randomly select non-special tokens to mask, controlled by
      `mask_selection_rate`.
    4. Construct a `(x, y, sample_weight)` tuple suitable for training with a
      `keras_linformer.models.LinformerMaskedLM` task model. `x` is a dict
      with `"token_ids"`, `"padding_mask"` and `"mask_positions"` (the
      backbone has no segment input).

    Args:
        tokenizer: A `keras_linformer.models.LinformerTokenizer` instance.
        sequence_length: int. The length of the packed inputs. It must not
            exceed the backbone's `max_sequence_length` (n); when loaded
            with `from_preset()` it defaults to that n.
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
        mask_selection_rate: float. The probability an input token will be
            dynamically masked.
        mask_selection_length: int. The maximum number of masked tokens
            in a given sample.
        mask_token_rate: float. The probability the a selected token will be
            replaced with the mask token.
        random_token_rate: float. The probability the a selected token will be
            replaced with a random token from the vocabulary. A selected token
            will be left as is with probability
            `1 - mask_token_rate - random_token_rate`.

    Call arguments:
        x: A tensor of single string sequences, or a tuple of multiple
            tensor sequences to be packed together. Inputs may be batched or
            unbatched. For single sequences, raw python inputs will be converted
            to tensors. For multiple sequences, pass tensors directly.
        y: Label data. Should always be `None` as the layer generates labels.
        sample_weight: Label weights. Should always be `None` as the layer
            generates label weights.

    Examples:

    Directly calling the layer on data.
    ```python
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += ["the", "quick", "brown", "fox", "jumped", "."]
    tokenizer = keras_linformer.models.LinformerTokenizer(vocabulary=vocab)
    preprocessor = keras_linformer.models.LinformerMaskedLMPreprocessor(
        tokenizer, sequence_length=16
    )

    # Tokenize and mask a single sentence.
    preprocessor("The quick brown fox jumped.")

    # Tokenize and mask a batch of single sentences.
    preprocessor(["The quick brown fox jumped.", "The fox."])

    # Tokenize and mask sentence pairs. Pass the pair as `x=`: a tuple
    # passed positionally is read as `(x, y)`.
    first = tf.constant(["The quick brown fox jumped.", "The fox."])
    second = tf.constant(["The fox jumped.", "The quick fox."])
    preprocessor(x=(first, second))

    # From a preset directory saved with `save_to_preset()`; the sequence
    # length defaults to the backbone's `max_sequence_length`.
    preprocessor = (
        keras_linformer.models.LinformerMaskedLMPreprocessor.from_preset(
            "./my_linformer_preset"
        )
    )
    ```

    Mapping with `tf.data.Dataset`.
    ```python
    first = tf.constant(["The quick brown fox jumped.", "The fox."])
    second = tf.constant(["The fox jumped.", "The quick fox."])

    # Map single sentences.
    ds = tf.data.Dataset.from_tensor_slices(first)
    ds = ds.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)

    # Map sentence pairs.
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
