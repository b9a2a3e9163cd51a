import os

import pytest

from keras_linformer.artifacts import write_text_atomic


def test_write_text_atomic_replaces_whole_or_not_at_all(tmp_path):
    """Any text (UTF-8 whatever the locale) lands whole; a write that fails
    leaves the previous file as it was and no temporary file beside it."""
    path = tmp_path / "results" / "result.json"
    write_text_atomic(str(path), '{"review": "très bien 👍"}')
    assert path.read_text(encoding="utf-8") == '{"review": "très bien 👍"}'
    with pytest.raises(TypeError):
        write_text_atomic(str(path), b"bytes are not text")
    assert path.read_text(encoding="utf-8") == '{"review": "très bien 👍"}'
    assert os.listdir(path.parent) == ["result.json"]
