"""Helpers for the training tests (imported by name: a `conftest` module
is not importable as such when several test folders have one): a tiny corpus, and `keras-linformer`
runs in subprocesses (fresh TensorFlow runtimes, logical CPU devices,
several workers), each with a timeout so that nothing can hang CI."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.join(HERE, "harness.py")

# The longest any one subprocess may run, in seconds (CPU-only, and the
# cores may be shared).
PROCESS_TIMEOUT = 420

# A model small enough to train in seconds on a CPU.
TINY_MODEL = [
    "--num-layers", "1", "--num-heads", "2", "--hidden-dim", "16",
    "--intermediate-dim", "32", "--sequence-length", "32",
    "--projected-dim", "8", "--vocabulary-size", "100",
]  # fmt: skip

WORDS = (
    "the quick brown fox jumped over lazy dog a cat sat on mat good great "
    "fine bad awful poor movie film was is very king queen lord lady speak "
    "thou art"
).split()


def subprocess_env(**extra):
    env = dict(os.environ)
    env.pop("TF_CONFIG", None)
    env.update(
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Process:
    """A harness run whose output goes to a log file."""

    def __init__(self, harness_args, cli_args, log, env=None):
        self.log = str(log)
        self._file = open(self.log, "w")
        self.popen = subprocess.Popen(
            [sys.executable, HARNESS, *harness_args, "--", *cli_args],
            stdout=self._file,
            stderr=subprocess.STDOUT,
            env=env or subprocess_env(),
            start_new_session=True,
        )
        self.started = time.monotonic()

    @property
    def output(self):
        with open(self.log) as f:
            return f.read()

    def wait(self, timeout=PROCESS_TIMEOUT):
        """Waits for the exit code; kills the process after `timeout`."""
        left = timeout - (time.monotonic() - self.started)
        try:
            return self.popen.wait(timeout=max(left, 1))
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(
                f"Process timed out after {timeout}s; its output:\n"
                f"{self.output[-5000:]}"
            )

    def wait_for_file(self, path, timeout=PROCESS_TIMEOUT):
        """Waits until `path` exists (the process paused at its hook)."""
        while not os.path.exists(path):
            if self.popen.poll() is not None:
                pytest.fail(
                    f"Process exited ({self.popen.returncode}) before "
                    f"writing {path}; its output:\n{self.output[-5000:]}"
                )
            if time.monotonic() - self.started > timeout:
                self.kill()
                pytest.fail(f"Timed out waiting for {path}:\n{self.output}")
            time.sleep(0.2)

    def kill(self):
        """SIGKILL, as an out-of-memory killer or a preemption would."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=30)
        self._file.close()


def assert_succeeded(process):
    code = process.wait()
    assert code == 0, f"exit code {code}; output:\n{process.output[-8000:]}"


def load_weights(path):
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


def max_difference(a, b):
    assert sorted(a) == sorted(b), set(a) ^ set(b)
    return max(float(np.max(np.abs(a[name] - b[name]))) for name in a)
