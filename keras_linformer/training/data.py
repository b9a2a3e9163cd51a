"""Reading text corpora and labeled files into `tf.data` pipelines."""

import csv
import json
import os

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


def read_text_lines(paths):
    """Non-empty lines of plain text files, in order.

    Raises:
        FileNotFoundError / ValueError: naming a missing or empty file.
    """
    lines = []
    for path in paths:
        _check_file(path)
        with open(path, encoding="utf-8", errors="replace") as f:
            file_lines = [line.strip() for line in f if line.strip()]
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


def read_labeled(path):
    """Texts and integer labels from a JSONL or TSV file.

    JSONL: one object per line with `text` (or `sentence`) and `label`.
    TSV: a header with `sentence` (or `text`) and `label` columns, as GLUE.

    Returns:
        `(texts, labels)`, two lists.

    Raises:
        ValueError: naming the file and line of a malformed record.
    """
    _check_file(path)
    texts, labels = [], []
    if path.endswith((".jsonl", ".json")):
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(
                        f"{path}, line {number}: not valid JSON ({e})."
                    ) from e
                text = record.get("text", record.get("sentence"))
                if text is None or "label" not in record:
                    raise ValueError(
                        f"{path}, line {number}: expected an object with "
                        f"'text' and 'label'; found keys {sorted(record)}."
                    )
                texts.append(str(text))
                labels.append(_label(record["label"], path, number))
    elif path.endswith((".tsv", ".txt")):
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            fields = reader.fieldnames or []
            text_field = "sentence" if "sentence" in fields else "text"
            if text_field not in fields or "label" not in fields:
                raise ValueError(
                    f"{path}: expected a header with 'sentence' (or 'text') "
                    f"and 'label' columns; found {fields}."
                )
            for number, row in enumerate(reader, 2):
                if row.get("label") in (None, ""):
                    raise ValueError(f"{path}, line {number}: no label.")
                texts.append(row[text_field] or "")
                labels.append(_label(row["label"], path, number))
    else:
        raise ValueError(
            f"{path}: unknown format; expected a .jsonl or .tsv file."
        )
    if not texts:
        raise ValueError(f"{path} holds no labeled examples.")
    return texts, labels


def _label(value, path, number):
    try:
        label = int(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{path}, line {number}: label {value!r} is not an integer."
        ) from None
    if label < 0:
        raise ValueError(f"{path}, line {number}: label {label} is negative.")
    return label


def _repeat_and_shuffle(ds, size, seed):
    """One endless, seeded shuffled stream, the same for every iterator.

    With the default `reshuffle_each_iteration=True`, every new iterator
    of the same dataset object draws another order: the second `fit` of a
    resumed run, or the iterator that `fit` makes after pulling a first
    batch to build the model under a strategy, would not see the batches
    of an uninterrupted run. `repeat()` before `shuffle` still reshuffles
    across epochs (the shuffle buffer spans epoch boundaries).
    """
    return ds.repeat().shuffle(
        min(size, 10_000), seed=seed, reshuffle_each_iteration=False
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
    the batches of an uninterrupted run."""
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
    of replicas. Training data repeats forever with seeded shuffling and
    drops the last partial batch; validation data is masked once and
    cached, so every evaluation sees the same masks. Each batch is padded
    only to its bucket (`trim_to_bucket`; `length_buckets=1`: to n).
    """
    masking = StatelessMasking(preprocessor)
    # Training and validation draw from different seed streams.
    stream = 0 if training else 1

    def mask(index, text):
        example_seed = tf.stack(
            [tf.constant(seed, tf.int64), 2 * index + stream]
        )
        return masking(text, example_seed)

    ds = tf.data.Dataset.from_tensor_slices(samples)
    if training:
        ds = _repeat_and_shuffle(ds, len(samples), seed)
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
    if not training:
        ds = ds.cache()
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
    """Batched, preprocessed (text, label) data; training data repeats.
    Each batch is padded only to its bucket (`trim_to_bucket`); with
    `group_by_length`, training batches hold texts of similar length
    (`_group_by_length`)."""
    ds = tf.data.Dataset.from_tensor_slices((texts, labels))
    if training and group_by_length:
        ds = _repeat_and_shuffle(ds, len(texts), seed)
        ds = ds.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
        ds = _group_by_length(
            ds, batch_size, preprocessor.sequence_length, length_buckets
        )
    else:
        if training:
            ds = _repeat_and_shuffle(ds, len(texts), seed)
            ds = ds.batch(batch_size, drop_remainder=True)
        else:
            ds = ds.batch(batch_size)
        ds = ds.map(preprocessor)
    ds = ds.map(trim_to_bucket(preprocessor.sequence_length, length_buckets))
    if not training:
        ds = ds.cache()
    return ds.prefetch(tf.data.AUTOTUNE)
