"""The training data is the same on every run, restart, worker and split."""

import numpy as np
import pytest
import tensorflow as tf

from keras_linformer.artifacts import atomic_directory
from keras_linformer.models import SPECIAL_TOKENS
from keras_linformer.models import LinformerMaskedLMPreprocessor
from keras_linformer.models import LinformerTextClassifierPreprocessor
from keras_linformer.models import LinformerTokenizer
from keras_linformer.training import data

WORDS = "the quick brown fox jumped over lazy dog a cat sat on mat".split()
TEXTS = [" ".join(WORDS[i % 5 : i % 5 + 3 + i % 7]) for i in range(40)]


@pytest.fixture(scope="module")
def tokenizer():
    return LinformerTokenizer(vocabulary=list(SPECIAL_TOKENS) + WORDS)


@pytest.fixture(scope="module")
def preprocessor(tokenizer):
    return LinformerMaskedLMPreprocessor(
        tokenizer,
        sequence_length=12,
        mask_selection_rate=0.3,
        mask_selection_length=4,
    )


def mlm(preprocessor, batch_size=8, seed=0, training=True, length_buckets=8):
    return data.masked_lm_dataset(
        TEXTS, preprocessor, batch_size, seed, training, length_buckets
    )


def batches(dataset, n):
    return [
        tf.nest.map_structure(lambda t: t.numpy(), b) for b in dataset.take(n)
    ]


def assert_same(a, b):
    tf.nest.map_structure(np.testing.assert_array_equal, a, b)


def flat_examples(batch_list):
    """The examples of a list of batches, one array per leaf."""
    return tf.nest.map_structure(
        lambda *leaves: np.concatenate(leaves), *batch_list
    )


def test_same_batches_from_a_new_dataset_and_a_new_iterator(preprocessor):
    dataset = mlm(preprocessor)
    first = batches(dataset, 6)
    # A second iterator of the same object (a resumed `fit`, or the batch
    # `fit` pulls to build under a strategy) starts the same stream...
    assert_same(first, batches(dataset, 6))
    # ...and so does a dataset built again (a restarted process).
    assert_same(first, batches(mlm(preprocessor), 6))


def test_skip_continues_the_stream(preprocessor):
    # What a restart at step 4 trains on is what step 5 was.
    assert_same(
        batches(mlm(preprocessor), 7)[4:], batches(mlm(preprocessor).skip(4), 3)
    )


def test_masks_do_not_depend_on_the_batch_split(preprocessor):
    # One global batch of 8 = two per-replica batches of 4 (padded to n:
    # each batch is cut to its own longest example otherwise).
    assert_same(
        flat_examples(batches(mlm(preprocessor, 8, length_buckets=1), 3)),
        flat_examples(batches(mlm(preprocessor, 4, length_buckets=1), 6)),
    )


def test_the_seed_changes_order_and_masks(preprocessor):
    a = batches(mlm(preprocessor, seed=0), 1)[0]
    b = batches(mlm(preprocessor, seed=1), 1)[0]
    assert not np.array_equal(a[0]["token_ids"], b[0]["token_ids"])
    # Validation data: not shuffled, but masked differently per seed.
    a = batches(mlm(preprocessor, seed=0, training=False), 1)[0]
    b = batches(mlm(preprocessor, seed=1, training=False), 1)[0]
    assert not np.array_equal(a[0]["mask_positions"], b[0]["mask_positions"])


def test_masking_follows_the_preprocessor_settings(preprocessor, tokenizer):
    ((x, y, weight),) = batches(
        mlm(preprocessor, batch_size=40, length_buckets=1), 1
    )
    assert x["token_ids"].shape == (40, 12)
    assert x["mask_positions"].shape == y.shape == weight.shape == (40, 4)
    assert x["padding_mask"].dtype == np.int32
    special = set(tokenizer.special_token_ids)
    outcomes = {"mask": 0, "other": 0}
    for row in range(40):
        n = int(weight[row].sum())
        assert np.all(weight[row, n:] == 0) and np.all(y[row, n:] == 0)
        positions = x["mask_positions"][row, :n]
        assert np.all(np.diff(positions) > 0)
        real = int(x["padding_mask"][row].sum())
        # ceil(rate * selectable tokens), at most mask_selection_length.
        assert n == min(4, int(np.ceil(0.3 * (real - 2))))
        for position, label in zip(positions, y[row, :n]):
            assert 1 <= position < real - 1  # Never [CLS] or [SEP].
            assert label not in special
            masked = x["token_ids"][row, position]
            outcomes[
                "mask" if masked == tokenizer.mask_token_id else "other"
            ] += 1
        assert x["token_ids"][row, 0] == tokenizer.cls_token_id
        assert x["token_ids"][row, real - 1] == tokenizer.sep_token_id
    assert outcomes["mask"] > 2 * outcomes["other"]  # 80% [MASK].


def test_validation_data_is_fixed_and_keeps_the_last_batch(preprocessor):
    dataset = mlm(preprocessor, batch_size=16, training=False)
    first = batches(dataset, 3)
    assert [b[1].shape[0] for b in first] == [16, 16, 8]
    assert_same(first, batches(dataset, 3))


def test_classification_data_repeats_the_same_stream(tokenizer):
    dataset = data.classification_dataset(
        TEXTS,
        [i % 2 for i in range(40)],
        LinformerTextClassifierPreprocessor(tokenizer, sequence_length=12),
        batch_size=8,
        seed=0,
        training=True,
    )
    first = batches(dataset, 7)  # Crosses an epoch of 5 batches.
    assert_same(first, batches(dataset, 7))
    assert_same(first[3:], batches(dataset.skip(3), 4))
    assert first[0][0]["padding_mask"].dtype == np.int32


def test_atomic_directory_removes_what_a_killed_writer_left(tmp_path):
    stale = tmp_path / ".tmp-preset-abc123"
    stale.mkdir()
    (stale / "model.weights.h5").write_text("partial")
    with atomic_directory(tmp_path / "preset") as tmp:
        (tmp_path / "preset").exists() and pytest.fail("written early")
        with open(f"{tmp}/config.json", "w") as f:
            f.write("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preset"]
    assert (tmp_path / "preset" / "config.json").read_text() == "{}"


def test_atomic_directory_leaves_nothing_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_directory(tmp_path / "preset") as tmp:
            with open(f"{tmp}/config.json", "w") as f:
                f.write("{}")
            raise RuntimeError("failed while saving")
    assert list(tmp_path.iterdir()) == []
