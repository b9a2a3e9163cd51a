"""How much of a document's mean survives a trained linear E.

When the [CLS] query attends evenly to the k slots, the attention output is
`(1/k) sum_j V'_j = (1/k) u^T V`, with `u = E 1` (`u_l = sum_j E[l, j]`):
position l enters that output with weight u_l. Standard attention and the
pooling kinds give every real position the same positive weight, so the
output holds the document's mean value, the easiest signal for sentiment.
A zero-mean random E gives each position a weight of random sign, and the
mean cancels. This script reads the E and F matrices of finished presets
(`keras-linformer pretrain` / `finetune` with `--projection linear`) and
prints, for a document of L real positions, the cosine between u[:L] and
the all-ones vector: 1 where u is uniform, about +-1/sqrt(L) where it is
random.

    python examples/projection_mean_alignment.py RUN_DIR/pretrain/preset \
        RUN_DIR/finetune/preset --lengths 128,512
"""

import argparse

import numpy as np


def mean_alignment(E, length):
    """Cosine between `u = E[:length] 1` and the all-ones vector.

    Example:

    >>> n, k = 8, 2
    >>> window_mean = np.kron(np.eye(k), np.ones((n // k, 1))) * k / n
    >>> round(float(mean_alignment(window_mean, 6)), 6)
    1.0
    >>> round(float(mean_alignment(np.array([[1.0], [-1.0]]), 2)), 6)
    0.0
    """
    u = np.asarray(E, "float64")[:length].sum(axis=1)
    norm = np.linalg.norm(u)
    if norm == 0:
        return 0.0
    return u.sum() / (np.sqrt(length) * norm)


def projection_matrices(preset_dir):
    """{name: (n, k) array} of every learned E / F of the backbone in a
    preset (loaded with `load_preset`; per head for `sharing="none"`: one
    entry per head)."""
    import keras

    from keras_linformer.layers import SequenceProjection
    from keras_linformer.layers.sequence_projection import (
        LINEAR_MATRIX_PROJECTIONS,
    )
    from keras_linformer.models.presets import load_preset

    model = load_preset(preset_dir)
    backbone = getattr(model, "backbone", model)
    matrices = {}
    for layer in backbone._flatten_layers():
        if not isinstance(layer, SequenceProjection):
            continue
        if layer.projection not in LINEAR_MATRIX_PROJECTIONS:
            continue
        value = keras.ops.convert_to_numpy(layer.kernel)
        blocks = value if value.ndim == 3 else [value]
        for head, block in enumerate(blocks):
            suffix = f"[{head}]" if value.ndim == 3 else ""
            matrices[layer.kernel.path + suffix] = block
    if not matrices:
        raise SystemExit(
            f"{preset_dir} holds no (n, k) projection matrix: expected a "
            f"Linformer preset with projection in {list(LINEAR_MATRIX_PROJECTIONS)}."
        )
    return matrices


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="+", help="preset directories")
    parser.add_argument(
        "--lengths",
        default="128,512",
        help="real document lengths L (comma-separated; at most n).",
    )
    args = parser.parse_args(argv)
    lengths = [int(x) for x in args.lengths.split(",")]
    print(
        "| preset | matrix | " + " | ".join(f"L = {L}" for L in lengths) + " |"
    )
    print("| --- | --- |" + " --- |" * len(lengths))
    for preset in args.presets:
        for name, E in projection_matrices(preset).items():
            cells = [f"{mean_alignment(E, L):+.3f}" for L in lengths]
            print(f"| {preset} | {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
