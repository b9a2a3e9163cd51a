"""`LinformerByteTokenizer`: one token a UTF-8 byte, after five specials."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_linformer.models import LinformerBackbone
from keras_linformer.models import LinformerByteTokenizer
from keras_linformer.models import LinformerMaskedLMPreprocessor
from keras_linformer.models import LinformerTextClassifier
from keras_linformer.models import LinformerTextClassifierPreprocessor

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

TEXTS = [
    "plain ASCII, with punctuation!",
    "héllo wörld – “quotes” and ß",
    "日本語のテキスト",
    "emoji 🙂👍🏽 and a ZWJ family 👩‍👩‍👧",
    "e\u0301 combining accent, tab\tand newline\nin the middle",
    "",
]


def ids(tokens):
    return [int(i) for i in keras.ops.convert_to_numpy(tokens)]


def text(tensor):
    return keras.ops.convert_to_numpy(tensor).item().decode("utf-8")


@pytest.fixture
def tokenizer():
    return LinformerByteTokenizer()


@pytest.mark.parametrize("sample", TEXTS)
def test_round_trip_of_utf8_text(tokenizer, sample):
    tokens = ids(tokenizer(sample))
    assert tokens == [b + 5 for b in sample.encode("utf-8")]
    assert text(tokenizer.detokenize(tokenizer(sample))) == sample


def test_batched_round_trip(tokenizer):
    assert ids(tokenizer(["", ""]).flat_values) == []
    batch = tokenizer(TEXTS)
    assert isinstance(batch, tf.RaggedTensor)
    decoded = keras.ops.convert_to_numpy(tokenizer.detokenize(batch))
    assert [d.decode("utf-8") for d in decoded] == TEXTS


def test_case_is_kept_unless_lowercase():
    assert ids(LinformerByteTokenizer()("Ab")) == [ord("A") + 5, ord("b") + 5]
    lower = LinformerByteTokenizer(lowercase=True)
    assert ids(lower("Ab")) == [ord("a") + 5, ord("b") + 5]


def test_invalid_bytes_keep_their_ids_and_detokenize_to_the_replacement(
    tokenizer,
):
    assert ids(tokenizer(tf.constant(b"\xff"))) == [255 + 5]
    tokens = tokenizer(tf.constant(b"a\xffb"))
    assert ids(tokens) == [ord("a") + 5, 260, ord("b") + 5]
    assert text(tokenizer.detokenize(tokens)) == "a\ufffdb"
    # A truncated multi-byte character too.
    cut = "é".encode()[:1]
    assert text(tokenizer.detokenize(tokenizer(tf.constant(cut)))) == "\ufffd"


def test_special_tokens_and_their_ids(tokenizer):
    assert tokenizer.vocabulary_size() == 261
    assert tokenizer.get_vocabulary()[:5] == SPECIALS
    assert [tokenizer.token_to_id(t) for t in SPECIALS] == [0, 1, 2, 3, 4]
    assert (
        tokenizer.pad_token_id,
        tokenizer.unk_token_id,
        tokenizer.cls_token_id,
        tokenizer.sep_token_id,
        tokenizer.mask_token_id,
    ) == (0, 1, 2, 3, 4)
    assert tokenizer.start_token_id == 2 and tokenizer.end_token_id == 3
    assert sorted(tokenizer.special_token_ids) == [0, 1, 2, 3, 4]
    # Printable bytes by their character, the others as <0xNN>.
    assert tokenizer.id_to_token(ord("a") + 5) == "a"
    assert tokenizer.id_to_token(5) == "<0x00>"
    assert tokenizer.id_to_token(260) == "<0xFF>"
    with pytest.raises(ValueError, match="must be in range"):
        tokenizer.id_to_token(261)
    with pytest.raises(ValueError, match="neither a special token"):
        tokenizer.token_to_id("ab")
    # Specials are not text: detokenize drops them.
    tokens = [2, ord("h") + 5, ord("i") + 5, 3, 0, 0]
    assert text(tokenizer.detokenize(np.array(tokens))) == "hi"


def test_special_tokens_in_strings():
    sample = "a [MASK] b[SEP]"
    plain = LinformerByteTokenizer()
    assert ids(plain(sample)) == [b + 5 for b in sample.encode()]
    special = LinformerByteTokenizer(special_tokens_in_strings=True)
    expected = [ord(c) + 5 for c in "a "] + [4] + [ord(c) + 5 for c in " b"]
    assert ids(special(sample)) == expected + [3]
    batch = special(["[CLS]x", "y"])
    assert [list(map(int, row)) for row in batch.to_list()] == [
        [2, ord("x") + 5],
        [ord("y") + 5],
    ]
    assert special.get_config()["special_tokens_in_strings"] is True
    restored = LinformerByteTokenizer.from_config(special.get_config())
    assert ids(restored(sample)) == expected + [3]


def test_masked_lm_preprocessor_with_bytes(tokenizer):
    preprocessor = LinformerMaskedLMPreprocessor(
        tokenizer,
        sequence_length=12,
        mask_selection_rate=0.5,
        mask_selection_length=4,
    )
    x, y, weights = preprocessor(["abcdefgh", "xy"])
    token_ids = keras.ops.convert_to_numpy(x["token_ids"])
    assert token_ids.shape == (2, 12)
    assert token_ids[0, 0] == 2 and token_ids[1, 3] == 3  # [CLS] x y [SEP]
    assert (token_ids[1, 4:] == 0).all()  # [PAD]
    masked = token_ids == 4
    assert masked.any()
    # Only bytes are masked, never [CLS], [SEP] or padding.
    positions = keras.ops.convert_to_numpy(x["mask_positions"])
    labels = keras.ops.convert_to_numpy(y)
    real = keras.ops.convert_to_numpy(weights) > 0
    assert (labels[real] >= 5).all()
    assert (positions[real] >= 1).all()


def test_classifier_preprocessor_with_bytes(tokenizer):
    preprocessor = LinformerTextClassifierPreprocessor(
        tokenizer, sequence_length=8
    )
    x, y = preprocessor(["hé", "a much longer text"], [0, 1])
    token_ids = keras.ops.convert_to_numpy(x["token_ids"])
    assert token_ids[0].tolist() == [2, 109, 200, 174, 3, 0, 0, 0]
    # Truncated to 8: [CLS], 6 bytes, [SEP].
    assert token_ids[1].tolist() == [2] + [b + 5 for b in b"a much"] + [3]
    assert keras.ops.convert_to_numpy(x["padding_mask"]).dtype == np.int32
    assert "segment_ids" not in x
    assert keras.ops.convert_to_numpy(y).tolist() == [0, 1]


def test_classifier_preset_round_trip(tokenizer, tmp_path):
    backbone = LinformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=16,
        projected_dim=4,
    )
    classifier = LinformerTextClassifier(
        backbone,
        num_classes=2,
        preprocessor=LinformerTextClassifierPreprocessor(
            tokenizer, sequence_length=16
        ),
    )
    samples = ["a good film", "日本語"]
    x = classifier.preprocessor(samples)
    expected = keras.ops.convert_to_numpy(classifier(x))
    classifier.save_to_preset(str(tmp_path))
    restored = LinformerTextClassifier.from_preset(str(tmp_path))
    assert isinstance(restored.preprocessor.tokenizer, LinformerByteTokenizer)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored(restored.preprocessor(samples))),
        expected,
        atol=1e-6,
    )
    # The preprocessor alone, from the preset too.
    preprocessor = LinformerTextClassifierPreprocessor.from_preset(
        str(tmp_path)
    )
    assert isinstance(preprocessor.tokenizer, LinformerByteTokenizer)
    assert preprocessor.sequence_length == 16
