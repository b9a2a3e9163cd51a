"""`keras-linformer`: pretrain, fine-tune, evaluate and export.

    keras-linformer pretrain                      # built-in corpus, small model
    keras-linformer pretrain a.txt b.txt --output-dir runs/mlm
    keras-linformer finetune --train train.jsonl --validation dev.jsonl \\
        --preset runs/mlm/preset --output-dir runs/clf
    keras-linformer evaluate runs/clf/preset dev.jsonl --json eval.json
    keras-linformer export runs/clf/preset --name sentiment

A top-level module importing only the standard library and
`keras_linformer_options`, so that `--help` and usage errors need no
TensorFlow; `keras_linformer` is imported inside a subcommand, whose
recipes check every value before any work.
"""

import argparse
import contextlib
import os
import sys
import tempfile

from keras_linformer_options import ATTENTIONS
from keras_linformer_options import DEFAULT_LENGTH_BUCKETS
from keras_linformer_options import MODEL_DEFAULTS
from keras_linformer_options import POOLINGS
from keras_linformer_options import PROJECTIONS
from keras_linformer_options import SHARING_MODES
from keras_linformer_options import STRATEGIES
from keras_linformer_options import TOKENIZERS

PROG = "keras-linformer"

# The model flags a `finetune --preset` takes from the preset instead.
PRESET_FIXED = tuple(
    name
    for name in MODEL_DEFAULTS
    if name not in ("sequence_length", "dropout")
)


def projected_dim(text):
    """`"32"` -> 32; `"64,32"` -> (64, 32), one k per layer."""
    parts = tuple(int(part) for part in text.split(","))
    return parts[0] if len(parts) == 1 else parts


# === The parser ===


class _HelpFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to a flag's help where the help does not say
    its default itself."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (
            "default" not in text.lower()
            and action.default is not None
            and action.default is not argparse.SUPPRESS
            and action.option_strings
            and action.nargs != 0
        ):
            text += " (default: %(default)s)"
        return text


def _add_parser(commands, name, **kwargs):
    return commands.add_parser(name, formatter_class=_HelpFormatter, **kwargs)


def _add_length_buckets_argument(group):
    group.add_argument(
        "--length-buckets",
        type=int,
        default=DEFAULT_LENGTH_BUCKETS,
        help="Pad each batch to the smallest multiple of n / B that holds "
        "its longest text, instead of to n: the same results, at the cost "
        "of the real lengths; 1 pads every batch to n.",
    )


def _add_model_arguments(parser, for_preset=False):
    """The `model` group. `for_preset` (finetune): the flags a preset fixes
    default to None, so that one given with --preset can be refused."""
    note = (
        " With --preset, the preset's backbone and tokenizer fix all but "
        "--sequence-length and --dropout."
        if for_preset
        else ""
    )
    group = parser.add_argument_group(
        "model",
        "The model's architecture (keras_linformer.training.ModelConfig)."
        + note,
    )

    def add(name, help, **kwargs):
        default = MODEL_DEFAULTS[name]
        if for_preset and name == "sequence_length":
            default = None
            help += f" (default: the preset's n; {MODEL_DEFAULTS[name]} "
            help += "for a new model)"
        elif for_preset and name in PRESET_FIXED:
            default = None
            help += f" (default: {MODEL_DEFAULTS[name]}; with --preset, "
            help += "the preset's)"
        group.add_argument(
            "--" + name.replace("_", "-"), default=default, help=help, **kwargs
        )

    add(
        "attention",
        "Linformer, or a same-size standard Transformer (keras_hub "
        "RobertaBackbone) for comparison.",
        choices=ATTENTIONS,
    )
    add(
        "tokenizer",
        "wordpiece: a vocabulary learned from the training text; byte: one "
        "token a UTF-8 byte, no vocabulary.",
        choices=TOKENIZERS,
    )
    add(
        "vocabulary_size",
        "Word pieces in the learned vocabulary (wordpiece only).",
        type=int,
    )
    add("num_layers", "Encoder layers.", type=int)
    add("num_heads", "Attention heads per layer.", type=int)
    add("hidden_dim", "The encoder's width.", type=int)
    add("intermediate_dim", "The feed-forward networks' width.", type=int)
    add("sequence_length", "n, the longest input in tokens.", type=int)
    add(
        "projected_dim",
        "k, the length keys and values are projected to: one value, or one "
        "per layer separated by commas.",
        type=projected_dim,
    )
    add(
        "projection",
        "How keys and values are projected from n to k; 'linear' is the "
        "paper's learned matrix, the pooling kinds need n divisible by k.",
        choices=PROJECTIONS,
    )
    add(
        "sharing",
        "Which projections are shared: none (per head), headwise (per "
        "layer), key_value (keys and values alike), layerwise (one for the "
        "whole model).",
        choices=SHARING_MODES,
    )
    add("dropout", "Dropout rate, in [0, 1).", type=float)


def _add_training_arguments(parser, learning_rate, output_dir, epochs):
    group = parser.add_argument_group("training")
    group.add_argument(
        "--batch-size",
        type=int,
        default=32,
        help="Global batch size, split over the replicas.",
    )
    group.add_argument(
        "--epochs",
        type=int,
        default=epochs,
        help="Epochs, with a validation pass after each.",
    )
    group.add_argument(
        "--steps-per-epoch",
        type=int,
        default=None,
        help="Training steps per epoch (default: one pass over the "
        "training data).",
    )
    group.add_argument(
        "--learning-rate",
        type=float,
        default=learning_rate,
        help="AdamW's peak learning rate, decayed linearly to 0.",
    )
    group.add_argument(
        "--warmup-steps",
        type=int,
        default=0,
        help="Linear warmup from 0 over this many steps, then linear decay "
        "to 0 (default: 0, no warmup).",
    )
    _add_length_buckets_argument(group)
    group.add_argument(
        "--group-by-length",
        action="store_true",
        help="Batch training texts of similar length together (buckets of "
        "--length-buckets), so that a batch costs about its texts' length, "
        "not the longest of random texts (default: random batches).",
    )
    group.add_argument(
        "--output-dir",
        default=output_dir,
        help="Where checkpoints, preset/ and metrics.json are written.",
    )
    group.add_argument(
        "--seed",
        type=int,
        default=0,
        help="Seeds the weights, data order and masks.",
    )
    group.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="auto",
        help="auto: all local GPUs mirrored, else one device; multi_worker "
        "reads TF_CONFIG.",
    )
    group.add_argument(
        "--checkpoint-every",
        type=int,
        default=100,
        help="Checkpoint every N steps; a restart resumes from the latest.",
    )
    group.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="Keras' progress output: 0 silent, 1 progress bar, 2 one line "
        "per epoch.",
    )


def add_export_arguments(parser):
    """Adds the `export` arguments to an argparse (sub)parser; returns it."""
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
        "/v1/models/NAME:predict (required).",
    )
    parser.add_argument(
        "--base-dir",
        default="saved_models",
        help="Directory holding one subdirectory per model.",
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
        "instead of text (default: it takes text).",
    )
    parser.add_argument(
        "--no-warmup",
        dest="warmup",
        action="store_false",
        help="Do not write assets.extra/tf_serving_warmup_requests "
        "(default: write them).",
    )
    return parser


def build_parser():
    """The `keras-linformer` argument parser (standard library only)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Linformer (linear-complexity attention) for Keras.",
        epilog="TensorFlow's C++ log lines are hidden unless "
        "TF_CPP_MIN_LOG_LEVEL is set (e.g. TF_CPP_MIN_LOG_LEVEL=0).",
        formatter_class=_HelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    pretrain = _add_parser(
        commands,
        "pretrain",
        help="Pretrain a masked language model on text files.",
        description="Pretrain a masked language model: consecutive lines "
        "joined into samples of about n tokens, a WordPiece vocabulary "
        "learned from them (or --tokenizer byte). With no files, uses the "
        "built-in Tiny Shakespeare corpus and a small configuration that "
        "trains in a few minutes on a CPU.",
    )
    pretrain.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="Plain text files (default: the built-in corpus).",
    )
    pretrain.add_argument(
        "--validation-files",
        nargs="*",
        default=None,
        metavar="FILE",
        help="Plain text files to validate on (default: the last 10%% of "
        "the lines of FILEs).",
    )
    pretrain.add_argument(
        "--mask-rate",
        type=float,
        default=0.15,
        help="Share of the tokens masked, in (0, 1).",
    )
    _add_model_arguments(pretrain)
    _add_training_arguments(pretrain, 1e-3, "runs/pretrain", epochs=10)
    pretrain.set_defaults(run=_run_pretrain)

    finetune = _add_parser(
        commands,
        "finetune",
        help="Train a text classifier on JSONL or TSV files.",
        description="Fine-tune a text classifier from a pretrained preset, "
        "or train one from scratch. JSONL lines hold 'text' and 'label'; "
        "TSV files have 'sentence' and 'label' columns. Labels are "
        "integers from 0; every label of both files is checked before "
        "training.",
    )
    finetune.add_argument(
        "--train",
        required=True,
        metavar="FILE",
        help="Training examples, JSONL or TSV (required).",
    )
    finetune.add_argument(
        "--validation",
        required=True,
        metavar="FILE",
        help="Validation examples, JSONL or TSV (required).",
    )
    finetune.add_argument(
        "--preset",
        default=None,
        metavar="DIR",
        help="A preset directory saved by pretrain (default: a new model).",
    )
    finetune.add_argument(
        "--num-classes",
        type=int,
        default=None,
        metavar="N",
        help="Number of classes (default: the largest label + 1; refused "
        "for labels of one value or a stray large label).",
    )
    finetune.add_argument(
        "--pooling",
        choices=POOLINGS,
        default="cls",
        help="What the classifier's head reads: the [CLS] position, or the "
        "mean over the text's positions (padding left out).",
    )
    _add_model_arguments(finetune, for_preset=True)
    _add_training_arguments(finetune, 1e-4, "runs/finetune", epochs=1)
    finetune.set_defaults(run=_run_finetune)

    evaluate = _add_parser(
        commands,
        "evaluate",
        help="Masked-LM perplexity on text, or accuracy on labeled data.",
        description="Score a task preset saved by pretrain or finetune: "
        "a masked LM's loss and perplexity on plain text (or the texts of "
        "a JSONL / TSV file), a classifier's accuracy on labeled JSONL or "
        "TSV.",
    )
    evaluate.add_argument("preset", help="A task preset directory.")
    evaluate.add_argument("data", help="A text file, or a JSONL/TSV file.")
    evaluate.add_argument(
        "--json",
        default=None,
        help="Also write the metrics as JSON to this file (default: "
        "print only).",
    )
    evaluate.add_argument(
        "--batch-size",
        type=int,
        default=32,
        help="Examples per batch.",
    )
    evaluate.add_argument(
        "--seed",
        type=int,
        default=0,
        help="Seeds the masked LM's masks.",
    )
    _add_length_buckets_argument(evaluate)
    evaluate.set_defaults(run=_run_evaluate)

    export = _add_parser(
        commands,
        "export",
        help="Export a preset as a SavedModel for TF Serving.",
    )
    add_export_arguments(export)
    export.set_defaults(run=run_export_command)
    return parser


# === The subcommands: keras_linformer is imported only here ===


@contextlib.contextmanager
def _quiet_native_logs():
    """Hides TensorFlow's C++ log lines unless `TF_CPP_MIN_LOG_LEVEL` is
    set: level 3 (`failed call to cuInit` is an error line), and the native
    stderr held while the package imports (lines printed before TensorFlow's
    logging starts ignore the level), shown only if the import fails."""
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        yield
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if "tensorflow" in sys.modules:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            os.write(2, held.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _import_keras_linformer():
    with _quiet_native_logs():
        import keras_linformer.training

    return keras_linformer.training


# The flags of `_add_training_arguments`: keyword arguments of the recipes.
TRAINING_ARGUMENTS = (
    "batch_size epochs steps_per_epoch learning_rate warmup_steps "
    "length_buckets group_by_length output_dir seed strategy "
    "checkpoint_every verbose"
).split()


def _training_kwargs(args):
    return {name: getattr(args, name) for name in TRAINING_ARGUMENTS}


def _model_kwargs(args):
    return {name: getattr(args, name) for name in MODEL_DEFAULTS}


def _run_pretrain(args):
    training = _import_keras_linformer()
    training.pretrain(
        args.files,
        validation_files=args.validation_files,
        model=training.ModelConfig(**_model_kwargs(args)),
        mask_rate=args.mask_rate,
        **_training_kwargs(args),
    )


def _run_finetune(args):
    model = _model_kwargs(args)
    given = [name for name in PRESET_FIXED if model[name] is not None]
    if args.preset is not None and given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise ValueError(
            f"{flags}: the preset's backbone and tokenizer fix these; "
            "drop them to fine-tune the preset, or drop --preset to "
            "train a new model."
        )
    training = _import_keras_linformer()
    if args.preset is not None:
        kwargs = dict(preset=args.preset, sequence_length=args.sequence_length)
    else:
        model = {
            name: MODEL_DEFAULTS[name] if value is None else value
            for name, value in model.items()
        }
        kwargs = dict(model=training.ModelConfig(**model))
    training.finetune(
        args.train,
        args.validation,
        num_classes=args.num_classes,
        dropout=args.dropout,
        pooling=args.pooling,
        **kwargs,
        **_training_kwargs(args),
    )


def _run_evaluate(args):
    training = _import_keras_linformer()
    training.evaluate(
        args.preset,
        args.data,
        batch_size=args.batch_size,
        seed=args.seed,
        length_buckets=args.length_buckets,
        json_file=args.json,
    )


def run_export_command(args):
    """Runs `keras-linformer export` from parsed arguments; returns the
    path of the new version directory (also printed)."""
    with _quiet_native_logs():
        from keras_linformer.export.saved_model import export_for_serving
        from keras_linformer.export.versioning import check_export_target
        from keras_linformer.models.presets import load_preset
    try:
        # What can be refused is refused before the (slow) loading.
        check_export_target(args.base_dir, args.name, args.version)
        model = load_preset(args.preset)
        path = export_for_serving(
            model,
            base_dir=args.base_dir,
            name=args.name,
            version=args.version,
            include_preprocessing=args.include_preprocessing,
            warmup=args.warmup,
        )
    except FileExistsError as e:
        raise ValueError(str(e)) from e  # a usage error, not a crash
    print(f"Exported {type(model).__name__} to {path}")
    return path


def main(argv=None):
    """Runs `keras-linformer ARGS`; returns the exit code (2 for a usage
    error, which is printed to stderr)."""
    args = build_parser().parse_args(argv)
    try:
        code = args.run(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"{PROG} {args.command}: error: {e}", file=sys.stderr)
        return 2
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
