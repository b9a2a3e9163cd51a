"""Versioned, atomic export directories: what TF Serving's poller sees."""

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest
from serving_helpers import REPO

from keras_linformer.export import export_for_serving
from keras_linformer.export import next_version
from keras_linformer.export import saved_model
from keras_linformer.export import versioning


def numeric_dirs(model_dir):
    return sorted(e for e in os.listdir(model_dir) if e.isdigit())


@pytest.fixture(scope="module")
def backbone():
    from keras_linformer.models import LinformerBackbone

    return LinformerBackbone(
        vocabulary_size=11,
        num_layers=1,
        num_heads=1,
        hidden_dim=4,
        intermediate_dim=8,
        max_sequence_length=8,
        projected_dim=2,
        dropout=0.0,
    )


def test_next_version_ignores_non_versions(tmp_path):
    model_dir = tmp_path / "m"
    for entry in ["1", "3", "7.tmp", ".export-tmp-x", "abc"]:
        (model_dir / entry).mkdir(parents=True)
    (model_dir / "9").write_text("a file, not a version")
    assert versioning.existing_versions(model_dir) == [1, 3]
    assert next_version(model_dir) == 4
    assert next_version(tmp_path / "missing") == 1


def test_versions_count_up_and_are_readable(tmp_path, backbone):
    previous = os.umask(0o022)
    try:
        first = export_for_serving(backbone, tmp_path, name="bb", warmup=False)
        second = export_for_serving(backbone, tmp_path, name="bb", warmup=False)
    finally:
        os.umask(previous)
    assert first == str(tmp_path / "bb" / "1")
    assert second == str(tmp_path / "bb" / "2")
    assert sorted(os.listdir(tmp_path / "bb")) == ["1", "2"]
    assert os.path.isfile(os.path.join(second, "saved_model.pb"))
    # Not mkdtemp's private 0700: a server running as another user reads it.
    assert stat.S_IMODE(os.stat(second).st_mode) == 0o755


def test_existing_version_is_never_overwritten(tmp_path, backbone, monkeypatch):
    (tmp_path / "bb" / "5").mkdir(parents=True)
    (tmp_path / "bb" / "5" / "marker").write_text("v5")
    staged = []
    real_staged_directory = versioning.staged_directory
    monkeypatch.setattr(
        versioning,
        "staged_directory",
        lambda *a: staged.append(a) or real_staged_directory(*a),
    )
    with pytest.raises(FileExistsError, match="already exists"):
        export_for_serving(backbone, tmp_path, name="bb", version=5)
    assert staged == []  # refused before writing anything
    assert os.listdir(tmp_path / "bb") == ["5"]
    assert os.listdir(tmp_path / "bb" / "5") == ["marker"]
    path = export_for_serving(backbone, tmp_path, name="bb", version="6")
    assert path.endswith(os.path.join("bb", "6"))


@pytest.mark.parametrize("name", ["", "../up", "a/b", ".hidden", None])
def test_bad_names_are_refused(tmp_path, backbone, name):
    with pytest.raises(ValueError, match="name"):
        export_for_serving(backbone, tmp_path, name=name)
    assert not any(p.name.isdigit() for p in tmp_path.rglob("*"))


@pytest.mark.parametrize(
    "version", [-1, 0, 1.5, "v2", True, 2**63, str(2**63), "²"]
)
def test_bad_versions_are_refused(tmp_path, backbone, version):
    with pytest.raises(ValueError, match="version"):
        export_for_serving(backbone, tmp_path, name="bb", version=version)
    assert not (tmp_path / "bb").exists()


def test_version_range_is_tf_serving_int64():
    assert versioning.check_version(2**63 - 1) == 2**63 - 1
    assert versioning.check_version("1") == 1
    with pytest.raises(ValueError, match="2\\*\\*63 - 1"):
        versioning.check_version(2**63)


def test_huge_version_directory_does_not_poison_numbering(tmp_path):
    model_dir = tmp_path / "m"
    for entry in ["2", str(2**63), "99999999999999999999999"]:
        (model_dir / entry).mkdir(parents=True)
    with pytest.warns(UserWarning, match="above 2\\*\\*63 - 1"):
        assert next_version(model_dir) == 3
    (model_dir / str(2**63 - 1)).mkdir()
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="unused"):
        next_version(model_dir)


def export_args(tmp_path, base_dir, **kwargs):
    import argparse

    from keras_linformer_cli import add_export_arguments

    parser = add_export_arguments(argparse.ArgumentParser())
    argv = [str(tmp_path / "preset"), "--name", "m", "--base-dir", base_dir]
    for key, value in kwargs.items():
        argv += [f"--{key}", str(value)]
    return parser.parse_args(argv)


@pytest.fixture
def loads(monkeypatch):
    """Records `load_preset` calls (and fails them: nothing to load)."""
    from keras_linformer.models import presets

    calls = []

    def load_preset(path, *args, **kwargs):
        calls.append(path)
        raise AssertionError("the preset was loaded")

    monkeypatch.setattr(presets, "load_preset", load_preset)
    return calls


def test_export_refuses_a_file_as_base_dir_before_loading(tmp_path, loads):
    from keras_linformer_cli import run_export_command

    (tmp_path / "models").write_text("a file")
    for base_dir in [tmp_path / "models", tmp_path / "models" / "sub"]:
        with pytest.raises(ValueError, match="is a file, not a directory"):
            run_export_command(export_args(tmp_path, str(base_dir)))
    (tmp_path / "base" / "m").parent.mkdir()
    (tmp_path / "base" / "m").write_text("the model directory is a file")
    with pytest.raises(ValueError, match="model directory"):
        run_export_command(export_args(tmp_path, str(tmp_path / "base")))
    assert loads == []


def test_export_refuses_a_read_only_base_dir_before_loading(
    tmp_path, loads, monkeypatch
):
    from keras_linformer_cli import run_export_command

    read_only = tmp_path / "read_only"
    read_only.mkdir()
    read_only.chmod(0o555)
    if os.geteuid() == 0:
        # Root writes through the mode bits: answer as for another user.
        access = os.access
        monkeypatch.setattr(
            os,
            "access",
            lambda path, mode, **kw: (
                False
                if os.path.abspath(path) == str(read_only) and mode & os.W_OK
                else access(path, mode, **kw)
            ),
        )
    try:
        with pytest.raises(ValueError, match="is not writable") as error:
            run_export_command(export_args(tmp_path, str(read_only)))
        assert str(read_only) in str(error.value)
    finally:
        read_only.chmod(0o755)
    assert loads == []


@pytest.mark.parametrize("version", [0, 2**63, -3])
def test_export_command_refuses_versions_before_loading(
    tmp_path, loads, version
):
    from keras_linformer_cli import run_export_command

    args = export_args(tmp_path, str(tmp_path / "models"), version=version)
    with pytest.raises(ValueError, match="from 1 to 2\\*\\*63 - 1"):
        run_export_command(args)
    assert loads == []


@pytest.mark.parametrize("stage", ["writing", "flushing", "renaming"])
def test_failure_leaves_nothing_behind(tmp_path, backbone, monkeypatch, stage):
    """A failure while the SavedModel is written, while it is flushed to
    disk, or at the rename: no version and no temporary directory."""

    def fail(*args, **kwargs):
        raise OSError(f"injected failure while {stage}")

    if stage == "writing":
        monkeypatch.setattr(saved_model, "write_warmup_requests", fail)
    elif stage == "flushing":
        monkeypatch.setattr(versioning, "_fsync_tree", fail)
    else:
        monkeypatch.setattr(versioning.os, "rename", fail)
    with pytest.raises(OSError, match="injected failure"):
        export_for_serving(backbone, tmp_path, name="bb")
    assert os.listdir(tmp_path / "bb") == []  # no version, no temp dir


def test_rename_picks_the_next_version_when_raced(tmp_path, monkeypatch):
    model_dir = tmp_path / "m"
    (model_dir / "1").mkdir(parents=True)
    (model_dir / "1" / "saved_model.pb").write_text("")
    temp_dir = model_dir / ".export-tmp-x"
    temp_dir.mkdir()
    answers = iter([1, 2])  # a stale answer first: another export took 1
    monkeypatch.setattr(versioning, "next_version", lambda d: next(answers))
    target = versioning._rename_into_place(str(temp_dir), str(model_dir), None)
    assert target == str(model_dir / "2")
    assert numeric_dirs(model_dir) == ["1", "2"]


KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    import time

    from keras_linformer.export import saved_model
    from keras_linformer.export import versioning
    from keras_linformer.models import LinformerBackbone

    base_dir, stage = sys.argv[1], sys.argv[2]

    def pause(current, temp_dir):
        print("STAGE", current, temp_dir, flush=True)
        if current == stage:
            time.sleep(600)

    fsync_tree = versioning._fsync_tree

    def slow_fsync(temp_dir):
        # Written completely, not yet renamed into place.
        pause("written", temp_dir)
        return fsync_tree(temp_dir)

    versioning._fsync_tree = slow_fsync
    write_warmup = saved_model.write_warmup_requests

    def slow_warmup(export_dir, *args):
        # Mid-export: the SavedModel is written, the warmup file is not.
        pause("warmup", export_dir)
        return write_warmup(export_dir, *args)

    saved_model.write_warmup_requests = slow_warmup
    backbone = LinformerBackbone(
        vocabulary_size=11, num_layers=1, num_heads=1, hidden_dim=4,
        intermediate_dim=8, max_sequence_length=8, projected_dim=2,
    )
    print("EXPORTED", saved_model.export_for_serving(backbone, base_dir, name="bb"))
    """
)


@pytest.mark.slow
def test_sigkill_during_export_leaves_no_version(tmp_path):
    stages = ["warmup", "written"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)]
        + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    processes = {}
    for stage in stages:
        (tmp_path / stage).mkdir()
        processes[stage] = subprocess.Popen(
            [sys.executable, "-c", KILL_SCRIPT, str(tmp_path / stage), stage],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
    try:
        for stage, process in processes.items():
            deadline = time.monotonic() + 300
            temp_dir = None
            for line in process.stdout:
                if line.startswith(f"STAGE {stage} "):
                    temp_dir = line.split(" ", 2)[2].strip()
                    break
                assert time.monotonic() < deadline
            assert temp_dir, f"export never reached stage {stage!r}"
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
            model_dir = tmp_path / stage / "bb"
            # Nothing TF Serving would load: no integer directory.
            assert numeric_dirs(model_dir) == []
            # What is left is the hidden temporary directory, as far as it got.
            assert os.listdir(model_dir) == [os.path.basename(temp_dir)]
            assert os.path.basename(temp_dir).startswith(".")
            # Killed mid-export: the SavedModel was written, not yet renamed.
            assert os.path.exists(os.path.join(temp_dir, "saved_model.pb"))
            assert next_version(model_dir) == 1
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
