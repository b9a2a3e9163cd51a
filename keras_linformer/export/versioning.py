"""Versioned directories for TF Serving, written atomically.

TF Serving polls `base_dir/NAME` and loads every child directory named by an
integer as a version, so a version is written into a hidden temporary
directory beside them and renamed into place (`atomic_version_dir`).
"""

import contextlib
import errno
import os
import re
import warnings

from keras_linformer.artifacts import staged_directory

TEMP_PREFIX = ".export-tmp-"

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_VERSION_PATTERN = re.compile(r"^[0-9]+$")

# TF Serving reads a version directory's name as an int64.
MAX_VERSION = 2**63 - 1


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
    """Returns `version` (None, or an int from 1 to `MAX_VERSION`, or its
    digits) as an int, or raises a `ValueError`."""
    if version is None:
        return None
    if isinstance(version, str) and _VERSION_PATTERN.match(version):
        return check_version(int(version))
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(
            "`version` must be an integer from 1 to 2**63 - 1 (TF Serving "
            "versions are directory names like 1, 2, 3). Received: "
            f"version={version!r}"
        )
    if not 1 <= version <= MAX_VERSION:
        raise ValueError(
            "`version` must be an integer from 1 to 2**63 - 1 = "
            f"{MAX_VERSION} (TF Serving reads it as an int64). Received: "
            f"version={version}"
        )
    return version


def existing_versions(model_dir):
    """The integer versions present in `model_dir`, sorted. A number above
    2**63 - 1, which TF Serving cannot load, is left out with a warning (so
    that it does not push the next version out of range)."""
    if not os.path.isdir(model_dir):
        return []
    versions = []
    for entry in os.listdir(model_dir):
        path = os.path.join(model_dir, entry)
        if not _VERSION_PATTERN.match(entry) or not os.path.isdir(path):
            continue
        if int(entry) > MAX_VERSION:
            warnings.warn(
                f"Ignoring {path}: a version number above 2**63 - 1, "
                "which TF Serving cannot load. Remove or rename it.",
                stacklevel=2,
            )
            continue
        versions.append(int(entry))
    return sorted(versions)


def next_version(model_dir):
    """The next free version: one more than the largest, or 1.

    Raises:
        ValueError: if the largest is already 2**63 - 1.
    """
    versions = existing_versions(model_dir)
    if versions and versions[-1] >= MAX_VERSION:
        raise ValueError(
            f"{model_dir} holds version {versions[-1]}, the largest TF "
            "Serving accepts: pass an unused `version` explicitly."
        )
    return versions[-1] + 1 if versions else 1


def check_export_target(base_dir, name, version):
    """Checks what `export_for_serving` is asked to write before a model is
    loaded or traced; returns `version` as an int (or None).

    Raises:
        ValueError: for a bad `name` or `version`, or a `base_dir/name`
            that cannot be created or written (a file, or read-only).
        FileExistsError: if `base_dir/name/version` exists.
    """
    check_model_name(name)
    version = check_version(version)
    check_base_dir(base_dir, name)
    if version is not None:
        check_version_free(base_dir, name, version)
    return version


def check_base_dir(base_dir, name):
    """Raises a `ValueError` naming the path unless `base_dir/name` can be
    created or written."""
    model_dir = os.path.join(os.path.abspath(base_dir), name)
    path = model_dir
    # The deepest part of base_dir/name that exists is where writing starts.
    while not os.path.lexists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    if not os.path.isdir(path):
        if path == model_dir:
            what = "the model directory"
        elif path == os.path.abspath(base_dir):
            what = "the base directory"
        else:
            what = "a parent of the base directory"
        raise ValueError(
            f"Cannot export to {model_dir}: {path} ({what}) is a file, not "
            "a directory. Choose another --base-dir (or `base_dir`)."
        )
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(
            f"Cannot export to {model_dir}: {path} is not writable "
            "(read-only, or no write permission for this user). Choose "
            "another --base-dir (or `base_dir`), or change its permissions."
        )


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path):
    """Flushes every file under `path`, then the directories, to disk."""
    for root, _, files in os.walk(path):
        for filename in files:
            _fsync(os.path.join(root, filename))
        _fsync_dir(root)


def _fsync_dir(path):
    # Not every file system can open or flush a directory.
    with contextlib.suppress(OSError):
        _fsync(path)


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
    """Yields `(temp_dir, state)`: the caller writes the complete SavedModel
    into `temp_dir`, which becomes `base_dir/name/VERSION` when the block
    ends without an exception, at `state["path"]`.

    The directory is flushed to disk, then renamed. VERSION is `version`
    (checked by `check_export_target`) or, when None, the next free one,
    recomputed at rename time so that concurrent exports get different
    versions. On an exception no version appears; a killed process leaves
    only a hidden `.export-tmp-*` directory, which TF Serving ignores.
    """
    model_dir = os.path.join(os.path.abspath(base_dir), name)
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
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            if fixed:
                raise _version_exists_error(target) from e
            continue
        return target
    raise RuntimeError(
        f"Could not find a free version directory in {model_dir} after "
        f"{attempts} attempts."
    )
