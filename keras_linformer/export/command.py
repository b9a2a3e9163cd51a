"""`keras-linformer export PRESET_DIR --name NAME`.

Wired into the command line with one line:

    add_export_arguments(commands.add_parser("export", help=...))

which also sets `handler` to `run_export_command`.
"""


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
        help="Integer version from 1 to 2**63 - 1 (default: the next free "
        "one). An existing version is never overwritten.",
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


def run_export_command(args):
    """Runs `keras-linformer export` from parsed arguments.

    Returns the path of the new version directory (also printed).
    """
    from keras_linformer.export.saved_model import export_for_serving
    from keras_linformer.export.versioning import check_base_dir
    from keras_linformer.export.versioning import check_model_name
    from keras_linformer.export.versioning import check_version
    from keras_linformer.export.versioning import check_version_free
    from keras_linformer.models.presets import load_preset

    # What can be refused is refused before the (slow) loading.
    check_model_name(args.name)
    version = check_version(args.version)
    check_base_dir(args.base_dir, args.name)
    if version is not None:
        try:
            check_version_free(args.base_dir, args.name, version)
        except FileExistsError as e:
            raise ValueError(str(e)) from e
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
