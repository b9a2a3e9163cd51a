"""Reading text corpora and labeled files into `tf.data` pipelines."""

import csv
import json
import os
import re

import tensorflow as tf

from keras_linformer.length_buckets import DEFAULT_LENGTH_BUCKETS
from keras_linformer.length_buckets import bucket_lengths
from keras_linformer.length_buckets import cut_padding

DEFAULT_CORPUS = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "data", "tinyshakespeare.txt"
)


def _check_file(path):
    if not os.path.exists(path):
        raise FileNotFoundError(f"File not found: '{path}'")
    if os.path.isdir(path):
        raise ValueError(f"Expected a file, but '{path}' is a directory.")


def _utf8_lines(path):
    """Yields `(line number, line)` of a UTF-8 text file (a leading
    byte-order mark removed); refuses, never replaces, invalid bytes."""
    offset = 0
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                bad = raw[e.start : e.start + 1]
                raise ValueError(
                    f"{path}, line {number}: not valid UTF-8 (byte "
                    f"0x{bad.hex()} at byte offset {offset + e.start} of the "
                    "file). keras-linformer reads UTF-8 text only; convert "
                    "the file first, e.g. `iconv -f latin1 -t utf-8 "
                    f"'{path}' > converted.txt` (use the file's real "
                    "encoding for -f)."
                ) from None
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]
            offset += len(raw)
            yield number, line


def read_text_lines(paths):
    """Non-empty lines of plain UTF-8 text files (a path, or a list), in
    order; a missing or empty file or invalid UTF-8 raises an error naming
    it."""
    if isinstance(paths, str):
        paths = [paths]
    lines = []
    for path in paths:
        _check_file(path)
        file_lines = [
            line.strip() for _, line in _utf8_lines(path) if line.strip()
        ]
        if not file_lines:
            raise ValueError(
                f"Text file '{path}' is empty (or holds only whitespace)."
            )
        lines.extend(file_lines)
    return lines


def group_lines(lines, words_per_sample):
    """Joins consecutive lines into samples of about `words_per_sample`
    words, so that short lines (a play's verse) fill the sequence length."""
    samples, current, count = [], [], 0
    for line in lines:
        current.append(line)
        count += len(line.split())
        if count >= words_per_sample:
            samples.append(" ".join(current))
            current, count = [], 0
    if current:
        samples.append(" ".join(current))
    return samples


def split_train_validation(lines, validation_fraction=0.1):
    """The first lines for training, the last `validation_fraction` held out."""
    cut = int(len(lines) * (1 - validation_fraction))
    if cut < 1 or cut >= len(lines):
        raise ValueError(
            f"Cannot hold out {validation_fraction:.0%} of {len(lines)} "
            "line(s) for validation: give more text or --validation-files."
        )
    return lines[:cut], lines[cut:]


# Labels are class indices; TensorFlow holds them as int32.
MAX_LABEL = 2**31 - 1
_TSV_INTEGER = re.compile(r"^[+-]?[0-9]+$")


def _json_kind(value):
    """How a JSON value is called in messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def read_labeled(path, return_line_numbers=False):
    """Texts and integer labels from a UTF-8 JSONL or TSV file.

    Args:
        path: a `.jsonl` / `.json` file, one object per line with `text`
            (or `sentence`) and `label`, a JSON integer (`1.0` is taken as
            1); or a `.tsv` / `.txt` file with a header naming `sentence`
            (or `text`) and `label`, a decimal integer. Labels are class
            indices (0, 1, ...); nothing is coerced (`1.7`, `true` or `"1"`
            is refused).
        return_line_numbers: also return the line number of each example
            (1-based; in a TSV file the header is line 1).

    Returns:
        `(texts, labels)`, two lists, or `(texts, labels, line_numbers)`.

    Raises:
        ValueError: naming the file and line of a malformed record.
    """
    _check_file(path)
    if path.endswith((".jsonl", ".json")):
        examples = _read_jsonl(path)
    elif path.endswith((".tsv", ".txt")):
        examples = _read_tsv(path)
    else:
        raise ValueError(
            f"{path}: unknown format; expected a .jsonl or .tsv file."
        )
    if not examples:
        raise ValueError(f"{path} holds no labeled examples.")
    texts, labels, line_numbers = (list(column) for column in zip(*examples))
    if return_line_numbers:
        return texts, labels, line_numbers
    return texts, labels


def _read_jsonl(path):
    examples = []
    for number, line in _utf8_lines(path):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            record = json.loads(line, parse_constant=_refuse_constant)
        except ValueError as e:  # Also json.JSONDecodeError.
            raise ValueError(f"{where}: not valid JSON ({e}).") from None
        if not isinstance(record, dict):
            raise ValueError(
                f"{where}: expected a JSON object with 'text' and 'label' "
                f"(one per line); found {_json_kind(record)}: "
                f"{_excerpt(line)}"
            )
        key = "text" if "text" in record else "sentence"
        if key not in record:
            raise ValueError(
                f"{where}: expected an object with 'text' (or 'sentence') "
                f"and 'label'; found keys {sorted(record)}."
            )
        text = record[key]
        if text is None:
            raise ValueError(f"{where}: {key} is null; expected a string.")
        if not isinstance(text, str):
            raise ValueError(
                f"{where}: {key} must be a string; found {_json_kind(text)}: "
                f"{_excerpt(json.dumps(text))}"
            )
        if "label" not in record:
            raise ValueError(
                f"{where}: no 'label'; found keys {sorted(record)}."
            )
        examples.append((text, _json_label(record["label"], where), number))
    return examples


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _excerpt(text, limit=60):
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_label(value, where):
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        shown = _excerpt(json.dumps(value))
        raise ValueError(
            f"{where}: label {shown} is not an integer (found "
            f"{_json_kind(value)}); labels are class indices 0, 1, 2, ..."
        )
    return _check_label_value(value, where)


def _check_label_value(label, where):
    if label < 0:
        raise ValueError(f"{where}: label {label} is negative.")
    if label > MAX_LABEL:
        raise ValueError(
            f"{where}: label {label} is too large (labels are class "
            f"indices, at most {MAX_LABEL})."
        )
    return label


def _read_tsv(path):
    # QUOTE_NONE: one record per line, so `line_num` is the record's line.
    reader = csv.DictReader(
        (line for _, line in _utf8_lines(path)),
        delimiter="\t",
        quoting=csv.QUOTE_NONE,
    )
    fields = reader.fieldnames or []
    text_field = "sentence" if "sentence" in fields else "text"
    if text_field not in fields or "label" not in fields:
        raise ValueError(
            f"{path}: expected a header with 'sentence' (or 'text') "
            f"and 'label' columns; found {fields}."
        )
    examples = []
    try:
        for row in reader:
            where = f"{path}, line {reader.line_num}"
            value = (row.get("label") or "").strip()
            if not value:
                raise ValueError(f"{where}: no label.")
            if not _TSV_INTEGER.match(value):
                raise ValueError(
                    f"{where}: label {value!r} is not an integer; labels "
                    "are class indices 0, 1, 2, ..."
                )
            label = _check_label_value(int(value), where)
            examples.append((row[text_field] or "", label, reader.line_num))
    except csv.Error as e:  # `reader.line_num` is still the last good row's.
        number = reader.reader.line_num
        raise ValueError(f"{path}, line {number}: {e}.") from None
    return examples


def check_labels(path, labels, line_numbers, num_classes):
    """Raises a `ValueError` naming the file, line and value of the first
    label outside `[0, num_classes)`, for the labels and line numbers of
    `read_labeled(path, return_line_numbers=True)`.

    Example:

    >>> texts, labels, lines = read_labeled("dev.jsonl", True)
    >>> check_labels("dev.jsonl", labels, lines, num_classes=2)
    """
    if len(labels) != len(line_numbers):
        raise ValueError(
            "`labels` and `line_numbers` must have the same length. "
            f"Received: {len(labels)} and {len(line_numbers)}"
        )
    for label, number in zip(labels, line_numbers):
        if not 0 <= label < num_classes:
            raise ValueError(
                f"{path}, line {number}: label {label} is out of range: the "
                f"classifier has {num_classes} class(es), labels "
                f"0 to {num_classes - 1}."
            )


def _examples(elements, training, seed):
    """The rows of `elements` (a list, or a tuple of lists): once, in order,
    for validation; for training, endless epochs, each in the order drawn
    with stateless ops from `(seed, epoch)`, the same for every iterator,
    run and restart."""
    if not training:
        return tf.data.Dataset.from_tensor_slices(elements)
    if isinstance(elements, tuple):
        elements = tuple(tf.convert_to_tensor(e) for e in elements)
    else:
        elements = tf.convert_to_tensor(elements)
    size = tf.nest.flatten(elements)[0].shape[0]
    seed = tf.constant(seed, tf.int64)

    def epoch_order(epoch):
        scores = tf.random.stateless_uniform(
            [size], seed=tf.stack([seed, epoch])
        )
        return tf.data.Dataset.from_tensor_slices(tf.argsort(scores))

    def row(index):
        return tf.nest.map_structure(lambda t: tf.gather(t, index), elements)

    return (
        tf.data.Dataset.counter()
        .flat_map(epoch_order)
        .map(row)
        .apply(
            tf.data.experimental.assert_cardinality(
                tf.data.INFINITE_CARDINALITY
            )
        )
    )


class StatelessMasking:
    """Dynamic masked-LM masking that depends only on a seed per example.

    Called on a scalar string and a seed of shape `(2,)`, returns
    `(x, y, sample_weight)` as the masked-LM `preprocessor` does for one
    example, but with stateless random ops: unlike `tf_text`'s stateful
    masking, the masks do not depend on batching, replica or restart.
    """

    def __init__(self, preprocessor):
        if preprocessor.mask_selection_length is None:
            raise ValueError(
                "The masked-LM preprocessor needs a `mask_selection_length` "
                "for fixed-shape batches."
            )
        if getattr(preprocessor, "packer", None) is None:
            preprocessor.build(None)
        self.preprocessor = preprocessor
        self.special_token_ids = tf.constant(
            preprocessor.tokenizer.special_token_ids, tf.int32
        )

    def __call__(self, text, seed):
        preprocessor = self.preprocessor
        tokenizer = preprocessor.tokenizer
        token_ids, _ = preprocessor.packer(tokenizer(text))
        token_ids = tf.cast(token_ids, tf.int32)
        k = preprocessor.mask_selection_length
        selectable = tf.reduce_all(
            token_ids[:, None] != self.special_token_ids[None, :], axis=1
        )
        count = tf.reduce_sum(tf.cast(selectable, tf.float32))
        selected = tf.math.ceil(count * preprocessor.mask_selection_rate)
        num = tf.minimum(tf.cast(selected, tf.int32), k)
        seeds = tf.random.experimental.stateless_split(seed, 3)
        # A random subset of `num` selectable positions, in order.
        scores = tf.random.stateless_uniform(
            [preprocessor.sequence_length], seed=seeds[0]
        )
        scores = tf.where(selectable, scores, 2.0)
        positions = tf.sort(tf.argsort(scores)[:num])
        original = tf.gather(token_ids, positions)
        # Mask token, random token, or unchanged (80/10/10 by default).
        u = tf.random.stateless_uniform([num], seed=seeds[1])
        random_ids = tf.random.stateless_uniform(
            [num],
            seed=seeds[2],
            minval=0,
            maxval=tokenizer.vocabulary_size(),
            dtype=tf.int32,
        )
        mask_token_rate = preprocessor.mask_token_rate
        values = tf.where(
            u < mask_token_rate,
            tokenizer.mask_token_id,
            tf.where(
                u < mask_token_rate + preprocessor.random_token_rate,
                random_ids,
                original,
            ),
        )
        masked = tf.tensor_scatter_nd_update(
            token_ids, positions[:, None], values
        )
        padding = [[0, k - num]]
        is_token = token_ids != tokenizer.pad_token_id
        x = {
            "token_ids": masked,
            "padding_mask": tf.cast(is_token, tf.int32),
            "mask_positions": tf.ensure_shape(tf.pad(positions, padding), [k]),
        }
        y = tf.ensure_shape(tf.pad(original, padding), [k])
        sample_weight = tf.ensure_shape(
            tf.pad(tf.ones([num], tf.float32), padding), [k]
        )
        return x, y, sample_weight


def trim_to_bucket(sequence_length, length_buckets=DEFAULT_LENGTH_BUCKETS):
    """A `tf.data.Dataset.map` function that cuts the padding of a batch
    `(x, ...)` down to the smallest of `bucket_lengths(n, length_buckets)`
    that holds its longest example: `x["token_ids"]` and
    `x["padding_mask"]` are cut, the rest passes through.
    """
    step = bucket_lengths(sequence_length, length_buckets)[0]

    def trim(x, *rest):
        x = dict(x)
        x["token_ids"], x["padding_mask"] = cut_padding(
            x["token_ids"], x["padding_mask"], step, sequence_length
        )
        return (x, *rest)

    return trim


def _group_by_length(ds, batch_size, sequence_length, length_buckets):
    """Batches of `batch_size` examples from one bucket of `bucket_lengths`
    each, emitted once full (deterministic). A bucket not full at the end
    of an epoch fills with examples of the next."""
    boundaries = [
        length + 1 for length in bucket_lengths(sequence_length, length_buckets)
    ][:-1]

    def real_length(x, *_):
        return tf.reduce_sum(tf.cast(x["padding_mask"] != 0, tf.int32))

    return ds.bucket_by_sequence_length(
        real_length,
        boundaries,
        [batch_size] * (len(boundaries) + 1),
        no_padding=True,
        drop_remainder=True,
    )


def masked_lm_dataset(
    samples,
    preprocessor,
    batch_size,
    seed,
    training,
    length_buckets=DEFAULT_LENGTH_BUCKETS,
    group_by_length=False,
):
    """Batched, masked-LM data whose masks are fixed by `seed`.

    Every example is masked with seeds made from `seed` and its position
    in the stream (`StatelessMasking`), so the same seed gives the same
    batches on every run, restart, worker and number of replicas.
    Training data repeats forever, each epoch every sample once in a
    seeded order, and drops the last partial batch; validation data keeps
    its order and last batch. Each batch is padded only to its bucket
    (`trim_to_bucket`; `length_buckets=1`: to n). Not `cache()`d: a cache
    that an abandoned iterator filled in part would serve a short pass.
    """
    masking = StatelessMasking(preprocessor)
    # Training and validation draw from different seed streams.
    stream = 0 if training else 1

    def mask(index, text):
        example_seed = tf.stack(
            [tf.constant(seed, tf.int64), 2 * index + stream]
        )
        return masking(text, example_seed)

    ds = (
        _examples(samples, training, seed)
        .enumerate()
        .map(mask, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    )
    if training and group_by_length:
        ds = _group_by_length(
            ds, batch_size, preprocessor.sequence_length, length_buckets
        )
    else:
        ds = ds.batch(batch_size, drop_remainder=training)
    ds = ds.map(trim_to_bucket(preprocessor.sequence_length, length_buckets))
    return ds.prefetch(tf.data.AUTOTUNE)


def classification_dataset(
    texts,
    labels,
    preprocessor,
    batch_size,
    seed,
    training,
    length_buckets=DEFAULT_LENGTH_BUCKETS,
    group_by_length=False,
):
    """Batched, preprocessed (text, label) data, repeated and shuffled for
    training, as `masked_lm_dataset`; with `group_by_length`, training
    batches hold texts of similar length."""
    ds = _examples((texts, labels), training, seed)
    if training and group_by_length:
        ds = ds.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
        ds = _group_by_length(
            ds, batch_size, preprocessor.sequence_length, length_buckets
        )
    else:
        ds = ds.batch(batch_size, drop_remainder=training).map(preprocessor)
    ds = ds.map(trim_to_bucket(preprocessor.sequence_length, length_buckets))
    return ds.prefetch(tf.data.AUTOTUNE)
