"""Trains the Linformer tasks on one device and on 2 mirrored replicas.

    python mirrored_check.py CORPUS OUT.json

Splits the CPU into 2 logical devices (before TensorFlow starts, hence a
script run in a fresh process), then for each case builds, compiles and
fits the same task with the same seed for one epoch with the same global
batch under `OneDeviceStrategy` and under `MirroredStrategy`, and writes
what the test checks to OUT.json. One `MirroredStrategy` serves all cases:
a second one in the same process reuses the collective instance keys of
the first and fails with "Shape mismatch in the collective instance"
(tensorflow/tensorflow issue 62790).
"""

import json
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_linformer.models import LinformerBackbone  # noqa: E402
from keras_linformer.models import LinformerMaskedLM  # noqa: E402
from keras_linformer.models import LinformerMaskedLMPreprocessor  # noqa: E402
from keras_linformer.models import LinformerTextClassifier  # noqa: E402
from keras_linformer.models import LinformerTextClassifierPreprocessor  # noqa: E402
from keras_linformer.models import LinformerTokenizer  # noqa: E402
from keras_linformer.models import learn_vocabulary  # noqa: E402
from keras_linformer.training import data  # noqa: E402
from keras_linformer.training import optimizers  # noqa: E402
from keras_linformer.training.multi_worker import fit_loop  # noqa: E402

GLOBAL_BATCH = 8
STEPS = 4
SEQUENCE_LENGTH = 16


def is_mirrored(variable):
    value = getattr(variable, "value", variable)
    return isinstance(value, tf.distribute.DistributedValues)


def main(corpus, out):
    lines = data.read_text_lines([corpus])
    vocabulary = learn_vocabulary(
        tf.data.Dataset.from_tensor_slices(lines).batch(100), 100
    )
    tokenizer = LinformerTokenizer(vocabulary=vocabulary)
    samples = data.group_lines(lines, 10)
    mlm_data = data.masked_lm_dataset(
        samples,
        LinformerMaskedLMPreprocessor(
            tokenizer,
            sequence_length=SEQUENCE_LENGTH,
            mask_selection_rate=0.25,
            mask_selection_length=4,
        ),
        GLOBAL_BATCH,
        seed=1,
        training=True,
    )
    labels = [len(line.split()) % 2 for line in lines]
    classifier_data = data.classification_dataset(
        lines,
        labels,
        LinformerTextClassifierPreprocessor(
            tokenizer, sequence_length=SEQUENCE_LENGTH
        ),
        GLOBAL_BATCH,
        seed=1,
        training=True,
    )
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    one_device = tf.distribute.OneDeviceStrategy("/cpu:0")
    report = {"replicas": mirrored.num_replicas_in_sync}

    def build(strategy, task, optimizer):
        keras.utils.set_random_seed(7)
        with strategy.scope():
            backbone = LinformerBackbone(
                vocabulary_size=len(vocabulary),
                num_layers=2,
                num_heads=2,
                hidden_dim=16,
                intermediate_dim=32,
                max_sequence_length=SEQUENCE_LENGTH,
                projected_dim=4,
                # The paper's E: one (n x k) matrix shared by every layer.
                projection="linear",
                sharing="layerwise",
                dropout=0.0,
            )
            if task == "masked_lm":
                model = LinformerMaskedLM(backbone)
                metrics = {"weighted_metrics": ["sparse_categorical_accuracy"]}
            else:
                model = LinformerTextClassifier(
                    backbone, num_classes=2, dropout=0.0
                )
                metrics = {"metrics": ["sparse_categorical_accuracy"]}
            model.compile(
                optimizer=optimizer(),
                loss=keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True
                ),
                # XLA compilation would take most of this test's time.
                jit_compile=False,
                **metrics,
            )
        return model

    def train(strategy, task, optimizer, loop=False):
        model = build(strategy, task, optimizer)
        dataset = mlm_data if task == "masked_lm" else classifier_data
        if loop:
            history = fit_loop(
                model,
                dataset,
                epochs=1,
                steps_per_epoch=STEPS,
                verbose=0,
                strategy=strategy,
            )
        else:
            history = model.fit(
                dataset, epochs=1, steps_per_epoch=STEPS, verbose=0
            )
        weights = [np.asarray(v.numpy()) for v in model.weights]
        return model, weights, history.history["loss"][0]

    def compare(name, task, optimizer, loop=False):
        _, reference, reference_loss = train(one_device, task, optimizer)
        model, weights, loss = train(mirrored, task, optimizer, loop)
        report[name] = {
            "max_difference": max(
                float(np.max(np.abs(a - b))) for a, b in zip(reference, weights)
            ),
            "moved": max(
                float(np.max(np.abs(a - b)))
                for a, b in zip(reference, build_initial(task))
            ),
            "loss": [reference_loss, loss],
        }
        return model

    initial = {}

    def build_initial(task):
        if task not in initial:
            model = build(one_device, task, lambda: keras.optimizers.SGD())
            initial[task] = [np.asarray(v.numpy()) for v in model.weights]
        return initial[task]

    def sgd():
        return keras.optimizers.SGD(0.5)

    model = compare("masked_lm", "masked_lm", sgd)
    backbone = model.backbone
    projections = [
        v for v in model.trainable_variables if "projection" in v.path
    ]
    attention = [
        layer._self_attention_layer for layer in backbone.transformer_layers
    ]
    report["backbone"] = {
        "variables": len(backbone.variables),
        "mirrored": sum(is_mirrored(v) for v in backbone.variables),
        "projection_variables": [v.path for v in projections],
        "projection_mirrored": all(is_mirrored(v) for v in projections),
        "shared_by_all_layers": all(
            a.key_projection is backbone.shared_projection
            and a.value_projection is backbone.shared_projection
            for a in attention
        ),
        "task_variables_mirrored": all(is_mirrored(v) for v in model.variables),
        "optimizer_variables_mirrored": all(
            is_mirrored(v) for v in model.optimizer.variables
        ),
    }
    compare("classifier", "classifier", sgd)
    # Gradient clipping that is active (clipnorm far below the gradient
    # norms): Keras clips each replica's share; ours the global gradient.
    compare(
        "masked_lm_clipnorm",
        "masked_lm",
        lambda: optimizers.SGD(0.5, clipnorm=0.01),
    )
    # The classifier's token embedding gets a sparse gradient (no tied
    # output layer); AdamW as in `keras-linformer finetune`.
    compare(
        "classifier_clipnorm",
        "classifier",
        lambda: optimizers.AdamW(1e-2, weight_decay=0.01, clipnorm=0.01),
    )
    compare(
        "masked_lm_keras_clipnorm",
        "masked_lm",
        lambda: keras.optimizers.SGD(0.5, clipnorm=0.01),
    )
    # The custom loop of multi-worker training, on one worker.
    compare(
        "masked_lm_fit_loop",
        "masked_lm",
        lambda: optimizers.AdamW(1e-2, weight_decay=0.01, clipnorm=0.01),
        loop=True,
    )
    with open(out, "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    main(*sys.argv[1:])
