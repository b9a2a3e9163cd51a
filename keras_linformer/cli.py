"""The `keras-linformer` command line, for Python callers and
`python -m keras_linformer`.

The parser and `main` live in the top-level module `keras_linformer_cli`
(the console script's entry point), which runs `--help` and usage errors
without importing this package; see its docstring. This module is the
same `main` under the package's name.

Example:

    from keras_linformer import cli
    cli.main(["pretrain", "corpus.txt", "--epochs", "1"])
"""

from keras_linformer_cli import build_parser
from keras_linformer_cli import main

__all__ = ["build_parser", "main"]
