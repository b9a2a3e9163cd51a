"""`keras-linformer export PRESET_DIR --name NAME`.

Wired into the command line with one line:

    add_export_arguments(commands.add_parser("export", help=...))

which also sets `handler` to `run_export_command`.
"""

import json
import os

TASK_CONFIG_FILE = "task.json"
BACKBONE_CONFIG_FILE = "config.json"


def add_export_arguments(parser):
    """Adds the `export` arguments to an argparse (sub)parser."""
    parser.description = (
        "Export a task or backbone preset (a directory saved with "
        "save_to_preset) as a SavedModel for TF Serving, written atomically "
        "to BASE_DIR/NAME/VERSION."
    )
    parser.add_argument(
        "preset",
        metavar="PRESET_DIR",
        help="A preset directory: a task (task.json) or a backbone "
        "(config.json only).",
    )
    parser.add_argument(
        "--name",
        required=True,
        help="Model name: the directory BASE_DIR/NAME and the NAME in "
        "/v1/models/NAME:predict.",
    )
    parser.add_argument(
        "--base-dir",
        default="saved_models",
        help="Directory holding one subdirectory per model "
        "(default: %(default)s).",
    )
    parser.add_argument(
        "--version",
        type=int,
        default=None,
        help="Integer version (default: the next free one). An existing "
        "version is never overwritten.",
    )
    parser.add_argument(
        "--no-preprocessing",
        dest="include_preprocessing",
        action="store_false",
        help="Tasks: serving_default takes token_ids and padding_mask "
        "instead of text.",
    )
    parser.add_argument(
        "--no-warmup",
        dest="warmup",
        action="store_false",
        help="Do not write assets.extra/tf_serving_warmup_requests.",
    )
    parser.set_defaults(handler="keras_linformer.export:run_export_command")
    return parser


def _read_config(preset_dir, filename):
    path = os.path.join(preset_dir, filename)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_preset(preset_dir):
    """Loads the task (task.json) or else the backbone of a preset dir."""
    import keras

    # Registers the Linformer classes named in the preset's config files.
    import keras_linformer.models  # noqa: F401

    if not os.path.isdir(preset_dir):
        raise FileNotFoundError(f"Preset directory not found: {preset_dir}")
    config = _read_config(preset_dir, TASK_CONFIG_FILE)
    kind = "task"
    if config is None:
        config = _read_config(preset_dir, BACKBONE_CONFIG_FILE)
        kind = "backbone"
    if config is None:
        raise ValueError(
            f"{preset_dir} is not a keras_hub preset: it has neither "
            f"{TASK_CONFIG_FILE} nor {BACKBONE_CONFIG_FILE}. Save one with "
            "`model.save_to_preset(dir)`."
        )
    registered_name = config.get("registered_name") or config.get("class_name")
    cls = keras.saving.get_registered_object(registered_name)
    if cls is None or not hasattr(cls, "from_preset"):
        raise ValueError(
            f"The {kind} class {registered_name!r} of preset {preset_dir} is "
            "not a registered keras_hub model class."
        )
    return cls.from_preset(preset_dir)


def run_export_command(args):
    """Runs `keras-linformer export` from parsed arguments.

    Returns the path of the new version directory (also printed).
    """
    from keras_linformer.export.saved_model import export_for_serving

    model = load_preset(args.preset)
    try:
        path = export_for_serving(
            model,
            base_dir=args.base_dir,
            name=args.name,
            version=args.version,
            include_preprocessing=getattr(args, "include_preprocessing", True),
            warmup=getattr(args, "warmup", True),
        )
    except FileExistsError as e:
        # A usage error (the command line reports ValueErrors), not a crash.
        raise ValueError(str(e)) from e
    print(f"Exported {type(model).__name__} to {path}")
    return path
