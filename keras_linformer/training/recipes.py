"""The jobs behind `keras-linformer pretrain | finetune | evaluate`.

Every argument is checked before any work. Each job writes, atomically,
`output_dir/checkpoints/` (a restart with the same arguments resumes; one
with another model or head is refused),
`output_dir/preset/` (the trained task) and `output_dir/metrics.json`
(standard JSON: a non-finite value is null).

Example:

```python
model = ModelConfig(sequence_length=512, projected_dim=128)
pretrain(["wiki.txt"], model=model, epochs=3, output_dir="runs/mlm")
metrics = finetune("train.jsonl", "dev.jsonl", preset="runs/mlm/preset")
```
"""

import dataclasses
import functools
import json
import math
import os

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from keras_linformer.artifacts import atomic_directory
from keras_linformer.artifacts import write_text_atomic
from keras_linformer.length_buckets import bucket_lengths
from keras_linformer.models import LinformerBackbone
from keras_linformer.models import LinformerByteTokenizer
from keras_linformer.models import learn_vocabulary
from keras_linformer.models import task_classes
from keras_linformer.models.linformer_backbone import per_layer_projected_dims
from keras_linformer.models.presets import check_preset_directory
from keras_linformer.models.presets import load_preset
from keras_linformer.projections import validate_projection
from keras_linformer.training import data
from keras_linformer.training import optimizers
from keras_linformer.training import schedules
from keras_linformer.training.multi_worker import evaluate as evaluate_model
from keras_linformer.training.multi_worker import is_chief
from keras_linformer.training.resumable import check_model_settings
from keras_linformer.training.resumable import fit_resumable
from keras_linformer.training.strategy import check_global_batch_size
from keras_linformer.training.strategy import get_strategy
from keras_linformer_options import ATTENTIONS
from keras_linformer_options import DEFAULT_LENGTH_BUCKETS
from keras_linformer_options import MODEL_DEFAULTS
from keras_linformer_options import POOLINGS
from keras_linformer_options import STRATEGIES
from keras_linformer_options import TOKENIZERS

__all__ = ["ModelConfig", "evaluate", "finetune", "pretrain"]

# Words per pretraining sample, per position of the sequence: WordPiece
# makes about 1.3 tokens of a word, and [CLS]/[SEP] take two positions;
# UTF-8 bytes about 6 (five letters and a space) in English.
WORDS_PER_POSITION = {"wordpiece": 0.7, "byte": 1 / 6}

# An inferred number of classes (largest label + 1) above this many times
# the number of distinct labels (plus a margin) is a stray label, not a
# label set: one label 3,000,000 would build a 3,000,001-way head.
MAX_INFERRED_CLASSES_PER_LABEL = 2
INFERRED_CLASSES_MARGIN = 10


def _check_int(name, value, minimum=1, allow_none=False):
    if value is None and allow_none:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < minimum
    ):
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}. Received: "
            f"{name}={value!r}"
        )


def _check_float(name, value, low, high=None, include_low=False):
    ok = (
        isinstance(value, (int, float, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value >= low if include_low else value > low)
        and (high is None or value < high)
    )
    if not ok:
        interval = (
            f"{'[' if include_low else '('}{low}, "
            f"{'inf' if high is None else high})"
        )
        raise ValueError(
            f"`{name}` must be a number in {interval}. Received: "
            f"{name}={value!r}"
        )


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The model that `pretrain` (and `finetune` from scratch) builds,
    checked when made (a `ValueError` naming the values).

    Args:
        attention: `"linformer"`, or `"standard"`: a same-size keras_hub
            `RobertaBackbone`, which ignores the projection arguments.
        tokenizer: `"wordpiece"` (`vocabulary_size` pieces learned from the
            training text) or `"byte"` (`LinformerByteTokenizer`).
        vocabulary_size, num_layers, num_heads, hidden_dim,
        intermediate_dim: ints, as for `LinformerBackbone`.
        sequence_length: int. n, the longest input.
        projected_dim: int k, or one per layer (not with layerwise sharing).
        projection, sharing: as for `LinformerBackbone`.
        dropout: float in [0, 1).

    Example:

    >>> model = ModelConfig(sequence_length=512, projected_dim=128)
    >>> model.projected_dims
    (128, 128)
    >>> ModelConfig(sequence_length=128, projected_dim=256)
    Traceback (most recent call last):
    ...
    ValueError: `projected_dim` (k) must not exceed `sequence_length` (n). ...
    """

    attention: str = MODEL_DEFAULTS["attention"]
    tokenizer: str = MODEL_DEFAULTS["tokenizer"]
    vocabulary_size: int = MODEL_DEFAULTS["vocabulary_size"]
    num_layers: int = MODEL_DEFAULTS["num_layers"]
    num_heads: int = MODEL_DEFAULTS["num_heads"]
    hidden_dim: int = MODEL_DEFAULTS["hidden_dim"]
    intermediate_dim: int = MODEL_DEFAULTS["intermediate_dim"]
    sequence_length: int = MODEL_DEFAULTS["sequence_length"]
    projected_dim: int | tuple[int, ...] = MODEL_DEFAULTS["projected_dim"]
    projection: str = MODEL_DEFAULTS["projection"]
    sharing: str = MODEL_DEFAULTS["sharing"]
    dropout: float = MODEL_DEFAULTS["dropout"]

    def __post_init__(self):
        if isinstance(self.projected_dim, list):
            # Frozen: a list would make the config unhashable.
            object.__setattr__(self, "projected_dim", tuple(self.projected_dim))
        if self.attention not in ATTENTIONS:
            raise ValueError(
                f"Unknown `attention`: {self.attention!r}. Expected one of "
                f"{ATTENTIONS}."
            )
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(
                f"Unknown `tokenizer`: {self.tokenizer!r}. Expected one of "
                f"{TOKENIZERS}."
            )
        for name in (
            "num_layers",
            "num_heads",
            "hidden_dim",
            "intermediate_dim",
            "sequence_length",
        ):
            _check_int(name, getattr(self, name))
        if self.tokenizer == "wordpiece":
            _check_int("vocabulary_size", self.vocabulary_size)
        if self.num_heads > self.hidden_dim:
            raise ValueError(
                f"`num_heads` ({self.num_heads}) must not exceed "
                f"`hidden_dim` ({self.hidden_dim}): each head needs at "
                "least one dimension."
            )
        _check_float("dropout", self.dropout, 0, 1, include_low=True)
        if self.attention == "standard":
            return
        for k in per_layer_projected_dims(
            self.projected_dim, self.num_layers, self.sharing
        ):
            validate_projection(
                self.sequence_length, k, self.projection, self.sharing
            )

    @property
    def projected_dims(self):
        """One k per layer."""
        if isinstance(self.projected_dim, tuple):
            return self.projected_dim
        return (self.projected_dim,) * self.num_layers

    def build_backbone(self, vocabulary_size=None):
        """A `LinformerBackbone` (or, with `attention="standard"`, a
        same-size keras_hub `RobertaBackbone`) with `vocabulary_size`
        tokens (default: `self.vocabulary_size`)."""
        common = dict(
            vocabulary_size=vocabulary_size or self.vocabulary_size,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            hidden_dim=self.hidden_dim,
            intermediate_dim=self.intermediate_dim,
            max_sequence_length=self.sequence_length,
            dropout=self.dropout,
        )
        if self.attention == "standard":
            return keras_hub.models.RobertaBackbone(**common)
        projected_dim = self.projected_dim
        if isinstance(projected_dim, tuple):
            projected_dim = list(projected_dim)
        return LinformerBackbone(
            projected_dim=projected_dim,
            projection=self.projection,
            sharing=self.sharing,
            **common,
        )

    def backbone_cls(self):
        if self.attention == "standard":
            return keras_hub.models.RobertaBackbone
        return LinformerBackbone


def _model_config(model):
    """`model`, or the default `ModelConfig` for `None`; refuses others."""
    model = ModelConfig() if model is None else model
    if not isinstance(model, ModelConfig):
        raise ValueError(
            f"`model` must be a `ModelConfig`. Received: {type(model)}"
        )
    return model


def _check_training(
    batch_size,
    epochs,
    steps_per_epoch,
    learning_rate,
    warmup_steps,
    length_buckets,
    strategy,
    checkpoint_every,
    verbose,
    seed,
):
    """The arguments every training job shares, checked before any work."""
    _check_int("seed", seed, minimum=0)
    _check_int("batch_size", batch_size)
    _check_int("epochs", epochs)
    _check_int("steps_per_epoch", steps_per_epoch, allow_none=True)
    _check_float("learning_rate", learning_rate, 0, None)
    _check_int("warmup_steps", warmup_steps, minimum=0)
    _check_int("length_buckets", length_buckets)
    _check_int("checkpoint_every", checkpoint_every)
    if strategy not in STRATEGIES:
        raise ValueError(
            f"Unknown strategy {strategy!r}. Expected one of {STRATEGIES}."
        )
    if verbose not in (0, 1, 2, "auto"):
        raise ValueError(
            f"`verbose` must be 0, 1, 2 or 'auto'. Received: {verbose!r}"
        )
    if steps_per_epoch is not None:
        _check_warmup(warmup_steps, epochs * steps_per_epoch)


def _check_warmup(warmup_steps, total_steps):
    if warmup_steps >= total_steps:
        raise ValueError(
            f"`warmup_steps` ({warmup_steps}) must be smaller than the "
            f"number of training steps ({total_steps} = epochs x "
            "steps per epoch)."
        )


def _check_length_buckets(length_buckets, sequence_length):
    bucket_lengths(sequence_length, length_buckets)  # Raises unless <= n.


def _check_sequence_length(sequence_length, n):
    if sequence_length is not None and sequence_length > n:
        raise ValueError(
            f"`sequence_length` ({sequence_length}) must not exceed the "
            f"backbone's n ({n})."
        )


def _words_per_sample(tokenizer_kind, sequence_length):
    return max(1, int(sequence_length * WORDS_PER_POSITION[tokenizer_kind]))


def _new_tokenizer(model, texts, vocabulary=None):
    """A byte tokenizer, or a WordPiece one with `vocabulary` (default: a
    vocabulary learned from `texts`)."""
    if model.tokenizer == "byte":
        return LinformerByteTokenizer()
    if vocabulary is None:
        vocabulary = learn_vocabulary(
            tf.data.Dataset.from_tensor_slices(texts).batch(1000),
            vocabulary_size=model.vocabulary_size,
        )
    return task_classes(model.backbone_cls()).tokenizer(vocabulary=vocabulary)


def make_optimizer(learning_rate, total_steps, warmup_steps=0):
    """AdamW (weight decay 0.01, gradient norm clipped to 1 on the global
    batch): linear warmup over `warmup_steps`, then linear decay to 0 at
    `total_steps`.

    Example:

    >>> optimizer = make_optimizer(1e-3, total_steps=1000, warmup_steps=100)
    """
    _check_warmup(warmup_steps, total_steps)
    schedule = schedules.LinearWarmup(
        keras.optimizers.schedules.PolynomialDecay(
            learning_rate,
            decay_steps=max(total_steps - warmup_steps, 1),
            end_learning_rate=0.0,
        ),
        warmup_steps=warmup_steps,
    )
    return optimizers.AdamW(
        learning_rate=schedule, weight_decay=0.01, clipnorm=1.0
    )


def _prepare(strategy_name, batch_size, seed, output_dir):
    """Strategy, batch check and seeds, once the arguments and data are
    checked and before any model work; creates `output_dir`."""
    strategy = get_strategy(strategy_name)
    check_global_batch_size(batch_size, strategy)
    keras.utils.set_random_seed(seed)
    print(
        f"Strategy: {type(strategy).__name__} with "
        f"{strategy.num_replicas_in_sync} replica(s).",
        flush=True,
    )
    os.makedirs(output_dir, exist_ok=True)
    return strategy


def metrics_json(metrics):
    """`metrics` (a flat dict) as standard JSON text: a diverged run's NaN
    loss is written as `null`, never as the bare `NaN` that strict parsers
    refuse.

    Example:

    >>> print(metrics_json({"loss": float("nan"), "steps": 4}), end="")
    {
      "loss": null,
      "steps": 4
    }
    """
    metrics = dict(metrics)
    for name, value in metrics.items():
        if isinstance(value, float) and not math.isfinite(value):
            metrics[name] = None
    return json.dumps(metrics, indent=2, allow_nan=False) + "\n"


def _save(task, preprocessor, output_dir, metrics, strategy):
    if not is_chief(strategy):
        return  # Only the chief of a multi-worker cluster writes artifacts.
    task.preprocessor = preprocessor
    with atomic_directory(os.path.join(output_dir, "preset")) as tmp:
        task.save_to_preset(tmp)
    write_text_atomic(
        os.path.join(output_dir, "metrics.json"), metrics_json(metrics)
    )
    print(f"Saved preset to {os.path.join(output_dir, 'preset')}")


def _train(
    task,
    preprocessor,
    train_ds,
    validation_ds,
    summarize,
    report,
    *,
    strategy,
    output_dir,
    learning_rate,
    warmup_steps,
    epochs,
    steps_per_epoch,
    **fit_kwargs,
):
    """Compiles and fits `task` resumably, then saves it with the metrics
    that `summarize` makes of its validation results (printed as `report`
    formats them); returns them with the per-epoch `history`."""
    with strategy.scope():
        task.compile(
            optimizer=make_optimizer(
                learning_rate, epochs * steps_per_epoch, warmup_steps
            ),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            weighted_metrics=["sparse_categorical_accuracy"],
        )
    checkpoint_dir = os.path.join(output_dir, "checkpoints")
    check_model_settings(task, checkpoint_dir, chief=is_chief(strategy))
    result = fit_resumable(
        task,
        train_ds,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        checkpoint_dir=checkpoint_dir,
        validation_data=validation_ds,
        strategy=strategy,
        **fit_kwargs,
    )
    metrics = summarize(evaluate_model(task, validation_ds, strategy))
    metrics["steps"] = int(task.optimizer.iterations.numpy())
    metrics["resumed_from"] = result["resumed_from"]
    print(report.format(**metrics), flush=True)
    _save(task, preprocessor, output_dir, metrics, strategy)
    return dict(metrics, history=result["history"])


def _masked_lm_metrics(results):
    loss = float(results["loss"])
    return {
        "validation_loss": loss,
        "validation_perplexity": math.exp(min(loss, 700.0)),
        "validation_accuracy": float(results["sparse_categorical_accuracy"]),
    }


def _read_pretraining_text(files, validation_files):
    if not files and not isinstance(files, str):  # "" is a missing file
        print(
            "No text files given: using the built-in corpus "
            f"{data.DEFAULT_CORPUS}"
        )
        files, validation_files = [data.DEFAULT_CORPUS], None
    train_lines = data.read_text_lines(files)
    if validation_files:
        return train_lines, data.read_text_lines(validation_files)
    return data.split_train_validation(train_lines)


def pretrain(
    files=(),
    *,
    validation_files=None,
    model=None,
    vocabulary=None,
    mask_rate=0.15,
    batch_size=32,
    epochs=10,
    steps_per_epoch=None,
    learning_rate=1e-3,
    warmup_steps=0,
    length_buckets=DEFAULT_LENGTH_BUCKETS,
    group_by_length=False,
    output_dir="runs/pretrain",
    seed=0,
    strategy="auto",
    checkpoint_every=100,
    verbose=1,
):
    """Pretrains a masked language model on plain text files, joined into
    samples of about n positions.

    Args:
        files: text files. Empty: the built-in Tiny Shakespeare corpus.
        validation_files: default: the last 10% of the lines of `files`.
        model: a `ModelConfig` (default: `ModelConfig()`).
        vocabulary: a WordPiece vocabulary to use instead of learning one.
        mask_rate: the share of tokens masked, in (0, 1).
        batch_size: the global batch size (split over the replicas).
        epochs, steps_per_epoch (default: one pass), learning_rate (AdamW's
            peak), warmup_steps (linear, then linear decay to 0).
        length_buckets: pad each batch to the smallest multiple of
            n / `length_buckets` that holds its longest text.
        group_by_length: batch texts of similar length together.
        output_dir, seed (weights, data order, masks), strategy (see
            `get_strategy`), checkpoint_every (steps), verbose (0, 1, 2).

    Returns:
        The metrics written to `metrics.json`, and the per-epoch `history`.
    """
    model = _model_config(model)
    _check_training(
        batch_size,
        epochs,
        steps_per_epoch,
        learning_rate,
        warmup_steps,
        length_buckets,
        strategy,
        checkpoint_every,
        verbose,
        seed,
    )
    _check_float("mask_rate", mask_rate, 0, 1)
    _check_length_buckets(length_buckets, model.sequence_length)
    train_lines, validation_lines = _read_pretraining_text(
        files, validation_files
    )
    words = _words_per_sample(model.tokenizer, model.sequence_length)
    train_samples = data.group_lines(train_lines, words)
    steps_per_epoch = steps_per_epoch or len(train_samples) // batch_size
    steps_per_epoch = max(1, steps_per_epoch)
    _check_warmup(warmup_steps, epochs * steps_per_epoch)
    strategy = _prepare(strategy, batch_size, seed, output_dir)

    classes = task_classes(model.backbone_cls())
    tokenizer = _new_tokenizer(model, train_lines, vocabulary)
    print(
        f"Tokenizer: {type(tokenizer).__name__}, "
        f"{tokenizer.vocabulary_size()} tokens.",
        flush=True,
    )
    preprocessor = classes.masked_lm_preprocessor(
        tokenizer,
        sequence_length=model.sequence_length,
        mask_selection_rate=mask_rate,
        mask_selection_length=max(
            1, round(model.sequence_length * mask_rate * 1.25)
        ),
    )
    dataset = functools.partial(
        data.masked_lm_dataset,
        preprocessor=preprocessor,
        batch_size=batch_size,
        seed=seed,
        length_buckets=length_buckets,
        group_by_length=group_by_length,
    )
    validation_samples = data.group_lines(validation_lines, words)
    train_ds = dataset(train_samples, training=True)
    validation_ds = dataset(validation_samples, training=False)
    with strategy.scope():
        backbone = model.build_backbone(tokenizer.vocabulary_size())
        masked_lm = classes.masked_lm(backbone)
    print(
        f"Model: {type(backbone).__name__}, {backbone.count_params():,} "
        "backbone parameters.",
        flush=True,
    )
    return _train(
        masked_lm,
        preprocessor,
        train_ds,
        validation_ds,
        _masked_lm_metrics,
        "Validation loss {validation_loss:.4f}, perplexity "
        "{validation_perplexity:.2f}",
        strategy=strategy,
        output_dir=output_dir,
        learning_rate=learning_rate,
        warmup_steps=warmup_steps,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        checkpoint_every=checkpoint_every,
        verbose=verbose,
    )


def infer_num_classes(labeled_files):
    """The number of classes that the labels of `labeled_files` (a dict
    path -> labels; the training file first) imply: the largest label + 1.

    Raises:
        ValueError: if the training labels hold fewer than two distinct
            values, or the largest label is far above the number of
            distinct labels (a stray label); each message says how to
            pass `num_classes` (`--num-classes`) instead.
    """
    (train_path, train_labels), *_ = labeled_files.items()
    if len(set(train_labels)) < 2:
        raise ValueError(
            f"The training labels of {train_path} hold only the value "
            f"{train_labels[0]}: a classifier needs examples of at least two "
            "classes. Check the file, or pass the number of classes "
            "(--num-classes, `num_classes`) if it is right."
        )
    every = sorted(
        {label for labels in labeled_files.values() for label in labels}
    )
    inferred = every[-1] + 1
    bound = (
        MAX_INFERRED_CLASSES_PER_LABEL * len(every) + INFERRED_CLASSES_MARGIN
    )
    if inferred > bound:
        shown = ", ".join(map(str, every[:10])) + (
            ", ..." if len(every) > 10 else ""
        )
        raise ValueError(
            f"The labels of {', '.join(labeled_files)} hold {len(every)} "
            f"distinct values ({shown}) but go up to {every[-1]}: inferring "
            f"num_classes={inferred} from the largest label would build a "
            f"{inferred}-way classifier. Check for stray labels, or pass "
            f"--num-classes {inferred} (`num_classes={inferred}`) if that "
            "many classes is right."
        )
    return inferred


def finetune(
    train,
    validation,
    *,
    preset=None,
    model=None,
    num_classes=None,
    sequence_length=None,
    dropout=None,
    pooling="cls",
    vocabulary=None,
    batch_size=32,
    epochs=1,
    steps_per_epoch=None,
    learning_rate=1e-4,
    warmup_steps=0,
    length_buckets=DEFAULT_LENGTH_BUCKETS,
    group_by_length=False,
    output_dir="runs/finetune",
    seed=0,
    strategy="auto",
    checkpoint_every=100,
    verbose=1,
):
    """Fine-tunes a text classifier from a preset, or trains a new one.

    Args:
        train, validation: JSONL (`text`, `label`) or TSV (`sentence`,
            `label`) files; labels are integers from 0.
        preset: a preset directory saved by `pretrain`; not with `model`.
        model: a `ModelConfig` for a new model (default: `ModelConfig()`).
        num_classes: default: the largest label + 1 (see
            `infer_num_classes`).
        sequence_length: default and maximum: the backbone's n.
        dropout: the head's dropout; default: the model's (0.1, preset).
        pooling: what the head reads, `"cls"` or `"mean"` (see
            `LinformerTextClassifier`).
        vocabulary: a WordPiece vocabulary for a new model.
        The other arguments: as for `pretrain`.

    Returns:
        The metrics written to `metrics.json`, and the per-epoch `history`.

    Raises:
        ValueError: a bad argument or label, before any work.
        FileNotFoundError: a missing file or preset directory.
    """
    if preset is not None and model is not None:
        raise ValueError(
            "Pass `preset` (fine-tune its backbone) or `model` (a new "
            "model), not both."
        )
    if preset is None:
        model = _model_config(model)
    _check_training(
        batch_size,
        epochs,
        steps_per_epoch,
        learning_rate,
        warmup_steps,
        length_buckets,
        strategy,
        checkpoint_every,
        verbose,
        seed,
    )
    _check_int("num_classes", num_classes, minimum=2, allow_none=True)
    _check_int("sequence_length", sequence_length, allow_none=True)
    if dropout is not None:
        _check_float("dropout", dropout, 0, 1, include_low=True)
    if pooling not in POOLINGS:
        raise ValueError(
            f"Unknown pooling {pooling!r}. Expected one of {POOLINGS}."
        )
    if preset is not None:
        check_preset_directory(preset)
    train_texts, train_labels, train_lines = data.read_labeled(
        train, return_line_numbers=True
    )
    validation_texts, validation_labels, validation_lines = data.read_labeled(
        validation, return_line_numbers=True
    )
    if num_classes is None:
        num_classes = infer_num_classes(
            {train: train_labels, validation: validation_labels}
        )
    # Both files' labels, before training (not after, for validation).
    data.check_labels(train, train_labels, train_lines, num_classes)
    data.check_labels(
        validation, validation_labels, validation_lines, num_classes
    )
    if model is not None:
        _check_sequence_length(sequence_length, model.sequence_length)
        _check_length_buckets(
            length_buckets, sequence_length or model.sequence_length
        )
    steps_per_epoch = steps_per_epoch or len(train_texts) // batch_size
    steps_per_epoch = max(1, steps_per_epoch)
    _check_warmup(warmup_steps, epochs * steps_per_epoch)

    strategy = _prepare(strategy, batch_size, seed, output_dir)
    with strategy.scope():
        if preset is not None:
            # The tokenizer class the preset saved (WordPiece or bytes).
            tokenizer = keras_hub.tokenizers.Tokenizer.from_preset(preset)
            backbone = keras_hub.models.Backbone.from_preset(preset)
        else:
            tokenizer = _new_tokenizer(model, train_texts, vocabulary)
            backbone = model.build_backbone(tokenizer.vocabulary_size())
    n = backbone.max_sequence_length
    _check_sequence_length(sequence_length, n)
    sequence_length = sequence_length or n
    _check_length_buckets(length_buckets, sequence_length)
    if dropout is None:
        dropout = model.dropout if model is not None else 0.1
    classes = task_classes(type(backbone))
    preprocessor = classes.text_classifier_preprocessor(
        tokenizer, sequence_length=sequence_length
    )
    dataset = functools.partial(
        data.classification_dataset,
        preprocessor=preprocessor,
        batch_size=batch_size,
        seed=seed,
        length_buckets=length_buckets,
        group_by_length=group_by_length,
    )
    train_ds = dataset(train_texts, train_labels, training=True)
    validation_ds = dataset(validation_texts, validation_labels, training=False)
    with strategy.scope():
        classifier = classes.text_classifier(
            backbone,
            num_classes=num_classes,
            dropout=dropout,
            pooling=pooling,
        )

    def summarize(results):
        return {
            "validation_loss": float(results["loss"]),
            "validation_accuracy": float(
                results["sparse_categorical_accuracy"]
            ),
            "num_classes": num_classes,
        }

    return _train(
        classifier,
        preprocessor,
        train_ds,
        validation_ds,
        summarize,
        "Validation accuracy {validation_accuracy:.4f}, loss "
        "{validation_loss:.4f}",
        strategy=strategy,
        output_dir=output_dir,
        learning_rate=learning_rate,
        warmup_steps=warmup_steps,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        checkpoint_every=checkpoint_every,
        verbose=verbose,
    )


def _evaluation_texts(path):
    """The texts of a file to score a masked LM on: the `text` field of
    JSONL and the `sentence` column of TSV (not their raw lines), else the
    lines of plain text."""
    if path.endswith((".jsonl", ".json", ".tsv")):
        texts, _ = data.read_labeled(path)
        return texts
    return data.read_text_lines(path)


def evaluate(
    preset,
    data_file,
    *,
    batch_size=32,
    seed=0,
    length_buckets=DEFAULT_LENGTH_BUCKETS,
    json_file=None,
):
    """Scores a task preset: a masked LM's loss and perplexity on text (or
    the texts of a JSONL / TSV file), a classifier's accuracy on labeled
    JSONL / TSV. `json_file`: also write the metrics there; the other
    arguments as for `pretrain`.
    """
    _check_int("batch_size", batch_size)
    _check_int("length_buckets", length_buckets)
    _check_int("seed", seed, minimum=0)
    task = load_preset(preset, require_task=True)
    preprocessor = task.preprocessor
    n = preprocessor.sequence_length
    _check_length_buckets(length_buckets, n)
    is_masked_lm = isinstance(task, keras_hub.models.MaskedLM)
    if is_masked_lm:
        is_bytes = isinstance(preprocessor.tokenizer, LinformerByteTokenizer)
        words = _words_per_sample("byte" if is_bytes else "wordpiece", n)
        samples = data.group_lines(_evaluation_texts(data_file), words)
        ds = data.masked_lm_dataset(
            samples, preprocessor, batch_size, seed, False, length_buckets
        )
    else:
        texts, labels, lines = data.read_labeled(
            data_file, return_line_numbers=True
        )
        data.check_labels(data_file, labels, lines, task.num_classes)
        ds = data.classification_dataset(
            texts, labels, preprocessor, batch_size, seed, False, length_buckets
        )
    keras.utils.set_random_seed(seed)
    task.preprocessor = None
    task.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=["sparse_categorical_accuracy"],
    )
    results = task.evaluate(ds, return_dict=True, verbose=0)
    if is_masked_lm:
        metrics = _masked_lm_metrics(results)
        print(
            f"Loss {metrics['validation_loss']:.4f}, perplexity "
            f"{metrics['validation_perplexity']:.2f}"
        )
    else:
        metrics = {
            "loss": float(results["loss"]),
            "accuracy": float(results["sparse_categorical_accuracy"]),
            "examples": len(texts),
        }
        print(f"Accuracy {metrics['accuracy']:.4f}, loss {metrics['loss']:.4f}")
    if json_file:
        write_text_atomic(json_file, metrics_json(metrics))
    return metrics
