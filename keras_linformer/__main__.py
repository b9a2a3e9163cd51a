import sys

from keras_linformer.cli import main

sys.exit(main())
