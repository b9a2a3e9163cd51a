import numpy as np
import pytest
import tensorflow as tf

from keras_linformer.models import LinformerTokenizer


def test_special_token_ids(toy_tokenizer):
    assert toy_tokenizer.pad_token_id == 0
    assert toy_tokenizer.cls_token_id == 2
    assert toy_tokenizer.sep_token_id == 3
    assert toy_tokenizer.mask_token_id == 4
    assert toy_tokenizer.start_token_id == toy_tokenizer.cls_token_id
    assert toy_tokenizer.end_token_id == toy_tokenizer.sep_token_id
    assert set(toy_tokenizer.special_token_ids) == {0, 2, 3, 4}


def test_tokenize_lowercases_by_default(toy_tokenizer, toy_vocabulary):
    ids = toy_tokenizer("The Quick brown FOX.")
    expected = [
        toy_vocabulary.index(w) for w in "the quick brown fox .".split()
    ]
    assert np.asarray(ids).tolist() == expected
    assert toy_tokenizer.detokenize(ids) == "the quick brown fox ."


def test_cased_tokenizer_maps_unknown_case_to_unk(toy_vocabulary):
    tokenizer = LinformerTokenizer(vocabulary=toy_vocabulary, lowercase=False)
    ids = np.asarray(tokenizer("The fox")).tolist()
    assert ids == [toy_vocabulary.index("[UNK]"), toy_vocabulary.index("fox")]


def test_word_pieces_and_unknown_words(toy_tokenizer, toy_vocabulary):
    ids = np.asarray(toy_tokenizer("cats zebra")).tolist()
    assert ids == [
        toy_vocabulary.index("cat"),
        toy_vocabulary.index("##s"),
        toy_vocabulary.index("[UNK]"),
    ]


def test_batched_input(toy_tokenizer, toy_vocabulary):
    ids = toy_tokenizer(["the fox", "a lazy dog sat"])
    assert [len(row) for row in ids] == [2, 4]
    assert ids[1][1] == toy_vocabulary.index("lazy")
    ragged = toy_tokenizer(tf.ragged.constant([["the fox"], ["a lazy dog"]]))
    assert len(ragged) == 2


def test_works_inside_tf_data(toy_tokenizer):
    ds = tf.data.Dataset.from_tensor_slices(["the fox", "a lazy dog sat"])
    ds = ds.batch(2).map(toy_tokenizer)
    (batch,) = list(ds)
    assert batch.row_lengths().numpy().tolist() == [2, 4]


def test_missing_special_token_is_refused():
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        LinformerTokenizer(vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]"])


def test_preset_round_trip(toy_tokenizer, make_backbone, tmp_path):
    preset = str(tmp_path / "preset")
    make_backbone().save_to_preset(preset)
    toy_tokenizer.save_to_preset(preset)
    restored = LinformerTokenizer.from_preset(preset)
    assert isinstance(restored, LinformerTokenizer)
    assert restored.get_vocabulary() == toy_tokenizer.get_vocabulary()
    assert restored.lowercase
    text = ["The quick brown fox.", "cats sat on a mat"]
    assert restored(text) == toy_tokenizer(text)
    assert toy_tokenizer.vocabulary_size() == 32


def test_config_round_trip(toy_tokenizer):
    config = toy_tokenizer.get_config()
    restored = LinformerTokenizer.from_config(config)
    restored.set_vocabulary(toy_tokenizer.get_vocabulary())
    assert restored.get_config() == config
    assert restored.mask_token_id == toy_tokenizer.mask_token_id
