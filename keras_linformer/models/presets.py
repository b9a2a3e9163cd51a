"""Loading a preset directory whatever task (or backbone) it holds."""

import json
import os

import keras

TASK_CONFIG_FILE = "task.json"
BACKBONE_CONFIG_FILE = "config.json"


def _registered_class(preset_dir, filename):
    path = os.path.join(preset_dir, filename)
    if not os.path.isfile(path):
        return None, None
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    name = config.get("registered_name") or config.get("class_name")
    return name, keras.saving.get_registered_object(name)


def check_preset_directory(preset_dir):
    """Raises unless `preset_dir` is a keras_hub preset directory.

    Raises:
        FileNotFoundError: "Preset directory not found: PATH" (keras_hub
            would say "Unknown preset identifier").
        ValueError: the directory holds no preset config.
    """
    if not os.path.isdir(preset_dir):
        raise FileNotFoundError(f"Preset directory not found: {preset_dir}")
    if not os.path.isfile(os.path.join(preset_dir, BACKBONE_CONFIG_FILE)):
        raise ValueError(
            f"{preset_dir} is not a keras_hub preset: it has no "
            f"{BACKBONE_CONFIG_FILE}. Give a directory saved with "
            "`save_to_preset` (pretrain and finetune save one in "
            "OUTPUT_DIR/preset)."
        )


def load_preset(preset_dir, require_task=False):
    """The task a preset directory holds (its `task.json`), or else its
    backbone (`config.json`), loaded with that class's `from_preset`.

    keras_hub's `Task.from_preset` cannot be called on the base class, and
    a subclass such as `MaskedLM.from_preset` refuses a classifier's preset,
    so the class named in the preset's config is the one to load it with.

    Example:

    >>> classifier = load_preset("runs/finetune/preset", require_task=True)

    Raises:
        FileNotFoundError: `preset_dir` is missing, or holds no task while
            `require_task` is set.
        ValueError: `preset_dir` holds no preset, or names a class that is
            not registered.
    """
    # Registers the Linformer and standard-baseline classes presets name.
    import keras_linformer.models  # noqa: F401

    check_preset_directory(preset_dir)
    kind, filename = "task", TASK_CONFIG_FILE
    name, cls = _registered_class(preset_dir, filename)
    if name is None and require_task:
        raise FileNotFoundError(
            f"'{preset_dir}' is not a task preset (no {TASK_CONFIG_FILE}): "
            "give the preset directory that pretrain or finetune saved."
        )
    if name is None:
        kind, filename = "backbone", BACKBONE_CONFIG_FILE
        name, cls = _registered_class(preset_dir, filename)
    if cls is None or not hasattr(cls, "from_preset"):
        raise ValueError(
            f"{os.path.join(preset_dir, filename)} names the {kind} class "
            f"{name!r}, which is not a registered keras_hub model class (is "
            "the package that defines it imported?)."
        )
    return cls.from_preset(preset_dir)
