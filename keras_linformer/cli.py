"""`keras-linformer`: pretrain, fine-tune, evaluate, export and benchmark.

    keras-linformer pretrain                      # built-in corpus, small model
    keras-linformer pretrain a.txt b.txt --output-dir runs/mlm
    keras-linformer finetune --train train.jsonl --validation dev.jsonl \\
        --preset runs/mlm/preset --output-dir runs/clf
    keras-linformer evaluate runs/clf/preset dev.jsonl --json eval.json
    keras-linformer export runs/clf/preset --name sentiment
    keras-linformer bench --num-layers 1          # the paper's Table 3 grid
"""

import argparse
import sys

from keras_linformer.bench.cli import add_bench_arguments
from keras_linformer.export import add_export_arguments
from keras_linformer.initializers import PROJECTION_INITIALIZERS
from keras_linformer.layers.linformer_attention import SHARING_MODES
from keras_linformer.layers.sequence_projection import DEFAULT_PROJECTION
from keras_linformer.layers.sequence_projection import PROJECTIONS
from keras_linformer.length_buckets import DEFAULT_LENGTH_BUCKETS
from keras_linformer.training.strategy import STRATEGIES


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= 0, received {text!r}"
        )
    return value


def _add_length_buckets_argument(group):
    group.add_argument(
        "--length-buckets",
        type=int,
        default=DEFAULT_LENGTH_BUCKETS,
        help="Pad each batch to the smallest multiple of n / B that holds "
        "its longest text, instead of to n: the same results, at the cost "
        "of the real lengths; 1 pads every batch to n (default: "
        "%(default)s).",
    )


def _add_model_arguments(parser, sequence_length):
    group = parser.add_argument_group("model")
    group.add_argument(
        "--attention",
        choices=("linformer", "standard"),
        default="linformer",
        help="Linformer, or a same-size standard Transformer (keras_hub "
        "RobertaBackbone) for comparison.",
    )
    group.add_argument("--num-layers", type=int, default=2)
    group.add_argument("--num-heads", type=int, default=4)
    group.add_argument("--hidden-dim", type=int, default=128)
    group.add_argument("--intermediate-dim", type=int, default=512)
    group.add_argument(
        "--sequence-length",
        type=int,
        default=sequence_length,
        help="n, the longest input (default: %(default)s).",
    )
    group.add_argument(
        "--projected-dim",
        default="32",
        help="k: one value, or one per layer separated by commas "
        "(default: %(default)s).",
    )
    group.add_argument(
        "--projection",
        choices=PROJECTIONS,
        default=DEFAULT_PROJECTION,
        help="How keys and values are projected from n to k (default: "
        "%(default)s, pooling that keeps its accuracy on padded "
        "documents and needs n divisible by k; 'linear' is the paper's).",
    )
    group.add_argument(
        "--projection-initializer",
        choices=sorted(PROJECTION_INITIALIZERS),
        default="default",
        help="Initial E and F (default: the projection's own; 'window_mean' "
        "starts the 'linear' E as mean pooling over windows of n/k).",
    )
    group.add_argument(
        "--tokenizer",
        choices=("wordpiece", "byte"),
        default="wordpiece",
        help="wordpiece: a vocabulary learned from the training text; "
        "byte: one token a UTF-8 byte, no vocabulary (default: "
        "%(default)s; with --preset, the preset's own).",
    )
    group.add_argument("--sharing", choices=SHARING_MODES, default="headwise")
    group.add_argument("--dropout", type=float, default=0.1)
    group.add_argument("--vocabulary-size", type=int, default=5000)


def _add_training_arguments(
    parser, batch_size, learning_rate, output_dir, epochs=1
):
    group = parser.add_argument_group("training")
    group.add_argument("--batch-size", type=int, default=batch_size)
    group.add_argument("--epochs", type=int, default=epochs)
    group.add_argument(
        "--steps-per-epoch",
        type=int,
        default=None,
        help="Default: one pass over the training data.",
    )
    group.add_argument("--learning-rate", type=float, default=learning_rate)
    group.add_argument(
        "--warmup-steps",
        type=_non_negative_int,
        default=0,
        help="Linear warmup from 0 over this many steps, then linear decay "
        "to 0 (default: no warmup).",
    )
    _add_length_buckets_argument(group)
    group.add_argument(
        "--group-by-length",
        action="store_true",
        help="Batch training texts of similar length together (buckets of "
        "--length-buckets), so that a batch costs about its texts' length, "
        "not the longest of random texts (default: random batches).",
    )
    group.add_argument("--output-dir", default=output_dir)
    group.add_argument("--seed", type=int, default=0)
    group.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="auto",
        help="auto: all local GPUs mirrored, else one device.",
    )
    group.add_argument(
        "--checkpoint-every",
        type=int,
        default=100,
        help="Checkpoint every N steps; a restart resumes from the latest.",
    )
    group.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-linformer",
        description="Linformer (linear-complexity attention) for Keras.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    pretrain = commands.add_parser(
        "pretrain",
        help="Learn a vocabulary and pretrain a masked LM on text files.",
        description="Learn a WordPiece vocabulary and pretrain a masked "
        "language model. With no files, uses the built-in Tiny Shakespeare "
        "corpus and a small configuration that trains in a few minutes on "
        "a CPU.",
    )
    pretrain.add_argument("files", nargs="*", help="Plain text files.")
    pretrain.add_argument(
        "--validation-files",
        nargs="*",
        default=None,
        help="Default: the last 10%% of the lines of FILES.",
    )
    pretrain.add_argument("--mask-rate", type=float, default=0.15)
    pretrain.add_argument(
        "--samples",
        choices=("blocks", "documents"),
        default="blocks",
        help="blocks: consecutive lines joined into samples of about n "
        "positions; documents: each line is one sample (a document per "
        "line), so training lengths match fine-tuning's (default: "
        "%(default)s). Validation always uses blocks.",
    )
    _add_model_arguments(pretrain, sequence_length=128)
    _add_training_arguments(pretrain, 32, 1e-3, "runs/pretrain", epochs=10)
    pretrain.set_defaults(
        steps_per_epoch=None,
        handler="keras_linformer.training.recipes:pretrain",
    )

    finetune = commands.add_parser(
        "finetune",
        help="Train a text classifier on JSONL or TSV files.",
        description="Fine-tune a text classifier from a pretrained preset, "
        "or train one from scratch. JSONL lines hold 'text' and 'label'; "
        "TSV files have 'sentence' and 'label' columns.",
    )
    finetune.add_argument("--train", required=True)
    finetune.add_argument("--validation", required=True)
    finetune.add_argument(
        "--preset",
        default=None,
        help="A preset directory saved by pretrain (default: from scratch).",
    )
    finetune.add_argument("--num-classes", type=int, default=None)
    _add_model_arguments(finetune, sequence_length=128)
    _add_training_arguments(finetune, 32, 1e-4, "runs/finetune")
    finetune.set_defaults(handler="keras_linformer.training.recipes:finetune")

    evaluate = commands.add_parser(
        "evaluate",
        help="Masked-LM perplexity on text, or accuracy on labeled data.",
    )
    evaluate.add_argument("preset", help="A task preset directory.")
    evaluate.add_argument("data", help="A text file, or a JSONL/TSV file.")
    evaluate.add_argument("--json", default=None, help="Also write JSON here.")
    evaluate.add_argument("--batch-size", type=int, default=32)
    evaluate.add_argument("--seed", type=int, default=0)
    _add_length_buckets_argument(evaluate)
    evaluate.set_defaults(handler="keras_linformer.training.recipes:evaluate")

    add_export_arguments(
        commands.add_parser(
            "export", help="Export a preset as a SavedModel for TF Serving."
        )
    )

    bench = commands.add_parser(
        "bench",
        help="Time and memory of Linformer vs standard attention, next to "
        "the paper's Table 3.",
    )
    add_bench_arguments(bench)
    bench.set_defaults(handler="keras_linformer.bench.cli:run_bench_command")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    module_name, function_name = args.handler.split(":")
    # Import TensorFlow and the models only once the arguments are valid,
    # so that `--help` and usage errors are instant.
    import importlib

    handler = getattr(importlib.import_module(module_name), function_name)
    try:
        code = handler(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"keras-linformer {args.command}: error: {e}", file=sys.stderr)
        return 2
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
