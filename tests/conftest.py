"""Shared pytest fixtures for keras_linformer's tests.

The layer tests subclass `keras.src.testing.TestCase` for its
`run_layer_test` (build, shapes, masking, serialization and a training step
in one call), as keras_hub's own tests do: Keras exports no public test
case, so this is the one private Keras import of the test suite. Nothing
in the package itself imports `keras.src`.
"""

import socket

import keras
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seeded():
    """Each test draws the same weights and dropout masks on every run."""
    keras.utils.set_random_seed(1337)


@pytest.fixture
def rng():
    return np.random.default_rng(1337)


@pytest.fixture(params=["mixed_float16", "mixed_bfloat16"])
def mixed_precision(request):
    """Sets a global mixed precision policy, and restores the previous one."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(request.param)
    try:
        yield request.param
    finally:
        keras.config.set_dtype_policy(previous)


@pytest.fixture
def tensorflow_only():
    if keras.backend.backend() != "tensorflow":
        pytest.skip(
            "needs the TensorFlow backend (tf.GradientTape); running on "
            f"{keras.backend.backend()!r}"
        )


def pytest_report_header(config):
    return f"keras backend: {keras.backend.backend()}"


@pytest.fixture
def worker_addresses():
    """Two `127.0.0.1:PORT` addresses, free at the time of the call, for a
    two-worker TF_CONFIG cluster."""
    sockets = [socket.socket() for _ in range(2)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    addresses = [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    for s in sockets:
        s.close()
    return addresses
