"""Writing artifacts so that nothing is ever left half-written.

One mechanism for presets, metrics and TF Serving versions: the content is
written into a hidden temporary directory (or file) beside its final place,
on the same file system, and renamed into place in one `os.rename`; a
failure removes it, a kill leaves only a hidden `.tmp-*` / `.export-tmp-*`
name that readers (and TF Serving) ignore.
"""

import contextlib
import os
import shutil
import tempfile


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def staged_directory(parent, prefix):
    """Yields a new hidden directory in `parent`, removed if the block
    raises (or the process is interrupted there).

    Its mode follows the umask (`mkdtemp` alone makes it 0700, which would
    hide a model version from a server running as another user). The
    caller renames it into place inside the block.
    """
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=prefix, dir=parent)
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_directory(path):
    """Yields a temporary directory that becomes `path` only on success.

    The temporary directory is a hidden sibling of `path` (same file system,
    so the final `os.rename` is atomic). On an exception it is removed; on a
    kill it is left as a hidden `.tmp-*` directory that readers ignore (and
    the next `atomic_directory(path)` removes), and `path` itself is never
    partially written. An existing `path` is replaced. There must be one
    writer of `path` at a time.

    Example:

    >>> with atomic_directory("runs/preset") as tmp:
    ...     backbone.save_to_preset(tmp)
    """
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    prefix = f".tmp-{os.path.basename(path)}-"
    # What a killed writer of `path` left behind; one writer per path.
    if os.path.isdir(parent):
        for entry in os.listdir(parent):
            if entry.startswith(prefix):
                shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)
    with staged_directory(parent, prefix) as tmp:
        yield tmp
        if os.path.exists(path):
            old = tempfile.mkdtemp(prefix=".old-", dir=parent)
            os.rename(path, os.path.join(old, "previous"))
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)


def write_text_atomic(path, text):
    """Writes `text` to `path` through a temporary file and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
