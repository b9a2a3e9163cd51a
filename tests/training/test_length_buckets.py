"""Batches padded to their own length (rounded up to a bucket) give what
the same batches padded to n give, for every projection and the standard
model, in masked-LM and classification data."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from keras_linformer.length_buckets import bucket_lengths
from keras_linformer.length_buckets import cut_padding
from keras_linformer.models import SPECIAL_TOKENS
from keras_linformer.models import LinformerBackbone
from keras_linformer.models import task_classes
from keras_linformer.projections import PROJECTIONS
from keras_linformer.training import data

N = 64
WORDS = "the quick brown fox jumped over lazy dog a cat sat on mat".split()


def varied_texts(count, seed=0):
    """Short and long documents: 1 to 70 words (some truncated to n)."""
    rng = np.random.default_rng(seed)
    lengths = rng.choice([1, 3, 6, 10, 17, 25, 40, 61, 70], size=count)
    return [" ".join(rng.choice(WORDS, size=length)) for length in lengths]


def backbone(attention, projection="linear"):
    kwargs = dict(
        vocabulary_size=len(SPECIAL_TOKENS) + len(WORDS),
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=N,
        dropout=0.0,
    )
    if attention == "standard":
        return keras_hub.models.RobertaBackbone(**kwargs)
    return LinformerBackbone(projected_dim=16, projection=projection, **kwargs)


MODELS = [("standard", None)] + [("linformer", p) for p in PROJECTIONS]


def model_id(model):
    return model[0] if model[1] is None else model[1]


# Building and tracing a model for each batch length takes seconds per
# model: the model-level checks are slow; the data-level ones fast.
SLOW_MODELS = [
    pytest.param(model, id=model_id(model), marks=pytest.mark.slow)
    for model in MODELS
]


def numpy_batches(dataset):
    return [tf.nest.map_structure(lambda t: t.numpy(), b) for b in dataset]


def test_bucket_lengths_and_refusals():
    assert bucket_lengths(512, 8) == [64 * i for i in range(1, 9)]
    assert bucket_lengths(100, 8) == [13 * i for i in range(1, 8)] + [100]
    assert bucket_lengths(512, 1) == [512]
    for bad in (0, -1, 513, 2.0, True):
        with pytest.raises(ValueError, match="`length_buckets` must be"):
            bucket_lengths(512, bad)


def test_batches_are_cut_to_their_bucket_and_only_padding_is_cut():
    cls = task_classes(LinformerBackbone)
    tokenizer = cls.tokenizer(vocabulary=list(SPECIAL_TOKENS) + WORDS)
    preprocessor = cls.text_classifier_preprocessor(
        tokenizer, sequence_length=N
    )
    texts = varied_texts(40)
    labels = [i % 2 for i in range(40)]

    def make(buckets):
        return numpy_batches(
            data.classification_dataset(
                texts, labels, preprocessor, 4, 0, False, buckets
            )
        )

    lengths = set()
    for (x, y), (full_x, full_y) in zip(make(8), make(1)):
        length = x["token_ids"].shape[1]
        longest = full_x["padding_mask"].sum(axis=1).max()
        # The smallest multiple of n / 8 that holds the longest row.
        assert length == min(N, -(-longest // 8) * 8)
        np.testing.assert_array_equal(
            x["token_ids"], full_x["token_ids"][:, :length]
        )
        assert not full_x["padding_mask"][:, length:].any()
        np.testing.assert_array_equal(y, full_y)
        lengths.add(length)
    # Short and long documents: several buckets, n among them.
    assert len(lengths) >= 3 and N in lengths


@pytest.mark.parametrize("model", SLOW_MODELS)
def test_classifier_outputs_equal_padding_to_n(model):
    keras.utils.set_random_seed(0)
    cls = task_classes(type(backbone(*model)))
    tokenizer = cls.tokenizer(vocabulary=list(SPECIAL_TOKENS) + WORDS)
    preprocessor = cls.text_classifier_preprocessor(
        tokenizer, sequence_length=N
    )
    classifier = cls.text_classifier(
        backbone(*model), num_classes=2, dropout=0.0
    )
    classifier.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    texts = varied_texts(24, seed=1)
    labels = [i % 2 for i in range(24)]

    def make(buckets):
        return data.classification_dataset(
            texts, labels, preprocessor, 4, 0, False, buckets
        )

    bucketed, full = make(8), make(1)
    shorter = 0
    for (x, _), (full_x, _) in zip(bucketed, full):
        shorter += x["token_ids"].shape[1] < N
        np.testing.assert_allclose(
            classifier(x), classifier(full_x), atol=1e-5, rtol=1e-5
        )
    assert shorter > 0  # Some batches were really cut.
    # `evaluate` (a tf.function over batches of several shapes): same loss.
    np.testing.assert_allclose(
        classifier.evaluate(bucketed, verbose=0),
        classifier.evaluate(full, verbose=0),
        atol=1e-5,
        rtol=1e-5,
    )


@pytest.mark.parametrize("model", SLOW_MODELS)
def test_masked_lm_loss_equals_padding_to_n(model):
    keras.utils.set_random_seed(0)
    cls = task_classes(type(backbone(*model)))
    tokenizer = cls.tokenizer(vocabulary=list(SPECIAL_TOKENS) + WORDS)
    preprocessor = cls.masked_lm_preprocessor(
        tokenizer,
        sequence_length=N,
        mask_selection_rate=0.2,
        mask_selection_length=12,
    )
    masked_lm = cls.masked_lm(backbone(*model))
    masked_lm.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=["sparse_categorical_accuracy"],
    )
    texts = varied_texts(24, seed=2)

    def make(buckets):
        return data.masked_lm_dataset(texts, preprocessor, 4, 0, False, buckets)

    bucketed, full = make(8), make(1)
    for (x, y, _), (full_x, full_y, _) in zip(bucketed, full):
        np.testing.assert_array_equal(y, full_y)  # The same masks.
        np.testing.assert_allclose(
            masked_lm(x), masked_lm(full_x), atol=1e-5, rtol=1e-5
        )
    np.testing.assert_allclose(
        masked_lm.evaluate(bucketed, verbose=0),
        masked_lm.evaluate(full, verbose=0),
        atol=1e-5,
        rtol=1e-5,
    )


def test_cut_padding_rounds_the_longest_row_up_to_the_step():
    def lengths(real_lengths, step=64, n=128):
        mask = np.zeros((len(real_lengths), n), np.int32)
        for row, length in enumerate(real_lengths):
            mask[row, :length] = 1
        ids = mask * 7
        ids, cut = cut_padding(ids, mask, step, n)
        assert ids.shape == cut.shape
        np.testing.assert_array_equal(cut, mask[:, : cut.shape[1]])
        return cut.shape[1]

    assert lengths([3, 5]) == 64
    assert lengths([3, 64]) == 64
    assert lengths([3, 65]) == 128
    assert lengths([128]) == 128
    assert lengths([0, 0]) == 64  # rows of padding only
    assert lengths([]) == 64  # an empty batch
    assert lengths([30], step=64, n=40) == 40  # never past n


def grouped_dataset(kind, seed=0, texts=None):
    """Training data with `group_by_length=True`, batches of 4 (classifier
    data labeled with each text's index)."""
    cls = task_classes(LinformerBackbone)
    tokenizer = cls.tokenizer(vocabulary=list(SPECIAL_TOKENS) + WORDS)
    texts = texts or varied_texts(96, seed=3)
    if kind == "classifier":
        preprocessor = cls.text_classifier_preprocessor(
            tokenizer, sequence_length=N
        )
        return data.classification_dataset(
            texts, list(range(len(texts))), preprocessor, 4, seed, True, 8,
            group_by_length=True,
        )  # fmt: skip
    preprocessor = cls.masked_lm_preprocessor(
        tokenizer,
        sequence_length=N,
        mask_selection_rate=0.2,
        mask_selection_length=12,
    )
    return data.masked_lm_dataset(
        texts, preprocessor, 4, seed, True, 8, group_by_length=True
    )


def grouped_batches(kind, count, seed=0, texts=None):
    return numpy_batches(grouped_dataset(kind, seed, texts).take(count))


def bucket_of(real_lengths, step=N // 8):
    return set(-(-real_lengths // step))


@pytest.mark.parametrize("kind", ["classifier", "masked_lm"])
def test_group_by_length_batches_hold_one_bucket(kind):
    # 96 texts in batches of 4: 24 steps an epoch, 2 epochs.
    dataset = grouped_dataset(kind)
    batches = numpy_batches(dataset.take(48))
    buckets = set()
    for batch in batches:
        x = batch[0]
        real = x["padding_mask"].sum(axis=1)
        assert len(real) == 4
        (bucket,) = bucket_of(real)  # one bucket a batch...
        # ...and the batch is cut to that bucket's length.
        assert x["token_ids"].shape[1] == min(N, bucket * (N // 8))
        buckets.add(bucket)
    assert len(buckets) >= 5  # the texts fill most buckets
    # Deterministic: a new iterator (a resumed `fit`) starts the same
    # stream. (A new dataset, as a restarted process builds, does too:
    # test_resume.py resumes a grouped run to the uninterrupted metrics.)
    tf.nest.map_structure(
        np.testing.assert_array_equal,
        batches[:6],
        numpy_batches(dataset.take(6)),
    )
    if kind == "classifier":
        other = grouped_batches(kind, 6, seed=1)
        assert not all(
            np.array_equal(a[1], b[1]) for a, b in zip(batches, other)
        )


def test_group_by_length_sees_every_example_each_epoch():
    texts = varied_texts(96, seed=3)
    # Every bucket gets at least a batch of texts each epoch, so no text
    # waits in its bucket for more than an epoch.
    lengths = [min(N, len(text.split()) + 2) for text in texts]
    per_bucket = np.bincount([-(-length // 8) for length in lengths])
    assert per_bucket[per_bucket > 0].min() >= 4
    epochs = 6
    batches = [
        y for _, y in grouped_batches("classifier", 24 * epochs, texts=texts)
    ]
    counts = np.bincount(np.concatenate(batches), minlength=96)
    # Each epoch holds every text once; a text drawn late in an epoch may
    # wait in its bucket into the next, and the stream may run into the
    # next epoch by those waiting texts: 6 epochs of steps hold each text
    # 5 to 7 times (with `repeat().shuffle()`, as before: 4 to 8 times).
    assert counts.min() >= epochs - 1 and counts.max() <= epochs + 1, counts
    # The first two epochs of steps hold every text.
    assert set(np.concatenate(batches[:48])) == set(range(96))
