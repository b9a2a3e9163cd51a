"""`python -m keras_linformer.bench`: the `keras-linformer bench` command."""

import sys

from keras_linformer.bench.cli import main

sys.exit(main())
