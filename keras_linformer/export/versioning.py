"""Versioned directories for TF Serving, written atomically.

TF Serving polls `--model_base_path` (here `base_dir/NAME`) and loads every
child directory whose name is an integer as a version of the model. A version
must therefore appear complete or not at all: the SavedModel is written to a
hidden temporary directory next to the versions (a name that is not an
integer, which TF Serving ignores), then renamed into place with one
`os.rename`, which is atomic on a POSIX file system.
"""

import contextlib
import errno
import os
import re

from keras_linformer.artifacts import staged_directory

TEMP_PREFIX = ".export-tmp-"

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def check_model_name(name):
    """Raises a `ValueError` unless `name` is usable as a TF Serving name."""
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise ValueError(
            "`name` must be a non-empty model name of letters, digits, '_', "
            "'-' and '.', not starting with '.' or '-' (it becomes the "
            "directory base_dir/NAME and the model name in TF Serving "
            f"requests). Received: name={name!r}"
        )


def check_version(version):
    """Returns `version` as an int, or raises a `ValueError`."""
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, int):
        try:
            if isinstance(version, str) and version.isdigit():
                return check_version(int(version))
        except ValueError:
            pass
        raise ValueError(
            "`version` must be a non-negative integer (TF Serving versions "
            f"are directory names like 1, 2, 3). Received: version={version!r}"
        )
    if version < 0:
        raise ValueError(
            f"`version` must be a non-negative integer. Received: {version}"
        )
    return version


def existing_versions(model_dir):
    """The integer versions present in `model_dir`, sorted."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(
        int(entry)
        for entry in os.listdir(model_dir)
        if entry.isdigit() and os.path.isdir(os.path.join(model_dir, entry))
    )


def next_version(model_dir):
    """The next free version: one more than the largest, or 1."""
    versions = existing_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def _fsync_tree(path):
    """Flushes every file under `path`, then the directories, to disk."""
    for root, _, files in os.walk(path):
        for filename in files:
            fd = os.open(os.path.join(root, filename), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(root)


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_version_free(base_dir, name, version):
    """Raises `FileExistsError` if `base_dir/name/version` exists."""
    target = os.path.join(os.path.abspath(base_dir), name, str(version))
    if os.path.exists(target):
        raise _version_exists_error(target)


def _version_exists_error(target):
    return FileExistsError(
        f"{target} already exists. TF Serving versions are immutable: pass "
        "another `version`, or `version=None` for the next free one."
    )


@contextlib.contextmanager
def atomic_version_dir(base_dir, name, version=None):
    """Yields a temporary directory that becomes `base_dir/name/VERSION`.

    The caller writes the complete SavedModel into the yielded directory.
    When the block ends without an exception, the directory is flushed to
    disk and renamed to `base_dir/name/VERSION`, where VERSION is `version`
    or, when `version` is None, the next free integer (recomputed at rename
    time, so two concurrent exports get different versions). On any
    exception the temporary directory is removed and no version appears;
    if the process is killed, only a hidden `.export-tmp-*` directory is
    left, which TF Serving ignores.

    The final path is available as `state["path"]` of the yielded
    `(temp_dir, state)` pair after the block.
    """
    check_model_name(name)
    version = check_version(version)
    model_dir = os.path.join(os.path.abspath(base_dir), name)
    if version is not None:
        check_version_free(base_dir, name, version)
    state = {"path": None}
    with staged_directory(model_dir, TEMP_PREFIX) as temp_dir:
        yield temp_dir, state
        _fsync_tree(temp_dir)
        state["path"] = _rename_into_place(temp_dir, model_dir, version)
        _fsync_dir(model_dir)


def _rename_into_place(temp_dir, model_dir, version, attempts=100):
    fixed = version is not None
    for _ in range(attempts):
        if not fixed:
            version = next_version(model_dir)
        target = os.path.join(model_dir, str(version))
        if os.path.exists(target):
            if fixed:
                raise _version_exists_error(target)
            continue
        try:
            os.rename(temp_dir, target)
        except OSError as e:
            # Another export took this version between the check and the
            # rename (Linux refuses to rename onto a non-empty directory).
            if e.errno in (errno.EEXIST, errno.ENOTEMPTY) and not fixed:
                continue
            if e.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise _version_exists_error(target) from e
            raise
        return target
    raise RuntimeError(
        f"Could not find a free version directory in {model_dir} after "
        f"{attempts} attempts."
    )
