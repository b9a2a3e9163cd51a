"""Byte-level tokenizer for Linformer models: one token a UTF-8 byte."""

import re

import keras
from keras_hub.tokenizers import ByteTokenizer

from keras_linformer import upstream
from keras_linformer.models.linformer_backbone import LinformerBackbone
from keras_linformer.models.linformer_tokenizer import add_bert_special_tokens
from keras_linformer.models.vocabulary import SPECIAL_TOKENS

# The special tokens take the first ids, as in a WordPiece vocabulary; byte
# b is id b + BYTE_OFFSET.
BYTE_OFFSET = len(SPECIAL_TOKENS)


@keras.saving.register_keras_serializable(package="keras_linformer")
# No asset files: keras_hub 0.32's ByteTokenizer cannot save or load them.
@upstream.assetless_tokenizer
class LinformerByteTokenizer(ByteTokenizer):
    """A Linformer tokenizer on UTF-8 bytes, with BERT-style special tokens.

    Each byte of the UTF-8 encoding of a text is one token, as in the Long
    Range Arena's text tasks: no vocabulary to learn and no unknown words.
    It is keras_hub's `ByteTokenizer` with the special tokens the Linformer
    preprocessors need (`"[PAD]"`, `"[UNK]"`, `"[CLS]"`, `"[SEP]"`,
    `"[MASK]"`) as ids 0 to 4, before the bytes: byte `b` is id `b + 5`.

    Args:
        lowercase: If `True`, the input is lowercased first. Defaults to
            `False` (unlike keras_hub's `ByteTokenizer`).
        special_tokens_in_strings: If `True`, the special tokens' text
            (e.g. `"[MASK]"`) in an input string maps to their ids instead
            of to bytes (what a masked-LM server needs). Defaults to `False`.
        errors: How `detokenize` treats byte sequences that are not valid
            UTF-8: `"replace"` (with U+FFFD, the default), `"ignore"` or
            `"strict"`.
        **kwargs: passed to `keras_hub.tokenizers.ByteTokenizer`.

    Example:

    >>> tokenizer = LinformerByteTokenizer()
    >>> [int(i) for i in tokenizer("hé")]
    [109, 200, 174]
    >>> tokenizer.detokenize(tokenizer("hé")).numpy().decode()
    'hé'
    >>> tokenizer.mask_token_id, tokenizer.vocabulary_size()
    (4, 261)
    """

    backbone_cls = LinformerBackbone

    def __init__(
        self,
        lowercase=False,
        special_tokens_in_strings=False,
        errors="replace",
        **kwargs,
    ):
        add_bert_special_tokens(self)
        upstream.add_special_token(self, "[UNK]", "unk_token")
        self.special_tokens_in_strings = special_tokens_in_strings
        super().__init__(lowercase=lowercase, errors=errors, **kwargs)

    def vocabulary_size(self):
        return BYTE_OFFSET + 256

    def get_vocabulary(self):
        # A byte's token is its character for printable ASCII, else <0xNN>,
        # so that every token is valid UTF-8 text.
        return list(SPECIAL_TOKENS) + [
            chr(b) if 0x20 <= b < 0x7F else f"<0x{b:02X}>" for b in range(256)
        ]

    def id_to_token(self, id):
        if not 0 <= id < self.vocabulary_size():
            raise ValueError(
                f"`id` must be in range [0, {self.vocabulary_size() - 1}]. "
                f"Received: {id}"
            )
        return self.get_vocabulary()[id]

    def token_to_id(self, token):
        vocabulary = self.get_vocabulary()
        if token not in vocabulary:
            raise ValueError(
                f"Token {token!r} is neither a special token "
                f"{list(SPECIAL_TOKENS)} nor a byte's name."
            )
        return vocabulary.index(token)

    def tokenize(self, inputs):
        import tensorflow as tf  # tf.data and serving graphs

        inputs = tf.convert_to_tensor(inputs)
        unbatched = inputs.shape.rank == 0
        if unbatched:
            inputs = inputs[None]
        if self.lowercase:
            import tensorflow_text as tf_text

            inputs = tf_text.case_fold_utf8(inputs)
        if self.special_tokens_in_strings:
            tokens = self._tokenize_with_special_tokens(inputs)
        else:
            tokens = self._byte_ids(inputs)
        if self.sequence_length:
            tokens = tokens.to_tensor(
                default_value=self.pad_token_id,
                shape=[None, self.sequence_length],
            )
        return tokens[0] if unbatched else tokens

    def _byte_ids(self, strings):
        """Ragged ids of the bytes of `strings` (a rank-1 string tensor)."""
        import tensorflow as tf  # tf.data and serving graphs

        pieces = tf.strings.bytes_split(strings)
        # One byte a piece; `fixed_length` keeps the shape (N, 1) for N = 0
        # too (a batch of empty strings).
        codes = tf.io.decode_raw(pieces.flat_values, tf.uint8, fixed_length=1)
        codes = pieces.with_flat_values(tf.reshape(codes, [-1]))
        return tf.cast(codes, self.compute_dtype) + BYTE_OFFSET

    def _tokenize_with_special_tokens(self, strings):
        import tensorflow as tf  # tf.data and serving graphs
        import tensorflow_text as tf_text

        pattern = "|".join(re.escape(token) for token in SPECIAL_TOKENS)
        # Pieces: the text between special tokens, and the tokens themselves.
        pieces = tf_text.regex_split(strings, pattern, pattern)
        flat = pieces.flat_values
        special_id = tf.fill(tf.shape(flat), -1)
        for id, token in enumerate(SPECIAL_TOKENS):
            special_id = tf.where(tf.equal(flat, token), id, special_id)
        ids = self._byte_ids(flat)
        # A special token's piece becomes its one id.
        first = tf.equal(tf.ragged.range(ids.row_lengths()), 0)
        ids = tf.ragged.boolean_mask(
            ids, first | tf.less(special_id, 0)[:, None]
        )
        per_value = tf.gather(special_id, ids.value_rowids())
        ids = ids.with_flat_values(
            tf.where(
                per_value >= 0,
                tf.cast(per_value, ids.dtype),
                ids.flat_values,
            )
        )
        return pieces.with_flat_values(ids).merge_dims(1, 2)

    def detokenize(self, inputs):
        import tensorflow as tf  # tf.data and serving graphs

        if not isinstance(inputs, tf.RaggedTensor):
            inputs = tf.convert_to_tensor(inputs)
        unbatched = inputs.shape.rank == 1
        if unbatched:
            inputs = inputs[None]
        if not isinstance(inputs, tf.RaggedTensor):
            inputs = tf.RaggedTensor.from_tensor(inputs)
        inputs = tf.cast(inputs, tf.int32)
        # Special tokens and padding are not text.
        inputs = tf.ragged.boolean_mask(inputs, inputs >= BYTE_OFFSET)
        byte_strings = tf.constant([bytes([b]) for b in range(256)])
        raw = tf.strings.reduce_join(
            tf.gather(byte_strings, inputs - BYTE_OFFSET), axis=-1
        )
        outputs = tf.strings.unicode_transcode(
            raw,
            "UTF-8",
            "UTF-8",
            errors=self.errors,
            replacement_char=self.replacement_char,
        )
        return outputs[0] if unbatched else outputs

    def get_config(self):
        config = super().get_config()
        config["special_tokens_in_strings"] = self.special_tokens_in_strings
        return config
