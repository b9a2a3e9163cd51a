"""Runs a subset of the layer tests again under `KERAS_BACKEND=jax` and
`KERAS_BACKEND=torch`, each where that backend is installed (the test extra
installs JAX; PyTorch's CPU wheel is left to whoever wants the check)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

LAYER_TESTS = Path(__file__).parent
REPO_ROOT = LAYER_TESTS.parent.parent
FILES = [
    "test_sequence_projection.py",
    "test_linformer_attention.py",
    "test_linformer_encoder.py",
    "test_projection_sharing.py",
]
# The numerics against the NumPy reference (padded, L < n, each kind and
# each sharing mode, cross-attention), padding invariance, bad values in
# padding and mask values other than 0/1, edge shapes, refusals, variable
# sharing and `.keras` round trips, Keras masks, the fused attention, a
# compiled mixed precision fit and a compiled predict. The whole files pass
# on JAX and PyTorch too, but take minutes there on a small CPU.
SUBSET = (
    "matches_reference or variable_counts or layerwise_shares "
    "or any_nonzero_mask or padded_batch "
    "or keras_save_and_load or edge_shapes or edge_rows_are_finite "
    "or keras_mask or slot_mask or (fit_lowers_loss and graph) "
    "or model_from_json or clone or keras_file or identity "
    "or fused_attention or flash_attention or compute_attention "
    "or refusals or compiled_predict"
)


INSTALL = {
    "jax": "pip install 'jax[cpu]'",
    "torch": "pip install torch --index-url https://download.pytorch.org/whl/cpu",
}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_layer_tests_pass_on_backend(backend):
    if keras.backend.backend() == backend:
        pytest.skip(f"already running on the {backend} backend")
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed ({INSTALL[backend]})")
    env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in [env.get("PYTHONPATH")] if p]
    )
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore::UserWarning",
        *[str(LAYER_TESTS / name) for name in FILES],
        "-k",
        SUBSET,
    ]
    result = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    assert f"keras backend: {backend}" in output, output[-2000:]
    # Nothing in the subset may skip itself on this backend.
    assert " passed" in output and " skipped" not in output, output[-2000:]
