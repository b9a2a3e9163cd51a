import keras
import numpy as np
import tensorflow as tf

from keras_linformer.models import LinformerTextClassifierPreprocessor
from keras_linformer.models import LinformerTokenizer

SENTENCES = ["the quick brown fox jumped.", "a lazy dog sat on the mat."]


def test_packs_and_pads(toy_tokenizer):
    preprocessor = LinformerTextClassifierPreprocessor(
        toy_tokenizer, sequence_length=10
    )
    x = preprocessor(SENTENCES)
    assert set(x) == {"token_ids", "padding_mask"}
    token_ids = keras.ops.convert_to_numpy(x["token_ids"])
    padding_mask = keras.ops.convert_to_numpy(x["padding_mask"])
    vocab = toy_tokenizer.get_vocabulary()
    assert [vocab[i] for i in token_ids[0]] == [
        "[CLS]", "the", "quick", "brown", "fox", "jumped", ".", "[SEP]",
        "[PAD]", "[PAD]",
    ]  # fmt: skip
    np.testing.assert_array_equal(padding_mask[0], [1] * 8 + [0] * 2)
    assert token_ids[1, 0] == toy_tokenizer.cls_token_id
    # Truncated to 10: the [SEP] is kept.
    assert token_ids[1, -1] == toy_tokenizer.sep_token_id
    assert padding_mask[1].all()


def test_labels_and_sample_weights_pass_through(toy_tokenizer):
    preprocessor = LinformerTextClassifierPreprocessor(
        toy_tokenizer, sequence_length=8
    )
    x, y = preprocessor(SENTENCES, [1, 0])
    assert tuple(x["token_ids"].shape) == (2, 8)
    assert list(np.asarray(y)) == [1, 0]
    _, _, sample_weight = preprocessor(SENTENCES, [1, 0], [0.5, 2.0])
    assert list(np.asarray(sample_weight)) == [0.5, 2.0]


def test_sentence_pairs(toy_tokenizer):
    preprocessor = LinformerTextClassifierPreprocessor(
        toy_tokenizer, sequence_length=8
    )
    x = preprocessor(x=(tf.constant(["the fox"]), tf.constant(["a dog"])))
    vocab = toy_tokenizer.get_vocabulary()
    token_ids = keras.ops.convert_to_numpy(x["token_ids"])[0]
    assert [vocab[i] for i in token_ids] == [
        "[CLS]", "the", "fox", "[SEP]", "a", "dog", "[SEP]", "[PAD]",
    ]  # fmt: skip


def test_works_inside_tf_data(toy_tokenizer):
    preprocessor = LinformerTextClassifierPreprocessor(
        toy_tokenizer, sequence_length=8
    )
    ds = tf.data.Dataset.from_tensor_slices((SENTENCES * 2, [0, 1, 0, 1]))
    ds = ds.batch(2).map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
    batches = list(ds)
    assert len(batches) == 2
    x, y = batches[0]
    assert x["token_ids"].shape == (2, 8) and x["token_ids"].dtype == tf.int32
    assert y.numpy().tolist() == [0, 1]


def test_config_round_trip(toy_tokenizer):
    preprocessor = LinformerTextClassifierPreprocessor(
        toy_tokenizer, sequence_length=8, truncate="waterfall"
    )
    config = preprocessor.get_config()
    restored = LinformerTextClassifierPreprocessor.from_config(dict(config))
    assert isinstance(restored.tokenizer, LinformerTokenizer)
    assert restored.get_config() == config


def test_from_preset_takes_sequence_length_from_backbone(
    toy_tokenizer, make_backbone, tmp_path
):
    preset = str(tmp_path / "preset")
    make_backbone(max_sequence_length=20, projected_dim=5).save_to_preset(
        preset
    )
    toy_tokenizer.save_to_preset(preset)
    preprocessor = LinformerTextClassifierPreprocessor.from_preset(preset)
    assert preprocessor.sequence_length == 20
    x = preprocessor(SENTENCES)
    assert tuple(x["token_ids"].shape) == (2, 20)


def test_padding_mask_is_int32_like_the_backbone_input(toy_tokenizer):
    # A boolean mask fails in `fit` under MirroredStrategy; see task_utils.
    preprocessor = LinformerTextClassifierPreprocessor(
        toy_tokenizer, sequence_length=8
    )
    x = preprocessor(SENTENCES)
    assert keras.backend.standardize_dtype(x["padding_mask"].dtype) == "int32"
