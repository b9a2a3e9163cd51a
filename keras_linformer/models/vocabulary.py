"""Learning a WordPiece vocabulary for `LinformerTokenizer`."""

import os

from keras_hub.tokenizers import compute_word_piece_vocabulary

# BERT-style special tokens, in the order they take the first ids:
# [PAD] = 0, [UNK] = 1, [CLS] = 2, [SEP] = 3, [MASK] = 4.
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _has_text(path, chunk_size=1 << 16):
    """Whether a text file holds anything but whitespace."""
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "rb") as file:
        chunks = iter(lambda: file.read(chunk_size), b"")
        return any(chunk.strip() for chunk in chunks)


def _check_files(paths):
    import tensorflow as tf

    for path in paths:
        if not isinstance(path, str):
            raise ValueError(
                "`files_or_dataset` must be a path, a list of paths or a "
                f"`tf.data.Dataset` of strings. Received an element {path!r} "
                f"of type {type(path).__name__}."
            )
        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(f"Text file not found: '{path}'")
        if tf.io.gfile.isdir(path):
            raise ValueError(
                f"Expected a text file, but '{path}' is a directory."
            )
        if not _has_text(path):
            raise ValueError(
                f"Text file '{path}' is empty (or holds only whitespace): "
                "there is nothing to learn a vocabulary from."
            )


def learn_vocabulary(files_or_dataset, vocabulary_size, lowercase=True):
    """Learns a WordPiece vocabulary for a `LinformerTokenizer`.

    A thin wrapper around `keras_hub.tokenizers.compute_word_piece_vocabulary`
    that checks its input first and reserves the BERT-style special tokens
    `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]` and `[MASK]` as ids 0 to 4.

    Args:
        files_or_dataset: a path to a plain text file, a list of such paths,
            or a `tf.data.Dataset` of strings.
        vocabulary_size: int. The largest size of the vocabulary, special
            tokens included. A small corpus can give a smaller vocabulary.
        lowercase: bool. Whether text is lowercased first. Must match the
            tokenizer's `lowercase`.

    Returns:
        A list of strings: the special tokens, then the learned word pieces.

    Raises:
        FileNotFoundError: a file does not exist (the message names it).
        ValueError: a file is empty or holds only whitespace (the message
            names it), the dataset holds no text, or `vocabulary_size` is
            too small.

    Example:

    >>> dataset = tf.data.Dataset.from_tensor_slices(["the quick brown fox"])
    >>> vocabulary = learn_vocabulary(dataset, vocabulary_size=40)
    >>> vocabulary[:5]
    ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    >>> tokenizer = LinformerTokenizer(vocabulary=vocabulary)
    """
    if (
        isinstance(vocabulary_size, bool)
        or not isinstance(vocabulary_size, int)
        or vocabulary_size <= len(SPECIAL_TOKENS)
    ):
        raise ValueError(
            "`vocabulary_size` must be an integer larger than the "
            f"{len(SPECIAL_TOKENS)} special tokens {list(SPECIAL_TOKENS)}. "
            f"Received: vocabulary_size={vocabulary_size!r}"
        )
    # tensorflow-text learns the vocabulary (keras_hub's function); the
    # module imports without TensorFlow for the backbone-only backends.
    import tensorflow as tf

    if isinstance(files_or_dataset, tf.data.Dataset):
        data = files_or_dataset
    else:
        if isinstance(files_or_dataset, (str, os.PathLike)):
            files_or_dataset = [files_or_dataset]
        data = [
            os.fspath(path) if isinstance(path, os.PathLike) else path
            for path in files_or_dataset
        ]
        if not data:
            raise ValueError(
                "`files_or_dataset` is an empty list: pass at least one text "
                "file."
            )
        _check_files(data)
    no_text = ValueError(
        "The dataset holds no text to learn a vocabulary from (it is empty "
        "or holds only whitespace)."
    )
    try:
        vocabulary = compute_word_piece_vocabulary(
            data,
            vocabulary_size=vocabulary_size,
            lowercase=lowercase,
            reserved_tokens=list(SPECIAL_TOKENS),
        )
    except StopIteration:
        # tensorflow-text's word counter fails this way on no words at all.
        raise no_text from None
    if len(vocabulary) <= len(SPECIAL_TOKENS):
        raise no_text
    return vocabulary
