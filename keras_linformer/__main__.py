"""`python -m keras_linformer ARGS` runs `keras-linformer ARGS`."""

import sys

from keras_linformer_cli import main

sys.exit(main())
