import os
import pathlib

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from keras_linformer.models import LinformerBackbone
from keras_linformer.models import LinformerMaskedLM
from keras_linformer.models import LinformerMaskedLMPreprocessor
from keras_linformer.models import LinformerTokenizer
from keras_linformer.models import learn_vocabulary

CORPUS = (
    pathlib.Path(__file__).resolve().parents[2]
    / "keras_linformer"
    / "data"
    / "tinyshakespeare.txt"
)
SENTENCES = [
    "the quick brown fox jumped over the lazy dog.",
    "a cat sat on the mat.",
    "the dog was very lazy.",
    "a good movie, a great film.",
]


def make_preprocessor(tokenizer, sequence_length=16, **kwargs):
    return LinformerMaskedLMPreprocessor(
        tokenizer,
        sequence_length=sequence_length,
        mask_selection_length=5,
        **kwargs,
    )


@pytest.fixture
def masked_lm(toy_tokenizer, make_backbone):
    return LinformerMaskedLM(
        make_backbone(), preprocessor=make_preprocessor(toy_tokenizer)
    )


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_output_shape(masked_lm):
    x, y, sample_weight = masked_lm.preprocessor(SENTENCES)
    logits = masked_lm(x)
    assert tuple(logits.shape) == (4, 5, 32)


@pytest.mark.slow
def test_predict_on_raw_strings(masked_lm):
    # `predict` on raw strings runs the preprocessor inside tf.data.
    assert masked_lm.predict(SENTENCES, verbose=0).shape == (4, 5, 32)


def test_output_embedding_is_tied(masked_lm):
    backbone = masked_lm.backbone
    head = masked_lm.masked_lm_head
    assert head.token_embedding is backbone.token_embedding
    hidden, vocabulary = backbone.hidden_dim, backbone.vocabulary_size
    # Head: dense (h x h + h), layer norm (2 h) and an output bias (V); no
    # (h x V) output matrix of its own.
    head_params = masked_lm.count_params() - backbone.count_params()
    assert head_params == hidden * hidden + 3 * hidden + vocabulary
    # The logits move with the token embedding.
    x, _, _ = masked_lm.preprocessor(SENTENCES)
    before = to_numpy(masked_lm(x))
    embeddings = backbone.token_embedding.embeddings
    embeddings.assign(to_numpy(embeddings) * 2.0)
    assert not np.allclose(to_numpy(masked_lm(x)), before)


def test_compile_defaults(masked_lm):
    assert isinstance(
        masked_lm.loss, keras.losses.SparseCategoricalCrossentropy
    )
    assert masked_lm.loss.from_logits


@pytest.mark.slow
def test_pretraining_lowers_the_loss(tmp_path):
    """Some hundred steps of masked-LM training on Tiny Shakespeare."""
    lines = CORPUS.read_text(encoding="utf-8").splitlines()[:4000]
    lines = [line for line in lines if line.strip()]
    train_lines, eval_lines = lines[:3000], lines[3000:3256]
    corpus = tmp_path / "slice.txt"
    corpus.write_text("\n".join(train_lines), encoding="utf-8")

    vocabulary = learn_vocabulary([str(corpus)], vocabulary_size=400)
    tokenizer = LinformerTokenizer(vocabulary=vocabulary)
    preprocessor = LinformerMaskedLMPreprocessor(
        tokenizer, sequence_length=24, mask_selection_length=6
    )
    backbone = LinformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=24,
        projected_dim=8,
        dropout=0.0,
    )
    # The preprocessor runs in the tf.data pipeline, not in the model.
    masked_lm = LinformerMaskedLM(backbone, preprocessor=None)
    masked_lm.compile(optimizer=keras.optimizers.Adam(3e-3))
    train_ds = (
        tf.data.Dataset.from_tensor_slices(train_lines)
        .shuffle(len(train_lines), seed=0)
        .batch(32)
        .map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
        .repeat()
        .prefetch(tf.data.AUTOTUNE)
    )
    # A fixed masking of held-out lines, so that the two losses compare.
    x, y, sample_weight = preprocessor(tf.constant(eval_lines))
    y, sample_weight = to_numpy(y), to_numpy(sample_weight)

    def loss_per_masked_token():
        logits = masked_lm.predict(x, batch_size=len(eval_lines), verbose=0)
        log_probs = to_numpy(keras.ops.log_softmax(logits, axis=-1))
        nll = -np.take_along_axis(log_probs, y[..., None], axis=-1)[..., 0]
        return float((nll * sample_weight).sum() / sample_weight.sum())

    start = loss_per_masked_token()
    # An untrained model is close to uniform over the vocabulary.
    assert abs(start - np.log(tokenizer.vocabulary_size())) < 0.5
    history = masked_lm.fit(train_ds, steps_per_epoch=100, epochs=3, verbose=0)
    end = loss_per_masked_token()
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert end < start - 0.6, (start, end)


def test_preset_round_trip(masked_lm, tmp_path):
    preset = str(tmp_path / "preset")
    masked_lm.save_to_preset(preset)
    assert {
        "config.json",
        "model.weights.h5",
        "task.json",
        "tokenizer.json",
        "preprocessor.json",
    } <= set(os.listdir(preset))
    x, _, _ = masked_lm.preprocessor(SENTENCES)

    restored = LinformerMaskedLM.from_preset(preset)
    assert isinstance(restored, LinformerMaskedLM)
    np.testing.assert_array_equal(to_numpy(restored(x)), to_numpy(masked_lm(x)))
    assert isinstance(restored.preprocessor, LinformerMaskedLMPreprocessor)
    assert restored.preprocessor.get_config() == (
        masked_lm.preprocessor.get_config()
    )
    assert restored.preprocessor.tokenizer.get_vocabulary() == (
        masked_lm.preprocessor.tokenizer.get_vocabulary()
    )
    # The pieces load on their own, and through keras_hub's base classes.
    backbone = LinformerBackbone.from_preset(preset)
    np.testing.assert_array_equal(
        to_numpy(backbone({k: x[k] for k in ("token_ids", "padding_mask")})),
        to_numpy(
            masked_lm.backbone({k: x[k] for k in ("token_ids", "padding_mask")})
        ),
    )
    tokenizer = LinformerTokenizer.from_preset(preset)
    assert (
        tokenizer.get_vocabulary() == restored.preprocessor.tokenizer.vocabulary
    )
    generic = keras_hub.models.MaskedLM.from_preset(preset)
    assert isinstance(generic, LinformerMaskedLM)


def test_keras_file_round_trip(masked_lm, tmp_path):
    x, _, _ = masked_lm.preprocessor(SENTENCES)
    path = str(tmp_path / "masked_lm.keras")
    masked_lm.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, LinformerMaskedLM)
    np.testing.assert_array_equal(to_numpy(restored(x)), to_numpy(masked_lm(x)))
    assert restored.masked_lm_head.token_embedding is (
        restored.backbone.token_embedding
    )


def test_sequence_length_over_max_sequence_length(toy_tokenizer, make_backbone):
    backbone = make_backbone(max_sequence_length=16)
    with pytest.raises(
        ValueError,
        match=r"sequences of length 20, longer than the backbone's "
        r"max_sequence_length=16",
    ):
        LinformerMaskedLM(
            backbone, preprocessor=make_preprocessor(toy_tokenizer, 20)
        )


def test_tokenizer_larger_than_backbone_vocabulary(
    toy_tokenizer, make_backbone
):
    backbone = make_backbone(vocabulary_size=20)
    with pytest.raises(
        ValueError,
        match=r"tokenizer has 32 tokens, more than the backbone's "
        r"vocabulary_size=20",
    ):
        LinformerMaskedLM(
            backbone, preprocessor=make_preprocessor(toy_tokenizer)
        )
