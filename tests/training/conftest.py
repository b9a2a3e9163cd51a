"""Fixtures of the training tests: a tiny corpus, and harness processes."""

import random

import pytest
from training_helpers import WORDS
from training_helpers import Process


@pytest.fixture
def corpus(tmp_path):
    """A small text file (300 lines of random words)."""
    rng = random.Random(0)
    path = tmp_path / "corpus.txt"
    lines = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12)))
        for _ in range(300)
    ]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def processes():
    """Starts harness processes; kills any still running at teardown."""
    started = []

    def start(harness_args, cli_args, log, env=None):
        process = Process(harness_args, cli_args, log, env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
