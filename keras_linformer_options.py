"""The choices and defaults of keras_linformer's settings, as plain data.

Declared here only, and re-exported by the package. A top-level module of
the standard library only (tests/test_cli.py checks), so that the command
line's `--help` and usage errors need no TensorFlow.

Example:

>>> PROJECTION_KINDS["max"].windowed
True
>>> DEFAULT_PROJECTION in PROJECTIONS
True
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class ProjectionKind:
    """What a projection kind is; each property is False unless given.

    Attributes:
        name: the `projection` argument that selects it.
        windowed: its k slots are windows of n / k positions, so n must be
            divisible by k.
        weightless: it has no trainable weights (pooling).
        linear: it is a linear map of its input, so E^T (X W + b) =
            (E^T X) W + (E^T 1) b and it can run before the key and value
            dense layers (fewer FLOPs where E is shared across heads).
        matrix: it holds an (n, k) matrix E, sliced to the first L rows for
            an input of length L.
        normalized: each fed slot is an average (weights summing to 1), so
            E^T 1 is the slot mask itself.
    """

    name: str
    windowed: bool = False
    weightless: bool = False
    linear: bool = False
    matrix: bool = False
    normalized: bool = False


PROJECTION_KINDS = {
    kind.name: kind
    for kind in (
        # The paper's learned (n, k) matrix.
        ProjectionKind("linear", linear=True, matrix=True),
        # The paper's general projections: pooling over windows of n / k.
        ProjectionKind(
            "mean", windowed=True, weightless=True, linear=True, normalized=True
        ),
        ProjectionKind("max", windowed=True, weightless=True),
        # Max over k windows of n / k real positions spread over each
        # document: "max" on full blocks, and a short document still fills
        # all k slots.
        ProjectionKind("sliding_max", windowed=True, weightless=True),
        # The paper's convolution, kernel = stride = n / k.
        ProjectionKind("conv", windowed=True, linear=True),
    )
}
PROJECTIONS = tuple(PROJECTION_KINDS)

# The default of the layers, the backbone and the command line; on padded
# documents, docs/results.md compares it with the paper's "linear".
DEFAULT_PROJECTION = "sliding_max"

# `sharing`: none (E_i, F_i per head), headwise (one E and one F a layer),
# key_value (one E a layer, F = E), layerwise (one E for the whole model).
SHARING_MODES = ("none", "headwise", "key_value", "layerwise")

# `tf.distribute` strategies (`keras_linformer.training.get_strategy`).
STRATEGIES = ("auto", "mirrored", "multi_worker", "one_device")

# The recipes' tokenizers: a WordPiece vocabulary learned from the
# training text, or one token a UTF-8 byte (`LinformerByteTokenizer`).
TOKENIZERS = ("wordpiece", "byte")

# The recipes' backbones: Linformer, or a same-size standard Transformer
# (keras_hub `RobertaBackbone`) for comparison.
ATTENTIONS = ("linformer", "standard")

# What a text classifier's head reads: the "[CLS]" position (RoBERTa's
# head), or the mean over the real positions (`LinformerTextClassifier`).
POOLINGS = ("cls", "mean")

# Training and evaluation pad each batch to the smallest multiple of n / 8
# that holds its longest text (`keras_linformer.length_buckets`).
DEFAULT_LENGTH_BUCKETS = 8

# The defaults of `keras_linformer.training.ModelConfig`, which the command
# line's model flags show.
MODEL_DEFAULTS = dict(
    attention="linformer",
    tokenizer="wordpiece",
    vocabulary_size=5000,
    num_layers=2,
    num_heads=4,
    hidden_dim=128,
    intermediate_dim=512,
    sequence_length=128,
    projected_dim=32,
    projection=DEFAULT_PROJECTION,
    sharing="headwise",
    dropout=0.1,
)
