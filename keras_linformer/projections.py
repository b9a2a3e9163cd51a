"""The projection kinds and sharing modes of Linformer's E and F, as data.

What each kind *is* is declared here and only here, so that adding a kind
is one entry in `PROJECTION_KINDS` (plus its computation in
`SequenceProjection`). Plain Python, without Keras: the command line reads
the choices from here before it imports anything heavy.

Example:

>>> projection_kind("max").windowed
True
>>> projection_kind("pool")
Traceback (most recent call last):
...
ValueError: Unknown `projection`: 'pool'. Expected one of ...
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class ProjectionKind:
    """What a projection kind is.

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
    windowed: bool
    weightless: bool
    linear: bool
    matrix: bool
    normalized: bool


PROJECTION_KINDS = {
    kind.name: kind
    for kind in (
        # The paper's learned (n, k) matrix.
        ProjectionKind(
            "linear",
            windowed=False,
            weightless=False,
            linear=True,
            matrix=True,
            normalized=False,
        ),
        # The paper's general projections: pooling over windows of n / k.
        ProjectionKind(
            "mean",
            windowed=True,
            weightless=True,
            linear=True,
            matrix=False,
            normalized=True,
        ),
        ProjectionKind(
            "max",
            windowed=True,
            weightless=True,
            linear=False,
            matrix=False,
            normalized=False,
        ),
        # Max over k windows of n / k real positions spread over each
        # document: "max" on full blocks, and a short document still fills
        # all k slots.
        ProjectionKind(
            "sliding_max",
            windowed=True,
            weightless=True,
            linear=False,
            matrix=False,
            normalized=False,
        ),
        # The paper's convolution, kernel = stride = n / k.
        ProjectionKind(
            "conv",
            windowed=True,
            weightless=False,
            linear=True,
            matrix=False,
            normalized=False,
        ),
    )
}
PROJECTIONS = tuple(PROJECTION_KINDS)

# The default of the layers, the backbone and the command line: on padded
# documents of varied length it keeps the standard model's accuracy, where
# the paper's "linear" loses 5 to 14 points (docs/results.md).
DEFAULT_PROJECTION = "sliding_max"

# `sharing`: none (E_i, F_i per head), headwise (one E and one F a layer),
# key_value (one E a layer, F = E), layerwise (one E for the whole model).
SHARING_MODES = ("none", "headwise", "key_value", "layerwise")


def projection_kind(name):
    """The `ProjectionKind` named `name`.

    Raises:
        ValueError: naming `name` and the known kinds.
    """
    if name not in PROJECTION_KINDS:
        raise ValueError(
            f"Unknown `projection`: {name!r}. Expected one of {PROJECTIONS}."
        )
    return PROJECTION_KINDS[name]


def validate_sharing(sharing):
    """Raises a `ValueError` naming `sharing` unless it is a known mode."""
    if sharing not in SHARING_MODES:
        raise ValueError(
            f"Unknown `sharing`: {sharing!r}. Expected one of {SHARING_MODES}."
        )
