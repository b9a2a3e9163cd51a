"""Exports run on TF Serving's execution path (a TF1 Session on the
SignatureDef, `serving_helpers.run_session`): heads of one unit, and the
byte-level tokenizer. The exports take a while: those tests are slow."""

import keras
import numpy as np
import pytest
from serving_helpers import run_session

from keras_linformer.export import export_for_serving

N = 64
# Served against eager probabilities of the one-unit head. The fixture
# scales its kernel by ~4e4 (see `one_unit`), which magnifies float32
# rounding between graph and eager kernels: 1.4e-5 apart was seen (AMD
# EPYC). The bug these tests guard against gave 1.0 for every text.
PROBABILITY_ATOL = 1e-4


def tiny_backbone(vocabulary_size):
    from keras_linformer.models import LinformerBackbone

    return LinformerBackbone(
        vocabulary_size=vocabulary_size,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=N,
        projected_dim=8,
        dropout=0.0,
    )


def byte_classifier(num_classes, activation=None, pooling="cls"):
    from keras_linformer.models import LinformerByteTokenizer
    from keras_linformer.models import LinformerTextClassifier
    from keras_linformer.models import LinformerTextClassifierPreprocessor

    keras.utils.set_random_seed(11)
    tokenizer = LinformerByteTokenizer()
    return LinformerTextClassifier(
        tiny_backbone(tokenizer.vocabulary_size()),
        num_classes=num_classes,
        activation=activation,
        pooling=pooling,
        preprocessor=LinformerTextClassifierPreprocessor(
            tokenizer, sequence_length=N
        ),
    )


TEXTS = [
    "a fine film",
    "awful, just awful",
    "",
    "café ünïcödé ✓",
    "x" * 100,  # longer than n bytes: truncated
]


@pytest.fixture(scope="module")
def one_unit(tmp_path_factory):
    classifier = byte_classifier(num_classes=1)
    # Logits spread over about 4 (a random head's are ~1e-4 apart), and a
    # bias that puts the texts on both sides of 0, in the widest gap
    # between two of them (no logit near 0, where rounding decides).
    dense = classifier.output_dense

    def logits():
        return np.sort(classifier.predict(np.array(TEXTS), verbose=0)[:, 0])

    spread = np.ptp(logits())
    dense.kernel.assign(dense.kernel.numpy() * (4.0 / spread))
    sorted_logits = logits()
    gap = int(np.argmax(np.diff(sorted_logits)))
    middle = (sorted_logits[gap] + sorted_logits[gap + 1]) / 2
    dense.bias.assign(dense.bias.numpy() - middle)
    path = export_for_serving(
        classifier,
        tmp_path_factory.mktemp("exports"),
        name="binary",
        warmup=False,
    )
    return classifier, path


@pytest.mark.slow
def test_one_unit_head_is_served_as_a_binary_classifier(one_unit):
    classifier, path = one_unit
    logits = classifier.predict(np.array(TEXTS), verbose=0)[:, 0]
    assert (logits > 0).any() and (logits < 0).any()
    assert np.abs(logits).min() > 0.1
    positive = 1 / (1 + np.exp(-logits.astype(np.float64)))
    outputs = run_session(path, "serving_default", {"text": TEXTS})
    # Was: a softmax over the one unit, probabilities [[1.0]] and label 1
    # for every text.
    assert outputs["probabilities"].shape == (len(TEXTS), 2)
    np.testing.assert_allclose(
        outputs["probabilities"],
        np.stack([1 - positive, positive], axis=1),
        atol=PROBABILITY_ATOL,
    )
    np.testing.assert_array_equal(outputs["label"], (logits > 0).astype(int))


@pytest.mark.slow
def test_one_unit_head_ids_signature(one_unit):
    classifier, path = one_unit
    ids = np.array([[2, 100, 101, 3, 0], [2, 120, 3, 0, 0]], np.int32)
    mask = (np.arange(5) < np.array([[4], [3]])).astype(np.int32)
    logits = keras.ops.convert_to_numpy(
        classifier({"token_ids": ids, "padding_mask": mask}, training=False)
    )[:, 0]
    outputs = run_session(
        path, "predict_ids", {"token_ids": ids, "padding_mask": mask}
    )
    # No logit near 0, where rounding decides the label.
    assert np.abs(logits).min() > 1e-3
    positive = 1 / (1 + np.exp(-logits.astype(np.float64)))
    np.testing.assert_allclose(
        outputs["probabilities"][:, 1], positive, atol=PROBABILITY_ATOL
    )
    np.testing.assert_array_equal(outputs["label"], (logits > 0).astype(int))


def test_one_unit_softmax_head_is_refused(tmp_path):
    classifier = byte_classifier(num_classes=1, activation="softmax")
    with pytest.raises(ValueError, match="one output unit") as error:
        export_for_serving(classifier, tmp_path, name="bad", warmup=False)
    assert "num_classes=2" in str(error.value)
    assert not (tmp_path / "bad").exists()


def byte_masked_lm():
    from keras_linformer.models import LinformerByteTokenizer
    from keras_linformer.models import LinformerMaskedLM
    from keras_linformer.models import LinformerMaskedLMPreprocessor

    keras.utils.set_random_seed(12)
    tokenizer = LinformerByteTokenizer()
    return LinformerMaskedLM(
        tiny_backbone(tokenizer.vocabulary_size()),
        preprocessor=LinformerMaskedLMPreprocessor(
            tokenizer, sequence_length=N
        ),
    )


@pytest.fixture(scope="module")
def byte_exports(tmp_path_factory):
    base = tmp_path_factory.mktemp("byte_exports")
    # Mean pooling, as long documents are classified (the "[CLS]" head is
    # served in test_server_path.py): the texts below, of every length,
    # are served as Keras scores them.
    classifier = byte_classifier(num_classes=3, pooling="mean")
    masked_lm = byte_masked_lm()
    return {
        "classifier": (
            classifier,
            export_for_serving(classifier, base, name="byte_clf"),
        ),
        "masked_lm": (
            masked_lm,
            export_for_serving(masked_lm, base, name="byte_mlm"),
        ),
    }


@pytest.mark.slow
def test_byte_classifier_text_matches_keras(byte_exports):
    classifier, path = byte_exports["classifier"]
    outputs = run_session(path, "serving_default", {"text": TEXTS})
    logits = classifier.predict(np.array(TEXTS), verbose=0)
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
    np.testing.assert_array_equal(outputs["label"], logits.argmax(axis=1))


@pytest.mark.slow
def test_byte_masked_lm_text_finds_the_masks(byte_exports):
    masked_lm, path = byte_exports["masked_lm"]
    texts = ["caf[MASK] au lait", "[MASK]é[MASK]", "no mask here", ""]
    outputs = run_session(path, "serving_default", {"text": texts})
    # "[MASK]" is one token (id 4) in the text, not six bytes; bytes are
    # ids b + 5 ("é" is two bytes).
    assert list(outputs["num_masked"]) == [1, 2, 0, 0]
    np.testing.assert_array_equal(
        outputs["mask_positions"], [[4, -1], [1, 4], [-1, -1], [-1, -1]]
    )
    # The served top tokens are the model's at each mask (Keras reference).
    rows = [
        [2, *[b + 5 for b in b"caf"], 4, *[b + 5 for b in b" au lait"], 3],
        [2, 4, *[b + 5 for b in "é".encode()], 4, 3],
    ]
    for row, ids in enumerate(rows):
        positions = [i for i, t in enumerate(ids) if t == 4]
        logits = keras.ops.convert_to_numpy(
            masked_lm(
                {
                    "token_ids": np.array([ids], np.int32),
                    "padding_mask": np.ones((1, len(ids)), np.int32),
                    "mask_positions": np.array([positions], np.int32),
                },
                training=False,
            )
        )[0]
        for j in range(len(positions)):
            assert outputs["top_ids"][row, j, 0] == logits[j].argmax()
        top = outputs["top_tokens"][row, : len(positions), 0]
        vocabulary = masked_lm.preprocessor.tokenizer.get_vocabulary()
        assert [t.decode() for t in top] == [
            vocabulary[i] for i in outputs["top_ids"][row, : len(positions), 0]
        ]


@pytest.mark.slow
def test_byte_exports_use_only_ops_tf_serving_links(byte_exports):
    from test_serving_ops import op_inventory

    from keras_linformer.export import SERVING_TEXT_OPS
    from keras_linformer.export import minimum_serving_version

    for kind, (_, path) in byte_exports.items():
        inventory = op_inventory([path])
        other = sorted(
            op for op, where in inventory.items() if where == "other"
        )
        assert all(op in SERVING_TEXT_OPS for op in other), (kind, other)
        assert minimum_serving_version(other) < (2, 20)
        if kind == "masked_lm":
            # "[MASK]" in text: split at special tokens by tensorflow-text.
            assert "RegexSplitWithOffsets" in other
        else:
            # Bytes to ids with core ops only: runs on any server.
            assert other == [], other
