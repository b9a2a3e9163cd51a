"""The jobs behind `keras-linformer pretrain | finetune | evaluate`.

Each job takes a plain config (the parsed command line, or a
`types.SimpleNamespace` from a script), prints progress with Keras, and
writes its artifacts atomically into `output_dir`:

    output_dir/
      checkpoints/     step checkpoints; a restart with the same arguments
                       resumes from the latest
      preset/          the trained task as a keras_hub preset directory
      metrics.json     the final validation figures
"""

import json
import math
import os

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from keras_linformer.artifacts import atomic_directory
from keras_linformer.artifacts import write_text_atomic
from keras_linformer.initializers import PROJECTION_INITIALIZERS
from keras_linformer.layers.sequence_projection import LINEAR_MATRIX_PROJECTIONS
from keras_linformer.models import LinformerBackbone
from keras_linformer.models import LinformerByteTokenizer
from keras_linformer.models import learn_vocabulary
from keras_linformer.models import task_classes
from keras_linformer.models.presets import load_preset
from keras_linformer.training import data
from keras_linformer.training import optimizers
from keras_linformer.training import schedules
from keras_linformer.training.multi_worker import evaluate as evaluate_model
from keras_linformer.training.multi_worker import is_chief
from keras_linformer.training.resumable import fit_resumable
from keras_linformer.training.strategy import check_global_batch_size
from keras_linformer.training.strategy import get_strategy

# Words per pretraining sample, per position of the sequence: WordPiece
# makes about 1.3 tokens of a word, and [CLS]/[SEP] take two positions;
# UTF-8 bytes about 6 (five letters and a space) in English.
WORDS_PER_POSITION = {"wordpiece": 0.7, "byte": 1 / 6}
TOKENIZERS = ("wordpiece", "byte")


def parse_projected_dim(value):
    """`"32"` -> 32; `"64,32"` -> [64, 32] (one k per layer). The backbone
    checks the values (`per_layer_projected_dims`)."""
    if isinstance(value, (int, list)):
        return value
    try:
        parts = [int(part) for part in str(value).split(",") if part.strip()]
    except ValueError:
        parts = []
    if not parts:
        raise ValueError(
            f"--projected-dim {value!r}: expected an integer k, or one per "
            "layer separated by commas (e.g. 128,64)."
        )
    return parts[0] if len(parts) == 1 else parts


def build_backbone(config, vocabulary_size):
    """A `LinformerBackbone`, or with `attention="standard"` a same-size
    keras_hub `RobertaBackbone`."""
    common = dict(
        vocabulary_size=vocabulary_size,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        hidden_dim=config.hidden_dim,
        intermediate_dim=config.intermediate_dim,
        max_sequence_length=config.sequence_length,
        dropout=config.dropout,
    )
    if _backbone_cls(config) is not LinformerBackbone:
        return keras_hub.models.RobertaBackbone(**common)
    return LinformerBackbone(
        projected_dim=parse_projected_dim(config.projected_dim),
        projection=config.projection,
        sharing=config.sharing,
        projection_initializer=projection_initializer(config),
        **common,
    )


def projection_initializer(config):
    """The initializer of E and F that `config.projection_initializer`
    names (absent: the default)."""
    name = getattr(config, "projection_initializer", "default")
    if name not in PROJECTION_INITIALIZERS:
        raise ValueError(
            f"Unknown projection initializer {name!r}: expected one of "
            f"{sorted(PROJECTION_INITIALIZERS)}."
        )
    if (
        name == "window_mean"
        and config.projection not in LINEAR_MATRIX_PROJECTIONS
    ):
        raise ValueError(
            "The 'window_mean' projection initializer sets an (n, k) matrix "
            f"E, so it needs `projection` in {list(LINEAR_MATRIX_PROJECTIONS)}. "
            f"Received: projection={config.projection!r}"
        )
    initializer = PROJECTION_INITIALIZERS[name]
    return initializer() if initializer else None


def _words_per_sample(config_tokenizer, sequence_length):
    return max(1, int(sequence_length * WORDS_PER_POSITION[config_tokenizer]))


def _new_tokenizer(config, texts, classes):
    """A byte tokenizer, or a WordPiece one with a vocabulary learned from
    `texts` (unless `config.vocabulary` gives it)."""
    kind = getattr(config, "tokenizer", "wordpiece")
    if kind not in TOKENIZERS:
        raise ValueError(
            f"Unknown tokenizer {kind!r}: expected one of {list(TOKENIZERS)}."
        )
    if kind == "byte":
        return LinformerByteTokenizer()
    # A script comparing several models can learn the vocabulary once and
    # pass it in as `config.vocabulary` (the command line always learns it).
    vocabulary = getattr(config, "vocabulary", None)
    if vocabulary is None:
        vocabulary = learn_vocabulary(
            tf.data.Dataset.from_tensor_slices(texts).batch(1000),
            vocabulary_size=config.vocabulary_size,
        )
    return classes.tokenizer(vocabulary=vocabulary)


def _backbone_cls(config):
    if getattr(config, "attention", "linformer") == "standard":
        return keras_hub.models.RobertaBackbone
    return LinformerBackbone


def _optimizer(config, total_steps):
    """AdamW: linear warmup (`config.warmup_steps`, default 0), then
    linear decay to 0 at `total_steps`."""
    warmup_steps = getattr(config, "warmup_steps", 0)
    if warmup_steps >= total_steps:
        raise ValueError(
            f"`warmup_steps` ({warmup_steps}) must be smaller than the "
            f"number of training steps ({total_steps} = epochs x "
            "steps per epoch)."
        )
    schedule = schedules.LinearWarmup(
        keras.optimizers.schedules.PolynomialDecay(
            config.learning_rate,
            decay_steps=max(total_steps - warmup_steps, 1),
            end_learning_rate=0.0,
        ),
        warmup_steps=warmup_steps,
    )
    # Clips the gradient of the global batch, whatever the replicas.
    return optimizers.AdamW(
        learning_rate=schedule, weight_decay=0.01, clipnorm=1.0
    )


def _prepare(config):
    """Seeds, strategy and batch checks, before any data or model work."""
    strategy = get_strategy(config.strategy)
    check_global_batch_size(config.batch_size, strategy)
    keras.utils.set_random_seed(config.seed)
    print(
        f"Strategy: {type(strategy).__name__} with "
        f"{strategy.num_replicas_in_sync} replica(s).",
        flush=True,
    )
    os.makedirs(config.output_dir, exist_ok=True)
    return strategy


def _build(task, sequence_length, masked_lm_preprocessor=None):
    """Creates every variable (for checkpoint restore) from dummy inputs."""
    inputs = {
        "token_ids": np.zeros((1, sequence_length), "int32"),
        "padding_mask": np.ones((1, sequence_length), "int32"),
    }
    if masked_lm_preprocessor is not None:
        length = masked_lm_preprocessor.mask_selection_length
        inputs["mask_positions"] = np.zeros((1, length), "int32")
    task(inputs)


def _save(task, preprocessor, config, metrics, strategy):
    if not is_chief(strategy):
        return  # Only the chief of a multi-worker cluster writes artifacts.
    task.preprocessor = preprocessor
    with atomic_directory(os.path.join(config.output_dir, "preset")) as tmp:
        task.save_to_preset(tmp)
    write_text_atomic(
        os.path.join(config.output_dir, "metrics.json"),
        json.dumps(metrics, indent=2) + "\n",
    )
    print(f"Saved preset to {os.path.join(config.output_dir, 'preset')}")


def _masked_lm_metrics(results):
    loss = float(results["loss"])
    return {
        "validation_loss": loss,
        "validation_perplexity": math.exp(min(loss, 700.0)),
        "validation_accuracy": float(
            results.get("sparse_categorical_accuracy", float("nan"))
        ),
    }


def pretrain(config):
    """Learns a vocabulary (unless `config.vocabulary` gives one) and
    pretrains a masked LM; returns the metrics and the fit `history`."""
    strategy = _prepare(config)
    if config.files:
        train_lines = data.read_text_lines(config.files)
        if config.validation_files:
            validation_lines = data.read_text_lines(config.validation_files)
        else:
            train_lines, validation_lines = data.split_train_validation(
                train_lines
            )
    else:
        print(
            f"No text files given: using the built-in corpus {data.DEFAULT_CORPUS}"
        )
        lines = data.read_text_lines([data.DEFAULT_CORPUS])
        train_lines, validation_lines = data.split_train_validation(lines)
    words = _words_per_sample(
        getattr(config, "tokenizer", "wordpiece"), config.sequence_length
    )
    # Validation is always on blocks, so that perplexities compare across
    # runs whatever the training samples are.
    validation_samples = data.group_lines(validation_lines, words)
    if config.samples == "documents":
        # One line, one sample (truncated to n): lengths as in fine-tuning.
        train_samples = train_lines
    else:
        train_samples = data.group_lines(train_lines, words)

    classes = task_classes(_backbone_cls(config))
    tokenizer = _new_tokenizer(config, train_lines, classes)
    print(
        f"Tokenizer: {type(tokenizer).__name__}, "
        f"{tokenizer.vocabulary_size()} tokens.",
        flush=True,
    )
    preprocessor = classes.masked_lm_preprocessor(
        tokenizer,
        sequence_length=config.sequence_length,
        mask_selection_rate=config.mask_rate,
        mask_selection_length=max(
            1, round(config.sequence_length * config.mask_rate * 1.25)
        ),
    )
    steps_per_epoch = config.steps_per_epoch or max(
        1, len(train_samples) // config.batch_size
    )
    train_ds = data.masked_lm_dataset(
        train_samples,
        preprocessor,
        config.batch_size,
        config.seed,
        True,
        config.length_buckets,
        getattr(config, "group_by_length", False),
    )
    validation_ds = data.masked_lm_dataset(
        validation_samples,
        preprocessor,
        config.batch_size,
        config.seed,
        False,
        config.length_buckets,
    )
    with strategy.scope():
        backbone = build_backbone(config, tokenizer.vocabulary_size())
        masked_lm = classes.masked_lm(backbone)
        masked_lm.compile(
            optimizer=_optimizer(config, steps_per_epoch * config.epochs),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            weighted_metrics=["sparse_categorical_accuracy"],
        )
        _build(masked_lm, config.sequence_length, preprocessor)
    print(
        f"Model: {type(backbone).__name__}, {backbone.count_params():,} "
        "backbone parameters.",
        flush=True,
    )
    result = fit_resumable(
        masked_lm,
        train_ds,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        checkpoint_dir=os.path.join(config.output_dir, "checkpoints"),
        checkpoint_every=config.checkpoint_every,
        validation_data=validation_ds,
        verbose=config.verbose,
        strategy=strategy,
    )
    metrics = _masked_lm_metrics(
        evaluate_model(masked_lm, validation_ds, strategy)
    )
    metrics["steps"] = int(masked_lm.optimizer.iterations.numpy())
    metrics["resumed_from"] = result["resumed_from"]
    print(
        f"Validation loss {metrics['validation_loss']:.4f}, perplexity "
        f"{metrics['validation_perplexity']:.2f}",
        flush=True,
    )
    _save(masked_lm, preprocessor, config, metrics, strategy)
    # The per-epoch curves are returned for scripts, not written to
    # metrics.json.
    return dict(metrics, history=result["history"])


def finetune(config):
    """Fine-tunes (or trains from scratch) a text classifier; returns the
    metrics and the fit `history`."""
    strategy = _prepare(config)
    train_texts, train_labels = data.read_labeled(config.train)
    validation_texts, validation_labels = data.read_labeled(config.validation)
    num_classes = (
        config.num_classes or max(train_labels + validation_labels) + 1
    )
    with strategy.scope():
        if config.preset:
            # The tokenizer class the preset saved (WordPiece or bytes).
            tokenizer = keras_hub.tokenizers.Tokenizer.from_preset(
                config.preset
            )
            backbone = keras_hub.models.Backbone.from_preset(config.preset)
        else:
            tokenizer = _new_tokenizer(
                config, train_texts, task_classes(_backbone_cls(config))
            )
            backbone = build_backbone(config, tokenizer.vocabulary_size())
    classes = task_classes(type(backbone))
    sequence_length = min(config.sequence_length, backbone.max_sequence_length)
    preprocessor = classes.text_classifier_preprocessor(
        tokenizer, sequence_length=sequence_length
    )
    steps_per_epoch = config.steps_per_epoch or max(
        1, len(train_texts) // config.batch_size
    )
    train_ds = data.classification_dataset(
        train_texts,
        train_labels,
        preprocessor,
        config.batch_size,
        config.seed,
        True,
        config.length_buckets,
        getattr(config, "group_by_length", False),
    )
    validation_ds = data.classification_dataset(
        validation_texts,
        validation_labels,
        preprocessor,
        config.batch_size,
        config.seed,
        False,
        config.length_buckets,
    )
    with strategy.scope():
        classifier = classes.text_classifier(
            backbone, num_classes=num_classes, dropout=config.dropout
        )
        classifier.compile(
            optimizer=_optimizer(config, steps_per_epoch * config.epochs),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["sparse_categorical_accuracy"],
        )
        _build(classifier, sequence_length)
    result = fit_resumable(
        classifier,
        train_ds,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        checkpoint_dir=os.path.join(config.output_dir, "checkpoints"),
        checkpoint_every=config.checkpoint_every,
        validation_data=validation_ds,
        verbose=config.verbose,
        strategy=strategy,
    )
    results = evaluate_model(classifier, validation_ds, strategy)
    metrics = {
        "validation_loss": float(results["loss"]),
        "validation_accuracy": float(results["sparse_categorical_accuracy"]),
        "num_classes": num_classes,
        "steps": int(classifier.optimizer.iterations.numpy()),
        "resumed_from": result["resumed_from"],
    }
    print(
        f"Validation accuracy {metrics['validation_accuracy']:.4f}, loss "
        f"{metrics['validation_loss']:.4f}",
        flush=True,
    )
    _save(classifier, preprocessor, config, metrics, strategy)
    return dict(metrics, history=result["history"])


def evaluate(config):
    """Masked-LM loss and perplexity on text, or accuracy on labeled data."""
    task = load_preset(config.preset, require_task=True)
    preprocessor = task.preprocessor
    task.preprocessor = None
    task.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=["sparse_categorical_accuracy"],
    )
    keras.utils.set_random_seed(config.seed)
    if isinstance(task, keras_hub.models.MaskedLM):
        lines = data.read_text_lines([config.data])
        kind = (
            "byte"
            if isinstance(preprocessor.tokenizer, LinformerByteTokenizer)
            else "wordpiece"
        )
        words = _words_per_sample(kind, preprocessor.sequence_length)
        samples = data.group_lines(lines, words)
        ds = data.masked_lm_dataset(
            samples,
            preprocessor,
            config.batch_size,
            config.seed,
            False,
            config.length_buckets,
        )
        metrics = _masked_lm_metrics(
            task.evaluate(ds, return_dict=True, verbose=0)
        )
        print(
            f"Loss {metrics['validation_loss']:.4f}, perplexity "
            f"{metrics['validation_perplexity']:.2f}"
        )
    else:
        texts, labels = data.read_labeled(config.data)
        num_classes = task.num_classes
        if max(labels) >= num_classes:
            raise ValueError(
                f"{config.data} has label {max(labels)}, but the classifier "
                f"has {num_classes} classes."
            )
        ds = data.classification_dataset(
            texts,
            labels,
            preprocessor,
            config.batch_size,
            config.seed,
            False,
            config.length_buckets,
        )
        results = task.evaluate(ds, return_dict=True, verbose=0)
        metrics = {
            "loss": float(results["loss"]),
            "accuracy": float(results["sparse_categorical_accuracy"]),
            "examples": len(texts),
        }
        print(f"Accuracy {metrics['accuracy']:.4f}, loss {metrics['loss']:.4f}")
    if config.json:
        write_text_atomic(config.json, json.dumps(metrics, indent=2) + "\n")
    return metrics
