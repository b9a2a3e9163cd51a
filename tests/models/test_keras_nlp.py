"""keras_nlp (0.32, a shim that re-exports keras_hub) users find the
Linformer classes among their own: the same base classes, and keras_nlp's
tokenizers and preprocessors work with them."""

import keras
import numpy as np
import pytest

keras_nlp = pytest.importorskip("keras_nlp")

from keras_linformer.models import LinformerMaskedLM  # noqa: E402
from keras_linformer.models import LinformerTextClassifier  # noqa: E402
from keras_linformer.models import LinformerTextClassifierPreprocessor  # noqa: E402


def test_models_are_keras_nlp_models(make_backbone):
    backbone = make_backbone()
    assert isinstance(backbone, keras_nlp.models.Backbone)
    assert isinstance(LinformerMaskedLM(backbone), keras_nlp.models.MaskedLM)
    classifier = LinformerTextClassifier(backbone, num_classes=2)
    assert isinstance(classifier, keras_nlp.models.TextClassifier)


def test_keras_nlp_tokenizer_drives_the_classifier(
    make_backbone, toy_vocabulary
):
    """keras_nlp's BERT WordPiece tokenizer (same special tokens) in our
    preprocessor: [CLS]-first token ids, and a classifier that predicts
    from raw text."""
    tokenizer = keras_nlp.models.BertTokenizer(
        vocabulary=toy_vocabulary, lowercase=True
    )
    preprocessor = LinformerTextClassifierPreprocessor(
        tokenizer, sequence_length=16
    )
    x = preprocessor(["the quick brown fox", "a bad movie"])
    ids = np.asarray(x["token_ids"])
    assert ids.shape == (2, 16)
    assert ids[0, 0] == toy_vocabulary.index("[CLS]")
    assert ids[0, 1] == toy_vocabulary.index("the")
    classifier = LinformerTextClassifier(
        make_backbone(), num_classes=2, preprocessor=preprocessor
    )
    probabilities = keras.ops.convert_to_numpy(
        classifier(preprocessor(["a fine film"]))
    )
    assert probabilities.shape == (1, 2)
    assert np.isfinite(probabilities).all()
