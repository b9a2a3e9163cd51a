"""Bad distribution settings fail clearly, before any training starts."""

import json

import pytest
from training_helpers import TINY_MODEL

import keras_linformer_cli as cli
from keras_linformer.training.strategy import check_global_batch_size
from keras_linformer.training.strategy import get_strategy
from keras_linformer.training.strategy import parse_tf_config

GOOD = {
    "cluster": {"worker": ["127.0.0.1:20001", "127.0.0.1:20002"]},
    "task": {"type": "worker", "index": 1},
}

MALFORMED = {
    "not json": ("{'cluster': ", "not valid JSON"),
    "not an object": ("[1, 2]", "must be a JSON object"),
    "no cluster": (json.dumps({"task": GOOD["task"]}), "cluster.worker"),
    "empty workers": (
        json.dumps({"cluster": {"worker": []}, "task": GOOD["task"]}),
        "cluster.worker",
    ),
    "bad address": (
        json.dumps(
            {"cluster": {"worker": ["localhost"]}, "task": GOOD["task"]}
        ),
        "is not 'host:port'",
    ),
    "no task": (json.dumps({"cluster": GOOD["cluster"]}), "needs `task`"),
    "unknown task type": (
        json.dumps(dict(GOOD, task={"type": "ps", "index": 0})),
        "task type 'ps' is not in the cluster",
    ),
    "index out of range": (
        json.dumps(dict(GOOD, task={"type": "worker", "index": 2})),
        "index 2 is out of range for 2",
    ),
}


def test_a_valid_tf_config_is_accepted():
    assert parse_tf_config({"TF_CONFIG": json.dumps(GOOD)}) == GOOD


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_tf_config_is_refused(case):
    raw, message = MALFORMED[case]
    with pytest.raises(ValueError, match="TF_CONFIG") as error:
        parse_tf_config({"TF_CONFIG": raw})
    assert message in str(error.value)


def test_missing_tf_config_is_refused():
    with pytest.raises(ValueError, match="needs the TF_CONFIG"):
        parse_tf_config({})


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="Unknown strategy 'tpu'"):
        get_strategy("tpu")


class _Replicas:
    def __init__(self, n):
        self.num_replicas_in_sync = n


@pytest.mark.parametrize("batch_size", [0, 3, 5])
def test_batch_not_divisible_by_replicas_is_refused(batch_size):
    with pytest.raises(
        ValueError, match=r"multiple of the number of replicas \(2\)"
    ):
        check_global_batch_size(batch_size, _Replicas(2))
    check_global_batch_size(4, _Replicas(2))


def _pretrain(corpus, output_dir, *extra):
    return [
        "pretrain", corpus, *TINY_MODEL, "--steps-per-epoch", "1",
        "--epochs", "1", "--output-dir", str(output_dir), *extra,
    ]  # fmt: skip


def test_cli_unknown_strategy_exits_2(corpus, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(_pretrain(corpus, tmp_path / "out", "--strategy", "tpu"))
    assert exit.value.code == 2
    assert "invalid choice: 'tpu'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", ["not json", "bad address", "unset"])
def test_cli_malformed_tf_config_exits_2(
    case, corpus, tmp_path, capsys, monkeypatch
):
    if case == "unset":
        monkeypatch.delenv("TF_CONFIG", raising=False)
        message = "needs the TF_CONFIG environment variable"
    else:
        raw, message = MALFORMED[case]
        monkeypatch.setenv("TF_CONFIG", raw)
    code = cli.main(
        _pretrain(corpus, tmp_path / "out", "--strategy", "multi_worker")
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-linformer pretrain: error: ")
    assert message in err
    # Refused before any work: nothing was written.
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_cli_mirrored_batch_not_divisible_exits_2(corpus, tmp_path, processes):
    run = processes(
        ["--cpus", "2"],
        _pretrain(
            corpus,
            tmp_path / "out",
            "--strategy",
            "mirrored",
            "--batch-size",
            "3",
        ),  # fmt: skip
        tmp_path / "log",
    )
    assert run.wait() == 2, run.output
    assert (
        "keras-linformer pretrain: error: The global batch size (3) must be "
        "a positive multiple of the number of replicas (2)"
    ) in run.output
    assert "--batch-size 2" in run.output
    assert "Epoch" not in run.output
    assert not (tmp_path / "out").exists()
