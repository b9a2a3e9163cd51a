"""WordPiece tokenizer for Linformer models (BERT-style special tokens)."""

import keras
from keras_hub.tokenizers import WordPieceTokenizer

from keras_linformer import upstream
from keras_linformer.models.linformer_backbone import LinformerBackbone


def add_bert_special_tokens(tokenizer):
    """Declares the BERT-style special tokens of a keras_hub tokenizer, with
    `"[CLS]"` and `"[SEP]"` also as its start and end tokens."""
    upstream.add_special_token(tokenizer, "[CLS]", "cls_token")
    upstream.add_special_token(tokenizer, "[SEP]", "sep_token")
    upstream.add_special_token(tokenizer, "[PAD]", "pad_token")
    upstream.add_special_token(tokenizer, "[MASK]", "mask_token")
    upstream.add_special_token(tokenizer, "[CLS]", "start_token")
    upstream.add_special_token(tokenizer, "[SEP]", "end_token")


@keras.saving.register_keras_serializable(package="keras_linformer")
class LinformerTokenizer(WordPieceTokenizer):
    """keras_hub's `WordPieceTokenizer` with the BERT-style special tokens
    (`"[PAD]"`, `"[UNK]"`, `"[CLS]"`, `"[SEP]"`, `"[MASK]"`) checked, and
    `from_preset()` for a Linformer preset's vocabulary.

    Args:
        vocabulary: a list of word pieces, or a file of one a line (see
            `keras_linformer.models.learn_vocabulary`).
        lowercase: bool. Lowercase the text first (default `True`).
        special_tokens_in_strings: bool. Map special tokens written in the
            input strings to their ids (default `False`).

    Example:

    ```python
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "fox"]
    tokenizer = keras_linformer.models.LinformerTokenizer(vocabulary=vocab)
    tokenizer(["the fox", "the"])  # a ragged batch of token ids
    ```
    """

    backbone_cls = LinformerBackbone

    def __init__(self, vocabulary=None, lowercase=True, **kwargs):
        add_bert_special_tokens(self)
        super().__init__(vocabulary=vocabulary, lowercase=lowercase, **kwargs)
