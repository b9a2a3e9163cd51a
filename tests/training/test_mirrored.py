"""`MirroredStrategy` on 2 logical CPU devices trains like one device."""

import json
import os
import subprocess
import sys

import pytest
from training_helpers import HERE
from training_helpers import PROCESS_TIMEOUT
from training_helpers import subprocess_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("mirrored")
    corpus = tmp_path / "corpus.txt"
    words = "the quick brown fox jumped over the lazy dog and a cat sat on it"
    corpus.write_text(
        "\n".join(
            " ".join(words.split()[i % 7 : i % 7 + 4 + i % 5])
            for i in range(80)
        )
    )
    out = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(HERE, "mirrored_check.py"),
            str(corpus),
            str(out),
        ],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-8000:]
    return json.loads(out.read_text())


def test_variables_are_mirrored_and_layerwise_projection_is_one(report):
    assert report["replicas"] == 2
    backbone = report["backbone"]
    assert backbone["mirrored"] == backbone["variables"]
    assert backbone["task_variables_mirrored"]
    assert backbone["optimizer_variables_mirrored"]
    # Layerwise sharing: one (n x k) matrix for all layers, keys and
    # values, which stays one mirrored variable through training.
    assert len(backbone["projection_variables"]) == 1
    assert backbone["projection_mirrored"]
    assert backbone["shared_by_all_layers"]


@pytest.mark.parametrize(
    "case",
    [
        "masked_lm",
        "classifier",
        "masked_lm_clipnorm",
        "classifier_clipnorm",
        "masked_lm_fit_loop",
    ],
)
def test_two_replicas_end_with_the_weights_of_one_device(report, case):
    result = report[case]
    # Training moved the weights far more than the tolerance...
    assert result["moved"] > 1e-2
    # ...and 2 replicas with the global batch end where one device does.
    assert result["max_difference"] < 1e-5, result
    assert result["loss"][0] == pytest.approx(result["loss"][1], abs=1e-5)
