"""WordPiece tokenizer for Linformer models (BERT-style special tokens)."""

import keras
from keras_hub.tokenizers import WordPieceTokenizer

from keras_linformer import upstream
from keras_linformer.models.linformer_backbone import LinformerBackbone


@keras.saving.register_keras_serializable(package="keras_linformer")
class LinformerTokenizer(WordPieceTokenizer):
    """A Linformer tokenizer using WordPiece subword segmentation.

    This tokenizer class will tokenize raw strings into integer sequences and
    is based on `keras_hub.tokenizers.WordPieceTokenizer` (and so on
    tensorflow-text's fast WordPiece). Unlike the underlying tokenizer, it
    will check for all special tokens needed by Linformer models (the
    BERT-style `"[PAD]"`, `"[UNK]"`, `"[CLS]"`, `"[SEP]"` and `"[MASK]"`)
    and provides a `from_preset()` method to load the vocabulary saved with a
    Linformer preset. Use
    `keras_linformer.models.learn_vocabulary` to learn a vocabulary from text
    files.

    If input is a batch of strings (rank > 0), the layer will output a
    `tf.RaggedTensor` where the last dimension of the output is ragged.

    If input is a scalar string (rank == 0), the layer will output a dense
    `tf.Tensor` with static shape `[None]`.

    Args:
        vocabulary: A list of strings or a string filename path. If
            passing a list, each element of the list should be a single word
            piece token string. If passing a filename, the file should be a
            plain text file containing a single word piece token per line.
        lowercase: If `True` (the default), the input text will be first
            lowered before tokenization.
        special_tokens_in_strings: bool. A bool to indicate if the tokenizer
            should expect special tokens in input strings that should be
            tokenized and mapped correctly to their ids. Defaults to False.

    Examples:
    ```python
    # Learn a vocabulary and tokenize.
    vocabulary = keras_linformer.models.learn_vocabulary(
        ["corpus.txt"], vocabulary_size=8000
    )
    tokenizer = keras_linformer.models.LinformerTokenizer(vocabulary)

    # Unbatched input.
    tokenizer("The quick brown fox jumped.")

    # Batched input.
    tokenizer(["The quick brown fox jumped.", "The fox slept."])

    # Detokenization.
    tokenizer.detokenize(tokenizer("The quick brown fox jumped."))

    # Custom vocabulary.
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += ["the", "quick", "brown", "fox", "jumped", "."]
    tokenizer = keras_linformer.models.LinformerTokenizer(vocabulary=vocab)
    tokenizer("The quick brown fox jumped.")

    # From a preset saved with `save_to_preset`.
    tokenizer = keras_linformer.models.LinformerTokenizer.from_preset(
        "./my_linformer_preset"
    )
    ```
    """

    backbone_cls = LinformerBackbone

    def __init__(
        self,
        vocabulary=None,
        lowercase=True,
        **kwargs,
    ):
        upstream.add_special_token(self, "[CLS]", "cls_token")
        upstream.add_special_token(self, "[SEP]", "sep_token")
        upstream.add_special_token(self, "[PAD]", "pad_token")
        upstream.add_special_token(self, "[MASK]", "mask_token")
        # Also add `tokenizer.start_token` and `tokenizer.end_token` for
        # compatibility with other tokenizers.
        upstream.add_special_token(self, "[CLS]", "start_token")
        upstream.add_special_token(self, "[SEP]", "end_token")
        super().__init__(
            vocabulary=vocabulary,
            lowercase=lowercase,
            **kwargs,
        )
