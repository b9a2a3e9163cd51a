"""Reading text corpora and labeled files into `tf.data` pipelines."""

import csv
import json
import os

import tensorflow as tf

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


def masked_lm_dataset(samples, preprocessor, batch_size, seed, training):
    """Batched, preprocessed masked-LM data.

    Training data repeats forever with seeded shuffling; masking runs
    sequentially so the same seed gives the same batches on every run (what
    resuming needs). Validation data is masked once and cached, so every
    evaluation sees the same masks.
    """
    ds = tf.data.Dataset.from_tensor_slices(samples)
    if training:
        ds = ds.repeat().shuffle(min(len(samples), 10_000), seed=seed)
        ds = ds.batch(batch_size, drop_remainder=True).map(preprocessor)
    else:
        ds = ds.batch(batch_size).map(preprocessor).cache()
    return ds.prefetch(tf.data.AUTOTUNE)


def classification_dataset(
    texts, labels, preprocessor, batch_size, seed, training
):
    """Batched, preprocessed (text, label) data; training data repeats."""
    ds = tf.data.Dataset.from_tensor_slices((texts, labels))
    if training:
        ds = ds.repeat().shuffle(min(len(texts), 10_000), seed=seed)
        ds = ds.batch(batch_size, drop_remainder=True)
    else:
        ds = ds.batch(batch_size)
    ds = ds.map(preprocessor)
    if not training:
        ds = ds.cache()
    return ds.prefetch(tf.data.AUTOTUNE)
