import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_linformer.models import LinformerMaskedLMPreprocessor
from keras_linformer.models import LinformerTokenizer

SENTENCES = ["the quick brown fox jumped.", "a lazy dog sat on the mat."]


def make_preprocessor(tokenizer, **kwargs):
    kwargs = {
        "sequence_length": 12,
        "mask_selection_rate": 0.5,
        "mask_selection_length": 4,
        "mask_token_rate": 1.0,
        "random_token_rate": 0.0,
        **kwargs,
    }
    return LinformerMaskedLMPreprocessor(tokenizer, **kwargs)


def test_output_structure_and_shapes(toy_tokenizer):
    preprocessor = make_preprocessor(toy_tokenizer)
    x, y, sample_weight = preprocessor(SENTENCES)
    assert set(x) == {"token_ids", "padding_mask", "mask_positions"}
    assert tuple(x["token_ids"].shape) == (2, 12)
    assert tuple(x["padding_mask"].shape) == (2, 12)
    assert tuple(x["mask_positions"].shape) == (2, 4)
    assert tuple(y.shape) == (2, 4)
    assert tuple(sample_weight.shape) == (2, 4)


def test_masks_real_tokens_only(toy_tokenizer):
    preprocessor = make_preprocessor(toy_tokenizer)
    original = toy_tokenizer(SENTENCES)
    x, y, sample_weight = preprocessor(SENTENCES)
    token_ids = keras.ops.convert_to_numpy(x["token_ids"])
    padding_mask = keras.ops.convert_to_numpy(x["padding_mask"])
    positions = keras.ops.convert_to_numpy(x["mask_positions"])
    y = keras.ops.convert_to_numpy(y)
    weights = keras.ops.convert_to_numpy(sample_weight)
    for row, ids in enumerate(original):
        # [CLS] ids [SEP] [PAD]...; the padding mask marks the real ones.
        assert token_ids[row, 0] == toy_tokenizer.cls_token_id
        assert token_ids[row, len(ids) + 1] == toy_tokenizer.sep_token_id
        assert padding_mask[row].sum() == len(ids) + 2
        unmasked = np.array([toy_tokenizer.cls_token_id, *ids, 3])
        selected = positions[row][weights[row] > 0]
        assert len(selected) > 0
        # Labels are the original tokens; inputs there are [MASK].
        np.testing.assert_array_equal(
            y[row][weights[row] > 0], unmasked[selected]
        )
        assert np.all(token_ids[row, selected] == toy_tokenizer.mask_token_id)
        # Never a special token, never padding.
        assert np.all((selected >= 1) & (selected <= len(ids)))


def test_no_segment_ids(toy_tokenizer):
    x, _, _ = make_preprocessor(toy_tokenizer)(SENTENCES)
    assert "segment_ids" not in x


def test_truncates_to_sequence_length(toy_tokenizer):
    preprocessor = make_preprocessor(toy_tokenizer, sequence_length=6)
    x, _, _ = preprocessor([" ".join(["fox"] * 20)])
    token_ids = keras.ops.convert_to_numpy(x["token_ids"])
    assert token_ids.shape == (1, 6)
    assert token_ids[0, -1] == toy_tokenizer.sep_token_id


def test_sentence_pairs(toy_tokenizer):
    preprocessor = make_preprocessor(toy_tokenizer, mask_selection_rate=0.0)
    first = tf.constant(["the fox"])
    second = tf.constant(["a dog"])
    x, _, _ = preprocessor(x=(first, second))
    token_ids = keras.ops.convert_to_numpy(x["token_ids"])[0]
    vocab = toy_tokenizer.get_vocabulary()
    assert [vocab[i] for i in token_ids[:7]] == [
        "[CLS]", "the", "fox", "[SEP]", "a", "dog", "[SEP]",
    ]  # fmt: skip


def test_works_inside_tf_data(toy_tokenizer):
    preprocessor = make_preprocessor(toy_tokenizer)
    ds = tf.data.Dataset.from_tensor_slices(SENTENCES * 3).batch(2)
    ds = ds.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
    batches = list(ds)
    assert len(batches) == 3
    x, y, sample_weight = batches[0]
    assert isinstance(x["token_ids"], tf.Tensor)
    assert x["token_ids"].shape == (2, 12)
    assert y.shape == (2, 4) and sample_weight.shape == (2, 4)


@pytest.mark.slow
def test_works_on_unbatched_elements_inside_tf_data(toy_tokenizer):
    preprocessor = make_preprocessor(toy_tokenizer)
    # Unbatched elements, batched after the map.
    ds = tf.data.Dataset.from_tensor_slices(SENTENCES).map(preprocessor)
    x, _, _ = next(iter(ds.batch(2)))
    assert x["token_ids"].shape == (2, 12)


def test_config_round_trip(toy_tokenizer):
    preprocessor = make_preprocessor(toy_tokenizer)
    config = preprocessor.get_config()
    restored = LinformerMaskedLMPreprocessor.from_config(dict(config))
    assert isinstance(restored.tokenizer, LinformerTokenizer)
    assert restored.get_config() == config
    assert restored.sequence_length == 12
    assert restored.mask_selection_length == 4


def test_from_preset_takes_sequence_length_from_backbone(
    toy_tokenizer, make_backbone, tmp_path
):
    preset = str(tmp_path / "preset")
    make_backbone(max_sequence_length=24, projected_dim=8).save_to_preset(
        preset
    )
    toy_tokenizer.save_to_preset(preset)
    preprocessor = LinformerMaskedLMPreprocessor.from_preset(preset)
    assert isinstance(preprocessor, LinformerMaskedLMPreprocessor)
    assert preprocessor.sequence_length == 24
    x, _, _ = preprocessor(SENTENCES)
    assert tuple(x["token_ids"].shape) == (2, 24)
    # An explicit value wins.
    short = LinformerMaskedLMPreprocessor.from_preset(preset, sequence_length=8)
    assert short.sequence_length == 8


def test_saved_preprocessor_config_wins(toy_tokenizer, make_backbone, tmp_path):
    preset = str(tmp_path / "preset")
    make_backbone().save_to_preset(preset)
    make_preprocessor(toy_tokenizer, sequence_length=10).save_to_preset(preset)
    restored = LinformerMaskedLMPreprocessor.from_preset(preset)
    assert restored.sequence_length == 10
    assert restored.mask_selection_length == 4
    assert restored.tokenizer.get_vocabulary() == toy_tokenizer.get_vocabulary()


def test_call_without_vocabulary_is_refused():
    preprocessor = LinformerMaskedLMPreprocessor(LinformerTokenizer())
    with pytest.raises(ValueError, match="No vocabulary has been set"):
        preprocessor(SENTENCES)


def test_padding_mask_is_int32_like_the_backbone_input(toy_tokenizer):
    # A boolean mask fails in `fit` under MirroredStrategy; see task_utils.
    x, _, _ = make_preprocessor(toy_tokenizer)(SENTENCES)
    assert keras.backend.standardize_dtype(x["padding_mask"].dtype) == "int32"
