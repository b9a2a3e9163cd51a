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


def _not_utf8_error(path, number, offset, raw, error):
    """The error for line `number` (bytes `raw`, starting at byte `offset`
    of the file) where decoding failed with `error`."""
    bad = raw[error.start : error.start + 1]
    return ValueError(
        f"{path}, line {number}: not valid UTF-8 (byte 0x{bad.hex()} at "
        f"byte offset {offset + error.start} of the file). keras-linformer "
        "reads UTF-8 text only; convert the file first, e.g. "
        f"`iconv -f latin1 -t utf-8 '{path}' > converted.txt` (use the "
        "file's real encoding for -f)."
    )


def _utf8_lines(path):
    """Yields `(line number, line)` of a UTF-8 text file: each line with its
    line end (lines end at newline bytes), a leading byte-order mark
    removed.

    Raises:
        ValueError: at the first byte that is not valid UTF-8, naming the
            file, the line and the byte offset (every reader of this module
            refuses such files instead of replacing bytes, so a vocabulary
            never learns U+FFFD and a label file never loses a character
            silently).
    """
    offset = 0
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise _not_utf8_error(path, number, offset, raw, e) from None
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]
            offset += len(raw)
            yield number, line


def read_text_lines(paths):
    """Non-empty lines of plain UTF-8 text files, in order.

    Raises:
        FileNotFoundError / ValueError: naming a missing or empty file, or
            the file, line and byte offset of the first byte that is not
            valid UTF-8.
    """
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
    """Joins consecutive lines into samples of about `words_per_sample` words.

    Short lines (a play's verse, a list) make poor masked-LM samples on their
    own; grouping fills the sequence length the way documents would.
    """
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

    JSONL: one object per line with `text` (or `sentence`), a string, and
    `label`, a JSON integer (an integral number such as `1.0` is taken as
    that integer). TSV: a header with `sentence` (or `text`) and `label`
    columns, as GLUE; labels are decimal integers (`0`, `1`, ...). Labels
    are class indices: 0 or more. Empty lines of a JSONL file are skipped.

    Nothing is coerced: a label such as `1.7`, `true`, `"1"`, `NaN` or
    `Infinity`, a `null` text, a line that is not a JSON object, or bytes
    that are not UTF-8 are refused, naming the file, line and value.
    Whether the labels fit the classifier's classes is the caller's check
    (`check_labels`, with the line numbers this returns).

    Args:
        path: a `.jsonl` / `.json` or `.tsv` / `.txt` file.
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
            record = json.loads(line, parse_constant=_no_constant)
        except json.JSONDecodeError as e:
            raise ValueError(f"{where}: not valid JSON ({e}).") from e
        except _NonFiniteNumber as e:
            raise ValueError(
                f"{where}: {e.args[0]} is not a JSON number; labels are "
                "integers, texts strings."
            ) from None
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


class _NonFiniteNumber(Exception):
    pass


def _no_constant(name):
    raise _NonFiniteNumber(name)


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
    lines = _utf8_lines(path)
    numbers = []

    def text_lines():
        for number, line in lines:
            numbers.append(number)
            yield line

    reader = csv.DictReader(
        text_lines(), delimiter="\t", quoting=csv.QUOTE_NONE
    )
    fields = reader.fieldnames or []
    text_field = "sentence" if "sentence" in fields else "text"
    if text_field not in fields or "label" not in fields:
        raise ValueError(
            f"{path}: expected a header with 'sentence' (or 'text') "
            f"and 'label' columns; found {fields}."
        )
    examples = []
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as e:
            raise ValueError(f"{path}, line {numbers[-1]}: {e}.") from None
        # QUOTE_NONE: one record per line, the line just read.
        number = numbers[-1]
        where = f"{path}, line {number}"
        value = row.get("label")
        if value is None or not value.strip():
            raise ValueError(f"{where}: no label.")
        if not _TSV_INTEGER.match(value.strip()):
            raise ValueError(
                f"{where}: label {value.strip()!r} is not an integer; labels "
                "are class indices 0, 1, 2, ..."
            )
        label = _check_label_value(int(value.strip()), where)
        examples.append((row[text_field] or "", label, number))
    return examples


def check_labels(path, labels, line_numbers, num_classes):
    """Raises a `ValueError` naming the file, line and value of the first
    label outside `[0, num_classes)`.

    For the labels and line numbers of `read_labeled(path,
    return_line_numbers=True)`, before training or evaluating a classifier
    with `num_classes` classes (a label past the last class would
    otherwise train on garbage or fail deep inside the loss).

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


def _shuffled_epochs(elements, size, seed):
    """An endless stream of epochs of `elements` (a tensor, or a tuple of
    tensors, of `size` rows), each epoch every row once, in its own order.

    Epoch e is the permutation drawn with stateless ops from `(seed, e)`,
    so the stream is the same for every iterator, run and restart (what
    resuming needs: the second `fit` of a resumed run, or the iterator
    that `fit` makes after pulling a first batch to build the model under
    a strategy, sees the batches of an uninterrupted run), and an epoch is
    an epoch: `repeat().shuffle(buffer)`, used before, mixed the epochs in
    its buffer, so that about a third of the examples (1/e) were not seen
    in the first epoch and others twice.
    """
    if isinstance(elements, tuple):
        elements = tuple(tf.convert_to_tensor(e) for e in elements)
    else:
        elements = tf.convert_to_tensor(elements)
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

    Tokenizes and packs one text with the `preprocessor`'s tokenizer and
    packer, then masks it as the preprocessor's `MaskedLMMaskGenerator`
    would (the same `mask_selection_rate`, `mask_selection_length`,
    `mask_token_rate`, `random_token_rate` and unselectable special
    tokens), but draws every random number with stateless ops from the
    given seed. The masks of an example therefore do not depend on what
    ran before it, on how examples are batched, on which worker or replica
    processes it, or on a restart: `tf_text`'s masking uses stateful
    random ops, whose numbers change when `tf.distribute` rewrites the
    input pipeline or splits the batches differently.

    Called on a scalar string and a seed of shape `(2,)`, returns
    `(x, y, sample_weight)` as the preprocessor does for one example.
    """

    def __init__(self, preprocessor):
        if preprocessor.mask_selection_length is None:
            raise ValueError(
                "The masked-LM preprocessor needs a `mask_selection_length` "
                "for fixed-shape batches."
            )
        if getattr(preprocessor, "packer", None) is None:
            preprocessor.build(None)
        self.tokenizer = preprocessor.tokenizer
        self.packer = preprocessor.packer
        self.sequence_length = preprocessor.sequence_length
        self.selection_rate = preprocessor.mask_selection_rate
        self.selection_length = preprocessor.mask_selection_length
        self.mask_token_rate = preprocessor.mask_token_rate
        self.random_token_rate = preprocessor.random_token_rate
        self.vocabulary_size = self.tokenizer.vocabulary_size()
        self.mask_token_id = self.tokenizer.mask_token_id
        self.pad_token_id = self.tokenizer.pad_token_id
        self.special_token_ids = tf.constant(
            self.tokenizer.special_token_ids, tf.int32
        )

    def __call__(self, text, seed):
        token_ids, _ = self.packer(self.tokenizer(text))
        token_ids = tf.cast(token_ids, tf.int32)
        length, k = self.sequence_length, self.selection_length
        selectable = tf.reduce_all(
            token_ids[:, None] != self.special_token_ids[None, :], axis=1
        )
        count = tf.reduce_sum(tf.cast(selectable, tf.float32))
        num = tf.minimum(
            tf.cast(tf.math.ceil(count * self.selection_rate), tf.int32), k
        )
        seeds = tf.random.experimental.stateless_split(seed, 3)
        # A random subset of `num` selectable positions, in order.
        scores = tf.random.stateless_uniform([length], seed=seeds[0])
        scores = tf.where(selectable, scores, 2.0)
        positions = tf.sort(tf.argsort(scores)[:num])
        original = tf.gather(token_ids, positions)
        # Mask token, random token, or unchanged (80/10/10 by default).
        u = tf.random.stateless_uniform([num], seed=seeds[1])
        random_ids = tf.random.stateless_uniform(
            [num],
            seed=seeds[2],
            minval=0,
            maxval=self.vocabulary_size,
            dtype=tf.int32,
        )
        values = tf.where(
            u < self.mask_token_rate,
            self.mask_token_id,
            tf.where(
                u < self.mask_token_rate + self.random_token_rate,
                random_ids,
                original,
            ),
        )
        masked = tf.tensor_scatter_nd_update(
            token_ids, positions[:, None], values
        )
        padding = [[0, k - num]]
        x = {
            "token_ids": masked,
            "padding_mask": tf.cast(token_ids != self.pad_token_id, tf.int32),
            "mask_positions": tf.ensure_shape(tf.pad(positions, padding), [k]),
        }
        y = tf.ensure_shape(tf.pad(original, padding), [k])
        sample_weight = tf.ensure_shape(
            tf.pad(tf.ones([num], tf.float32), padding), [k]
        )
        return x, y, sample_weight


def trim_to_bucket(sequence_length, length_buckets=DEFAULT_LENGTH_BUCKETS):
    """A `tf.data.Dataset.map` function that cuts the padding of a batch
    down to the smallest of `bucket_lengths(n, length_buckets)` that holds
    its longest example (`keras_linformer.length_buckets`).

    Takes `(x, ...)` where `x` holds `token_ids` and `padding_mask` of
    shape `(batch, n)`, padded at the end as the preprocessors pack; cuts
    both, and passes the rest (labels, sample weights, `mask_positions`,
    which point at real positions only) through. The model's outputs and
    loss are the ones it gives on the batch padded to n.
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
    """Batches of `batch_size` examples of similar length: each example
    goes to the bucket of `bucket_lengths` that holds its real length, and
    a bucket is emitted as a batch once full. A batch then costs about its
    bucket's length instead of the longest of random examples (on reviews
    of 200 to 14,000 bytes, most random batches hold one long review).
    Deterministic for a deterministic input order, so resuming still sees
    the batches of an uninterrupted run.

    On the endless stream of epochs nothing is dropped: a bucket that is
    not full at the end of an epoch fills with examples of the next, so an
    epoch of steps holds every example but those still waiting in a
    bucket (at most `batch_size - 1` a bucket), which come in the next."""
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
    batches on every run, restart (what resuming needs), worker and number
    of replicas. Training data repeats forever, each epoch every sample
    once in a seeded order (`_shuffled_epochs`), and drops the last
    partial batch; validation data keeps its order and last batch, and
    every pass over it gives the same masks. Each batch is padded only to
    its bucket (`trim_to_bucket`; `length_buckets=1`: to n).

    Validation data is not `cache()`d: its masks are the same on every
    pass anyway, and an in-memory cache that an abandoned iterator filled
    in part (Keras pulls one batch from a throwaway iterator before each
    evaluation under a strategy) could serve a truncated pass: fewer
    batches than its cardinality, "Your input ran out of data", and
    validation metrics over part of the data.
    """
    masking = StatelessMasking(preprocessor)
    # Training and validation draw from different seed streams.
    stream = 0 if training else 1

    def mask(index, text):
        example_seed = tf.stack(
            [tf.constant(seed, tf.int64), 2 * index + stream]
        )
        return masking(text, example_seed)

    if training:
        ds = _shuffled_epochs(samples, len(samples), seed)
    else:
        ds = tf.data.Dataset.from_tensor_slices(samples)
    ds = ds.enumerate().map(
        mask, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
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
    """Batched, preprocessed (text, label) data.

    Training data repeats forever, each epoch every example once in a
    seeded order (`_shuffled_epochs`), and drops the last partial batch;
    validation data keeps its order and last batch (and, as in
    `masked_lm_dataset`, is not cached). Each batch is padded only to its
    bucket (`trim_to_bucket`); with `group_by_length`, training batches
    hold texts of similar length (`_group_by_length`)."""
    if training:
        ds = _shuffled_epochs((texts, labels), len(texts), seed)
    else:
        ds = tf.data.Dataset.from_tensor_slices((texts, labels))
    if training and group_by_length:
        ds = ds.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
        ds = _group_by_length(
            ds, batch_size, preprocessor.sequence_length, length_buckets
        )
    else:
        if training:
            ds = ds.batch(batch_size, drop_remainder=True)
        else:
            ds = ds.batch(batch_size)
        ds = ds.map(preprocessor)
    ds = ds.map(trim_to_bucket(preprocessor.sequence_length, length_buckets))
    return ds.prefetch(tf.data.AUTOTUNE)
