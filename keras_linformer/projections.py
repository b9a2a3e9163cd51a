"""The projection kinds and sharing modes of Linformer's E and F: declared
in the top-level `keras_linformer_options` (which the command line reads
without Keras), re-exported and validated here."""

from keras_linformer_options import DEFAULT_PROJECTION
from keras_linformer_options import PROJECTION_KINDS
from keras_linformer_options import PROJECTIONS
from keras_linformer_options import SHARING_MODES
from keras_linformer_options import ProjectionKind

__all__ = [
    "DEFAULT_PROJECTION",
    "PROJECTIONS",
    "PROJECTION_KINDS",
    "SHARING_MODES",
    "ProjectionKind",
    "check_positive_int",
    "projection_kind",
    "validate_projection",
    "validate_sharing",
]


def check_positive_int(name, value):
    """Raises a `ValueError` naming `name` unless `value` is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )


def projection_kind(name):
    """The `ProjectionKind` named `name`; a `ValueError` if none is."""
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


def validate_projection(
    sequence_length, projected_dim, projection, sharing=None
):
    """Raises a `ValueError` naming the values unless (n, k, kind, sharing)
    is accepted: n and k positive integers, k <= n, a known kind (and
    sharing mode, where given), and n divisible by k for a windowed kind.

    Example:

    >>> validate_projection(512, 128, "sliding_max", "headwise")
    >>> validate_projection(100, 32, "max")
    Traceback (most recent call last):
    ...
    ValueError: `projection='max'` has k windows of n / k positions, ...
    """
    check_positive_int("sequence_length", sequence_length)
    check_positive_int("projected_dim", projected_dim)
    kind = projection_kind(projection)
    if sharing is not None:
        validate_sharing(sharing)
    if projected_dim > sequence_length:
        raise ValueError(
            "`projected_dim` (k) must not exceed `sequence_length` (n). "
            f"Received: projected_dim={projected_dim}, "
            f"sequence_length={sequence_length}."
        )
    if kind.windowed and sequence_length % projected_dim:
        raise ValueError(
            f"`projection={projection!r}` has k windows of n / k positions, "
            "so `sequence_length` (n) must be divisible by `projected_dim` "
            f"(k). Received: sequence_length={sequence_length}, "
            f"projected_dim={projected_dim}. Use a k that divides n, or "
            '`projection="linear"`.'
        )
