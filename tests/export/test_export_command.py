"""`keras-linformer export PRESET_DIR --name NAME` through its arguments."""

import argparse
import os

import pytest
from serving_helpers import MODEL_NAMES
from tensorflow.core.protobuf import saved_model_pb2

from keras_linformer_cli import add_export_arguments
from keras_linformer_cli import run_export_command

pytestmark = pytest.mark.slow


def parse(argv):
    parser = argparse.ArgumentParser(prog="keras-linformer export")
    add_export_arguments(parser)
    return parser.parse_args(argv)


def signature_inputs(path):
    """`{signature: sorted input names}` read from saved_model.pb."""
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    (meta_graph,) = saved_model.meta_graphs
    assert list(meta_graph.meta_info_def.tags) == ["serve"]
    return {
        name: sorted(signature.inputs)
        for name, signature in meta_graph.signature_def.items()
        if not name.startswith("__")
    }


@pytest.fixture(scope="module")
def presets(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("presets")
    paths = {}
    for kind in ("classifier", "backbone"):
        paths[kind] = str(root / kind)
        tiny_models[kind].save_to_preset(paths[kind])
    return paths


def test_name_is_required(capsys):
    with pytest.raises(SystemExit):
        parse(["p"])
    assert "--name" in capsys.readouterr().err


def test_export_task_preset(presets, tmp_path, capsys):
    path = run_export_command(
        parse(
            [
                presets["classifier"],
                "--name",
                "clf",
                "--base-dir",
                str(tmp_path),
            ]
        )
    )
    assert path == str(tmp_path / "clf" / "1")
    assert "LinformerTextClassifier" in capsys.readouterr().out
    assert signature_inputs(path) == {
        "serving_default": ["text"],
        "predict_ids": ["padding_mask", "token_ids"],
    }
    assert os.path.isfile(
        os.path.join(path, "assets.extra", "tf_serving_warmup_requests")
    )
    path = run_export_command(
        parse(
            [presets["classifier"], "--name", "clf", "--base-dir", str(tmp_path),
             "--version", "7", "--no-preprocessing", "--no-warmup"]
        )
    )  # fmt: skip
    assert path == str(tmp_path / "clf" / "7")
    assert signature_inputs(path)["serving_default"] == [
        "padding_mask",
        "token_ids",
    ]
    assert not os.path.exists(os.path.join(path, "assets.extra"))
    with pytest.raises(ValueError, match="already exists"):
        run_export_command(
            parse([presets["classifier"], "--name", "clf", "--base-dir",
                   str(tmp_path), "--version", "7"])
        )  # fmt: skip


def test_export_backbone_preset(presets, tmp_path):
    path = run_export_command(
        parse([presets["backbone"], "--name", MODEL_NAMES["backbone"],
               "--base-dir", str(tmp_path)])
    )  # fmt: skip
    assert signature_inputs(path) == {
        "serving_default": ["padding_mask", "token_ids"]
    }


def test_not_a_preset(tmp_path):
    with pytest.raises(FileNotFoundError):
        run_export_command(parse([str(tmp_path / "missing"), "--name", "m"]))
    with pytest.raises(ValueError, match="not a keras_hub preset"):
        run_export_command(
            parse([str(tmp_path), "--name", "m", "--base-dir", str(tmp_path)])
        )
