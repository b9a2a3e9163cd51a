"""The training data is the same on every run, restart, worker and split."""

import functools

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


def new_mlm(
    preprocessor, batch_size=8, seed=0, training=True, length_buckets=8
):
    return data.masked_lm_dataset(
        TEXTS, preprocessor, batch_size, seed, training, length_buckets
    )


# Building a dataset traces its masking (seconds); tests that do not need
# a dataset of their own share one.
mlm = functools.lru_cache(new_mlm)


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
    assert_same(first, batches(new_mlm(preprocessor), 6))


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


def test_every_epoch_holds_every_example_once(tokenizer):
    # 40 examples, batches of 8: epoch e is batches 5e to 5e + 4. With
    # `repeat().shuffle(40)` about 1/e of the examples were missing from
    # the first epoch and others there twice.
    dataset = data.classification_dataset(
        TEXTS,
        list(range(40)),  # the label names the example
        LinformerTextClassifierPreprocessor(tokenizer, sequence_length=12),
        batch_size=8,
        seed=0,
        training=True,
    )
    labels = np.concatenate([y for _, y in batches(dataset, 15)])
    epochs = labels.reshape(3, 40)
    for epoch in epochs:
        assert sorted(epoch) == list(range(40))
    # Each epoch in its own order, none in file order.
    assert len({tuple(epoch) for epoch in epochs}) == 3
    assert list(epochs[0]) != list(range(40))


def test_masked_lm_epochs_hold_every_sample_once(preprocessor, tokenizer):
    # The unmasked ids of each example identify its text.
    def original_ids(x, y, weight):
        ids = x["token_ids"].copy()
        for row in range(len(ids)):
            n = int(weight[row].sum())
            ids[row, x["mask_positions"][row, :n]] = y[row, :n]
        return [tuple(row[row != 0]) for row in ids]

    index = {}
    for i, text in enumerate(TEXTS):
        ids = np.asarray(tokenizer(text))[:10]
        key = (tokenizer.cls_token_id, *ids, tokenizer.sep_token_id)
        index.setdefault(key, set()).add(i)
    seen = []
    for batch in batches(mlm(preprocessor, batch_size=8, length_buckets=1), 5):
        seen += original_ids(*batch)
    # Texts that tokenize alike are one key: compare the multisets.
    assert sorted(seen) == sorted(
        key for key, texts in index.items() for _ in texts
    )


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


# === Reading labeled and text files: nothing coerced, errors located ===


def write_lines(path, lines, mode="w"):
    if mode == "wb":
        path.write_bytes(b"".join(line + b"\n" for line in lines))
    else:
        path.write_text("".join(line + "\n" for line in lines))
    return str(path)


@pytest.mark.parametrize(
    "label, shown",
    [
        ("1.7", "1.7"),
        ("0.2", "0.2"),
        ("true", "true"),
        ('"1"', '"1"'),
        ("Infinity", "Infinity"),
        ("NaN", "NaN"),
        ("1e400", "Infinity"),
        ("null", "null"),
        ("[1]", "[1]"),
        ("-1", "-1"),
        ("4294967296", "4294967296"),
    ],
)
def test_jsonl_labels_must_be_integers(tmp_path, label, shown):
    path = write_lines(
        tmp_path / "train.jsonl",
        [
            '{"text": "fine", "label": 0}',
            f'{{"text": "bad", "label": {label}}}',
        ],
    )
    with pytest.raises(ValueError) as error:
        data.read_labeled(path)
    message = str(error.value)
    assert f"{path}, line 2:" in message
    assert shown in message


def test_jsonl_integral_numbers_are_labels(tmp_path):
    path = write_lines(
        tmp_path / "train.jsonl",
        [
            '{"text": "a", "label": 1}',
            "",
            '{"sentence": "b", "label": 1.0}',
            '{"text": "c", "label": 0, "other": null}',
        ],
    )
    assert data.read_labeled(path) == (["a", "b", "c"], [1, 1, 0])
    texts, labels, lines = data.read_labeled(path, return_line_numbers=True)
    assert labels == [1, 1, 0] and lines == [1, 3, 4]
    assert all(type(label) is int for label in labels)


@pytest.mark.parametrize(
    "line, fragment",
    [
        ('{"text": null, "label": 1}', "text is null"),
        ('{"sentence": null, "label": 1}', "sentence is null"),
        ('{"text": 5, "label": 1}', "text must be a string"),
        ('{"text": "no label"}', "no 'label'"),
        ('{"label": 1}', "found keys ['label']"),
        ('["text", 1]', "expected a JSON object"),
        ("17", "expected a JSON object"),
        ('"just a string"', "expected a JSON object"),
        ("{broken", "not valid JSON"),
    ],
)
def test_jsonl_malformed_records_name_file_and_line(tmp_path, line, fragment):
    path = write_lines(
        tmp_path / "dev.jsonl", ['{"text": "fine", "label": 0}', "", line]
    )
    with pytest.raises(ValueError) as error:
        data.read_labeled(path)
    assert f"{path}, line 3:" in str(error.value)
    assert fragment in str(error.value)


@pytest.mark.parametrize("label", ["1.7", "1.0", "true", "one", "-2", "1e3"])
def test_tsv_labels_must_be_decimal_integers(tmp_path, label):
    path = write_lines(
        tmp_path / "train.tsv", ["sentence\tlabel", "good\t1", f"bad\t{label}"]
    )
    with pytest.raises(ValueError) as error:
        data.read_labeled(path)
    assert f"{path}, line 3:" in str(error.value)
    assert label in str(error.value)


def test_tsv_labels_and_line_numbers(tmp_path):
    path = write_lines(
        tmp_path / "train.tsv",
        ["sentence\tlabel", "good\t1", "", "bad\t 0 ", "so so\t2"],
    )
    texts, labels, lines = data.read_labeled(path, return_line_numbers=True)
    assert texts == ["good", "bad", "so so"]
    assert labels == [1, 0, 2] and lines == [2, 4, 5]


def test_check_labels_names_file_line_and_value(tmp_path):
    path = write_lines(
        tmp_path / "dev.jsonl",
        ['{"text": "a", "label": 1}', '{"text": "b", "label": 2}'],
    )
    texts, labels, lines = data.read_labeled(path, return_line_numbers=True)
    data.check_labels(path, labels, lines, num_classes=3)
    with pytest.raises(ValueError) as error:
        data.check_labels(path, labels, lines, num_classes=2)
    message = str(error.value)
    assert f"{path}, line 2: label 2 is out of range" in message
    assert "2 class(es)" in message


def assert_names_invalid_byte(error, path, line, offset):
    message = str(error.value)
    assert f"{path}, line {line}:" in message
    assert "not valid UTF-8" in message
    assert f"byte 0xe9 at byte offset {offset}" in message
    assert "iconv" in message


def test_text_reader_refuses_non_utf8(tmp_path):
    # Was read with errors="replace": the vocabulary learned 'caf\ufffd'.
    path = tmp_path / "corpus.txt"
    path.write_bytes("première ligne\nsecond line\n".encode() + b"un caf\xe9\n")
    with pytest.raises(ValueError) as error:
        data.read_text_lines([str(path)])
    # "première ligne\n" is 16 bytes, "second line\n" 12, "un caf" 6.
    assert_names_invalid_byte(error, path, 3, 16 + 12 + 6)


@pytest.mark.parametrize("suffix", ["jsonl", "tsv"])
def test_labeled_reader_refuses_non_utf8(tmp_path, suffix):
    if suffix == "jsonl":
        head = b'{"text": "ok", "label": 0}\n'
        bad = b'{"text": "caf\xe9", "label": 1}\n'
        offset = len(head) + len(b'{"text": "caf')
    else:
        head = b"sentence\tlabel\n"
        bad = b"caf\xe9\t1\n"
        offset = len(head) + len(b"caf")
    path = tmp_path / f"train.{suffix}"
    path.write_bytes(head + bad)
    with pytest.raises(ValueError) as error:
        data.read_labeled(str(path))
    assert_names_invalid_byte(error, path, 2, offset)


def test_readers_take_a_byte_order_mark(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_bytes("\ufeffsentence\tlabel\ngood\t1\n".encode())
    assert data.read_labeled(str(path)) == (["good"], [1])
    path = tmp_path / "corpus.txt"
    path.write_bytes("\ufeffword\n".encode())
    assert data.read_text_lines([str(path)]) == ["word"]
