"""The `keras-linformer` command line: its parser, the checks it makes
before any work, and (slow tier) end-to-end runs on tiny configurations."""

import argparse
import inspect
import json
import math
import os
import subprocess
import sys

import pytest

import keras_linformer_cli as cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY_MODEL = [
    "--num-layers=1",
    "--num-heads=2",
    "--hidden-dim=16",
    "--intermediate-dim=32",
    "--sequence-length=32",
    "--projected-dim=8",
    "--vocabulary-size=200",
    "--batch-size=4",
    "--epochs=1",
    "--steps-per-epoch=4",
    "--checkpoint-every=2",
    "--verbose=0",
]

TEXT = (
    "The quick brown fox jumps over the lazy dog near the river bank.\n"
    "A king and a queen walked to the castle where the knights were waiting.\n"
    "Rain fell on the fields while the farmers gathered the last of the wheat.\n"
) * 40


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT)
    return str(path)


def _labeled(tmp_path, name, n=24, labels=None):
    rows = []
    for i in range(n):
        label = labels[i % len(labels)] if labels else i % 2
        word = "wonderful great lovely" if label else "awful terrible boring"
        rows.append(
            json.dumps({"text": f"a {word} film number {i}", "label": label})
        )
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def _subprocess_env():
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    return env


# === The parser: standard library only, every flag checked and documented ===


def test_help_imports_no_tensorflow():
    """`keras-linformer --help` and `keras-linformer pretrain --help` run
    without importing TensorFlow, Keras, keras_hub or the package (whose
    `__init__` imports them)."""
    script = (
        "import sys, contextlib, io\n"
        "import keras_linformer_cli\n"
        "for argv in ([], ['--help'], ['pretrain', '--help'],"
        " ['finetune', '--help'], ['evaluate', '--help'],"
        " ['export', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), "
        "contextlib.redirect_stderr(io.StringIO()):\n"
        "        try:\n"
        "            keras_linformer_cli.main(argv)\n"
        "        except SystemExit:\n"
        "            pass\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {"
        "'tensorflow', 'keras', 'keras_hub', 'keras_linformer', 'numpy'})\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=_subprocess_env(),
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout, result.stdout


@pytest.mark.parametrize(
    "command", ["pretrain", "finetune", "evaluate", "export"]
)
def test_help_lists_the_options(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: keras-linformer " + command in out
    if command in ("pretrain", "finetune"):
        for option in ("--projected-dim", "--sharing", "--strategy", "--seed"):
            assert option in out
        assert "{linear,mean,max,sliding_max,conv}" in out
        assert "--projection-initializer" not in out
        assert "--samples" not in out


def _subparsers(parser):
    (action,) = [
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    ]
    return action.choices


def test_every_flag_has_help_that_shows_its_default():
    parser = cli.build_parser()
    formatter = cli._HelpFormatter(cli.PROG)
    assert set(_subparsers(parser)) == {
        "pretrain",
        "finetune",
        "evaluate",
        "export",
    }
    for name, subparser in _subparsers(parser).items():
        for action in subparser._actions:
            if not action.option_strings or action.dest == "help":
                continue
            text = formatter._get_help_string(action)
            assert text, (name, action.option_strings)
            if action.required:
                assert "required" in text, (name, action.option_strings)
            else:
                assert "default" in text.lower(), (name, action.option_strings)
    help_text = " ".join(_subparsers(parser)["pretrain"].format_help().split())
    for shown in (
        "(default: 10)",  # --epochs
        "(default: 32)",  # --batch-size
        "(default: 0.001)",  # --learning-rate
        "(default: runs/pretrain)",  # --output-dir
        "(default: 0.15)",  # --mask-rate
        "(default: sliding_max)",  # --projection
    ):
        assert shown in help_text, shown


def test_defaults_agree_with_the_recipes():
    """The flags show the defaults that `ModelConfig` and the recipes'
    signatures have (the parser cannot import them: see its docstring)."""
    import dataclasses

    from keras_linformer.training import recipes

    fields = {
        f.name: f.default for f in dataclasses.fields(recipes.ModelConfig)
    }
    assert cli.MODEL_DEFAULTS == fields
    subparsers = _subparsers(cli.build_parser())
    for command, function in (
        ("pretrain", recipes.pretrain),
        ("finetune", recipes.finetune),
        ("evaluate", recipes.evaluate),
    ):
        defaults = {
            a.dest: a.default
            for a in subparsers[command]._actions
            if a.option_strings
        }
        signature = {
            name: parameter
            for name, parameter in inspect.signature(
                function
            ).parameters.items()
            if parameter.default is not inspect.Parameter.empty
        }
        shared = set(defaults) & set(signature) - {"sequence_length", "dropout"}
        assert shared, command
        for name in shared:
            assert defaults[name] == signature[name].default, (command, name)
        if command == "pretrain":
            for name, value in cli.MODEL_DEFAULTS.items():
                assert defaults[name] == value, name


BAD_FLAGS = [
    ("--learning-rate", "nan", "`learning_rate` must be a number in (0, inf)"),
    ("--learning-rate", "inf", "`learning_rate` must be a number in (0, inf)"),
    ("--learning-rate", "0", "`learning_rate` must be a number in (0, inf)"),
    ("--learning-rate", "-1e-3", "`learning_rate` must be a number in (0, "),
    ("--mask-rate", "0", "`mask_rate` must be a number in (0, 1)"),
    ("--mask-rate", "1", "`mask_rate` must be a number in (0, 1)"),
    ("--mask-rate", "nan", "`mask_rate` must be a number in (0, 1)"),
    ("--epochs", "0", "`epochs` must be an integer >= 1"),
    ("--batch-size", "0", "`batch_size` must be an integer >= 1"),
    ("--steps-per-epoch", "0", "`steps_per_epoch` must be an integer >= 1"),
    ("--checkpoint-every", "0", "`checkpoint_every` must be an integer >= 1"),
    ("--dropout", "1", "`dropout` must be a number in [0, 1)"),
    ("--dropout", "-0.1", "`dropout` must be a number in [0, 1)"),
    ("--sequence-length", "0", "`sequence_length` must be an integer >= 1"),
    ("--projected-dim", "0", "`projected_dim` must be a positive integer"),
    ("--projected-dim", "8,0", "`projected_dim` must be a positive integer"),
    ("--length-buckets", "0", "`length_buckets` must be an integer >= 1"),
    ("--vocabulary-size", "0", "`vocabulary_size` must be an integer >= 1"),
    ("--warmup-steps", "-3", "`warmup_steps` must be an integer >= 0"),
    ("--seed", "-1", "`seed` must be an integer >= 0"),
]


@pytest.mark.parametrize("flag, value, message", BAD_FLAGS)
def test_bad_numbers_are_refused_before_any_work(
    flag, value, message, tmp_path, capsys, no_vocabulary
):
    """The recipes' checks, printed as usage errors before data is read."""
    out = tmp_path / "run"
    code = cli.main(
        ["pretrain", str(tmp_path / "missing.txt"), f"--output-dir={out}"]
        + [f"{flag}={value}"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-linformer pretrain: error: "), err
    assert message in err
    assert not out.exists()


@pytest.mark.parametrize("value", ["eight", "8,", "1.5"])
def test_non_numbers_are_refused_by_the_parser(value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["pretrain", f"--projected-dim={value}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "keras-linformer pretrain: error: argument --projected-dim" in err


def test_one_class_is_refused_before_reading_data(tmp_path, capsys):
    code = cli.main(
        ["finetune", "--train=a.jsonl", "--validation=b.jsonl"]
        + ["--num-classes=1", f"--output-dir={tmp_path / 'clf'}"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "`num_classes` must be an integer >= 2" in err


# === Checks before any work (the package is imported, nothing trained) ===


@pytest.fixture
def no_vocabulary(monkeypatch):
    """Fails the test if a vocabulary is learned (work started)."""
    from keras_linformer.training import recipes

    def refuse(*args, **kwargs):
        raise AssertionError("learned a vocabulary before refusing")

    monkeypatch.setattr(recipes, "learn_vocabulary", refuse)


def _tiny_without(*prefixes):
    return [a for a in TINY_MODEL if not a.startswith(prefixes)]


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--sequence-length=128", "--projected-dim=256"],
            "`projected_dim` (k) must not exceed `sequence_length` (n)",
        ),
        (
            ["--sequence-length=100", "--projected-dim=32"],
            "must be divisible by `projected_dim`",
        ),
        (
            ["--num-layers=1", "--projected-dim=8,4,2"],
            "one k per layer: expected 1 values",
        ),
        (
            ["--num-layers=2", "--projected-dim=8,4", "--sharing=layerwise"],
            "cannot be used with `sharing='layerwise'`",
        ),
        (
            ["--num-heads=32", "--hidden-dim=16"],
            "`num_heads` (32) must not exceed `hidden_dim` (16)",
        ),
        (
            ["--sequence-length=32", "--length-buckets=64"],
            "`length_buckets` must be an integer from 1",
        ),
    ],
)
def test_model_conflicts_are_refused_before_any_work(
    flags, message, tmp_path, text_file, capsys, no_vocabulary
):
    output_dir = tmp_path / "run"
    args = _tiny_without(
        "--projected-dim", "--sequence-length", "--num-layers", "--num-heads"
    )
    args = [a for a in args if not a.startswith("--hidden-dim")]
    code = cli.main(
        ["pretrain", text_file, f"--output-dir={output_dir}"] + args + flags
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-linformer pretrain: error: "), err
    assert message in err
    assert not output_dir.exists()


def test_finetune_model_conflict_is_refused_before_reading_data(
    tmp_path, capsys
):
    code = cli.main(
        [
            "finetune",
            f"--train={tmp_path / 'missing.jsonl'}",
            f"--validation={tmp_path / 'missing.jsonl'}",
            "--sequence-length=128",
            "--projected-dim=256",
            f"--output-dir={tmp_path / 'clf'}",
        ]
    )
    assert code == 2
    assert "must not exceed `sequence_length`" in capsys.readouterr().err


def _finetune(tmp_path, train, validation, *extra):
    output_dir = tmp_path / "clf"
    code = cli.main(
        [
            "finetune",
            f"--train={train}",
            f"--validation={validation}",
            f"--output-dir={output_dir}",
        ]
        + TINY_MODEL
        + list(extra)
    )
    return code, output_dir


def test_labels_of_one_value_are_refused(tmp_path, capsys, no_vocabulary):
    """Training labels all 0 inferred num_classes=1 and reported accuracy
    1.0; now refused, naming the labels and --num-classes."""
    train = _labeled(tmp_path, "train.jsonl", labels=[0])
    dev = _labeled(tmp_path, "dev.jsonl", n=4, labels=[0])
    code, output_dir = _finetune(tmp_path, train, dev)
    assert code == 2
    err = capsys.readouterr().err
    assert "hold only the value 0" in err and "--num-classes" in err
    assert train in err
    assert not output_dir.exists()


def test_a_stray_large_label_is_refused(tmp_path, capsys, no_vocabulary):
    """One label 3,000,000 among 0/1 built a 3,000,001-way head."""
    train = _labeled(tmp_path, "train.jsonl", labels=[0, 1, 1, 3_000_000])
    dev = _labeled(tmp_path, "dev.jsonl", n=4)
    code, output_dir = _finetune(tmp_path, train, dev)
    assert code == 2
    err = capsys.readouterr().err
    assert "num_classes=3000001" in err and "--num-classes 3000001" in err
    assert "3 distinct values" in err
    assert not output_dir.exists()


def test_many_real_classes_are_inferred(tmp_path):
    from keras_linformer.training.recipes import infer_num_classes

    labels = list(range(40))
    assert infer_num_classes({"t": labels, "v": [0, 39]}) == 40
    # A few classes missing from the data is not a stray label.
    assert infer_num_classes({"t": [0, 1, 5], "v": [2]}) == 6


def test_bad_validation_label_is_refused_before_training(
    tmp_path, capsys, no_vocabulary
):
    """A validation label out of range was found only after training."""
    train = _labeled(tmp_path, "train.jsonl")
    dev = tmp_path / "dev.jsonl"
    dev.write_text(
        '{"text": "good", "label": 1}\n\n{"text": "bad", "label": 2}\n'
    )
    code, output_dir = _finetune(tmp_path, train, dev, "--num-classes=2")
    assert code == 2
    err = capsys.readouterr().err
    assert f"{dev}, line 3: label 2 is out of range" in err
    assert not output_dir.exists()


def test_missing_preset_directory_is_named(tmp_path, capsys):
    train = _labeled(tmp_path, "train.jsonl")
    missing = tmp_path / "no-such-preset"
    code = cli.main(
        [
            "finetune",
            f"--train={train}",
            f"--validation={train}",
            f"--preset={missing}",
            f"--output-dir={tmp_path / 'clf'}",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert f"Preset directory not found: {missing}" in err
    assert "Unknown preset identifier" not in err


def test_export_of_a_missing_preset_is_named(tmp_path, capsys):
    missing = tmp_path / "no-such-preset"
    code = cli.main(
        ["export", str(missing), "--name=m", f"--base-dir={tmp_path / 'out'}"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err == (
        f"keras-linformer export: error: Preset directory not found: {missing}\n"
    )
    assert not (tmp_path / "out").exists()


def test_flags_a_preset_fixes_are_refused_with_it(tmp_path, capsys):
    train = _labeled(tmp_path, "train.jsonl")
    code = cli.main(
        [
            "finetune",
            f"--train={train}",
            f"--validation={train}",
            f"--preset={tmp_path}",
            "--num-layers=3",
            "--projection=max",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "--num-layers, --projection: the preset's backbone" in err


def test_missing_file_is_a_clear_error_and_writes_nothing(tmp_path, capsys):
    output_dir = tmp_path / "run"
    missing = tmp_path / "nope.txt"
    code = cli.main(
        ["pretrain", str(missing), f"--output-dir={output_dir}"] + TINY_MODEL
    )
    assert code == 2
    assert str(missing) in capsys.readouterr().err
    assert not output_dir.exists()


def test_empty_text_file_is_refused(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    code = cli.main(
        ["pretrain", str(empty), f"--output-dir={tmp_path / 'run'}"]
        + TINY_MODEL
    )
    assert code == 2
    assert "empty" in capsys.readouterr().err


def test_jsonl_line_without_label_is_refused(tmp_path, capsys):
    train = tmp_path / "train.jsonl"
    train.write_text(
        '{"text": "good", "label": 1}\n{"text": "no label here"}\n'
    )
    dev = _labeled(tmp_path, "dev.jsonl", n=4)
    code, output_dir = _finetune(tmp_path, train, dev)
    assert code == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "label" in err
    assert not output_dir.exists()


def test_warmup_as_long_as_training_is_refused(tmp_path, text_file, capsys):
    output_dir = tmp_path / "run"
    code = cli.main(
        ["pretrain", text_file, f"--output-dir={output_dir}"]
        + TINY_MODEL
        + ["--warmup-steps=4"]
    )
    assert code == 2
    assert "`warmup_steps` (4) must be smaller" in capsys.readouterr().err
    assert not output_dir.exists()


def test_metrics_are_standard_json():
    """A diverged run's NaN loss is written as null, not a bare NaN."""
    from keras_linformer.training.recipes import metrics_json

    text = metrics_json(
        {"loss": float("nan"), "perplexity": float("inf"), "steps": 4}
    )
    assert "NaN" not in text and "Infinity" not in text

    def strict(constant):
        raise ValueError(constant)

    assert json.loads(text, parse_constant=strict) == {
        "loss": None,
        "perplexity": None,
        "steps": 4,
    }


def test_model_config_is_checked_and_builds_the_backbone():
    from keras_linformer.models import LinformerBackbone
    from keras_linformer.training import ModelConfig

    config = ModelConfig(
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        sequence_length=32,
        projected_dim=[8, 4],
        projection="linear",
    )
    assert config.projected_dim == (8, 4)
    backbone = config.build_backbone(vocabulary_size=50)
    assert isinstance(backbone, LinformerBackbone)
    assert backbone.projected_dim == [8, 4]
    assert backbone.projection == "linear"
    with pytest.raises(ValueError, match="Unknown `projection`: 'softmax'"):
        ModelConfig(projection="softmax")
    with pytest.raises(ValueError, match="Unknown `tokenizer`"):
        ModelConfig(tokenizer="bpe")
    with pytest.raises(ValueError, match=r"`dropout` must be a number in \[0"):
        ModelConfig(dropout=1.0)
    # The standard Transformer has no projection to check.
    ModelConfig(attention="standard", sequence_length=16, projected_dim=64)


def test_recipe_arguments_are_checked(tmp_path):
    from keras_linformer.training import ModelConfig
    from keras_linformer.training import finetune
    from keras_linformer.training import pretrain

    with pytest.raises(ValueError, match="`learning_rate` must be a number"):
        pretrain(learning_rate=float("nan"), output_dir=str(tmp_path / "a"))
    with pytest.raises(ValueError, match="`mask_rate` must be a number"):
        pretrain(mask_rate=1.5, output_dir=str(tmp_path / "a"))
    with pytest.raises(ValueError, match="`epochs` must be an integer >= 1"):
        pretrain(epochs=0, output_dir=str(tmp_path / "a"))
    with pytest.raises(ValueError, match="not both"):
        finetune("a", "b", preset="p", model=ModelConfig())
    with pytest.raises(ValueError, match="`num_classes` must be an integer"):
        finetune("a", "b", num_classes=1)
    with pytest.raises(ValueError, match=r"Unknown pooling 'max'.*'mean'"):
        finetune("a", "b", pooling="max")
    assert not (tmp_path / "a").exists()


def test_recipes_docstring_examples():
    import doctest

    from keras_linformer.training import recipes

    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for obj in (recipes.ModelConfig, recipes.metrics_json):
        for test in finder.find(obj, globs=vars(recipes)):
            runner.run(test)
    assert runner.tries >= 3 and runner.failures == 0


def _tiny_masked_lm_preset(path):
    from keras_linformer.models import SPECIAL_TOKENS
    from keras_linformer.models import LinformerBackbone
    from keras_linformer.models import LinformerMaskedLM
    from keras_linformer.models import LinformerMaskedLMPreprocessor
    from keras_linformer.models import LinformerTokenizer

    words = "a film good bad great awful number the".split()
    tokenizer = LinformerTokenizer(vocabulary=list(SPECIAL_TOKENS) + words)
    backbone = LinformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=16,
        projected_dim=4,
    )
    preprocessor = LinformerMaskedLMPreprocessor(
        tokenizer, sequence_length=16, mask_selection_length=4
    )
    LinformerMaskedLM(backbone, preprocessor=preprocessor).save_to_preset(
        str(path)
    )


def test_masked_lm_evaluation_reads_the_texts_of_labeled_files(tmp_path):
    """`evaluate` scores a masked LM on the `text` fields of JSONL and the
    `sentence` column of TSV, not on their raw lines."""
    from keras_linformer.training import recipes

    jsonl = _labeled(tmp_path, "dev.jsonl", n=3)
    texts = [json.loads(line)["text"] for line in open(jsonl)]
    assert recipes._evaluation_texts(jsonl) == texts
    tsv = tmp_path / "dev.tsv"
    tsv.write_text("sentence\tlabel\n" + "".join(f"{t}\t0\n" for t in texts))
    assert recipes._evaluation_texts(str(tsv)) == texts
    plain = tmp_path / "dev.txt"
    plain.write_text("".join(t + "\n" for t in texts))
    assert recipes._evaluation_texts(str(plain)) == texts


@pytest.mark.slow
def test_evaluate_masked_lm_on_jsonl_scores_its_texts(tmp_path):
    from keras_linformer.training import evaluate

    preset = tmp_path / "mlm"
    _tiny_masked_lm_preset(preset)
    jsonl = _labeled(tmp_path, "dev.jsonl", n=8)
    texts = tmp_path / "dev.txt"
    texts.write_text(
        "".join(json.loads(line)["text"] + "\n" for line in open(jsonl))
    )
    from_jsonl = evaluate(str(preset), jsonl, batch_size=4)
    from_text = evaluate(str(preset), str(texts), batch_size=4)
    assert from_jsonl == pytest.approx(from_text)
    # The raw JSON lines give other figures.
    raw = tmp_path / "raw.txt"
    raw.write_text(open(jsonl).read())
    assert evaluate(str(preset), str(raw), batch_size=4) != pytest.approx(
        from_text
    )


# === End to end (slow tier) ===


@pytest.mark.slow
def test_pretrain_then_evaluate(tmp_path, text_file, capsys):
    output_dir = tmp_path / "run"
    code = cli.main(
        ["pretrain", text_file, f"--output-dir={output_dir}"] + TINY_MODEL
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "Validation loss" in out and "perplexity" in out
    metrics = json.loads((output_dir / "metrics.json").read_text())
    assert math.isfinite(metrics["validation_perplexity"])
    assert metrics["validation_perplexity"] > 1
    assert metrics["steps"] == 4
    assert (output_dir / "preset" / "task.json").exists()
    assert not [p for p in os.listdir(output_dir) if p.startswith(".tmp")]

    eval_json = tmp_path / "eval.json"
    code = cli.main(
        [
            "evaluate",
            str(output_dir / "preset"),
            text_file,
            f"--json={eval_json}",
        ]
    )
    assert code == 0
    evaluation = json.loads(eval_json.read_text())
    assert math.isfinite(evaluation["validation_perplexity"])
    assert evaluation["validation_perplexity"] > 1


@pytest.mark.slow
def test_finetune_from_scratch_then_evaluate(tmp_path):
    train = _labeled(tmp_path, "train.jsonl")
    dev = _labeled(tmp_path, "dev.jsonl", n=8)
    code, output_dir = _finetune(tmp_path, train, dev)
    assert code == 0
    metrics = json.loads((output_dir / "metrics.json").read_text())
    assert metrics["num_classes"] == 2
    eval_json = tmp_path / "eval.json"
    assert (
        cli.main(
            ["evaluate", str(output_dir / "preset"), dev, f"--json={eval_json}"]
        )
        == 0
    )
    evaluation = json.loads(eval_json.read_text())
    assert evaluation["examples"] == 8
    # The saved preset scores what training reported on the same data.
    assert evaluation["accuracy"] == pytest.approx(
        metrics["validation_accuracy"], abs=1e-6
    )


@pytest.mark.slow
def test_finetune_of_another_head_in_a_used_directory_is_refused(
    tmp_path, capsys
):
    """Both heads have the same weights, so the mean head would have
    resumed the `[CLS]` head's checkpoints and saved them as its own."""
    train = _labeled(tmp_path, "train.jsonl")
    dev = _labeled(tmp_path, "dev.jsonl", n=8)
    code, output_dir = _finetune(tmp_path, train, dev, "--pooling=cls")
    assert code == 0
    task_json = output_dir / "preset" / "task.json"
    saved = task_json.read_text()
    capsys.readouterr()
    code, _ = _finetune(tmp_path, train, dev, "--pooling=mean")
    assert code == 2
    error = capsys.readouterr().err
    assert "pooling: 'cls' there, 'mean' here" in error
    assert str(output_dir / "checkpoints") in error
    assert task_json.read_text() == saved
    assert json.loads(saved)["config"]["pooling"] == "cls"


@pytest.mark.slow
def test_byte_tokenizer_pretrain_then_finetune_grouped_by_length(tmp_path):
    """`--tokenizer byte` and `--group-by-length`: pretrain on bytes, then
    fine-tune that preset (which keeps its byte tokenizer)."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT)
    args = _tiny_without("--vocabulary-size", "--sequence-length")
    args += ["--sequence-length=64", "--group-by-length"]
    code = cli.main(
        [
            "pretrain",
            str(corpus),
            "--tokenizer=byte",
            f"--output-dir={tmp_path / 'mlm'}",
        ]
        + args
    )
    assert code == 0
    config = json.loads((tmp_path / "mlm/preset/tokenizer.json").read_text())
    assert config["class_name"] == "LinformerByteTokenizer"
    train = _labeled(tmp_path, "train.jsonl")
    code = cli.main(
        [
            "finetune",
            f"--train={train}",
            f"--validation={train}",
            f"--preset={tmp_path / 'mlm' / 'preset'}",
            f"--output-dir={tmp_path / 'clf'}",
            "--batch-size=4",
            "--steps-per-epoch=2",
            "--checkpoint-every=2",
            "--group-by-length",
            "--pooling=mean",
            "--verbose=0",
        ]
    )
    assert code == 0
    metrics = json.loads((tmp_path / "clf" / "metrics.json").read_text())
    assert metrics["num_classes"] == 2
    # The head's pooling travels in the preset, so evaluate (which loads
    # it) scores the model that was trained.
    task = json.loads((tmp_path / "clf/preset/task.json").read_text())
    assert task["config"]["pooling"] == "mean"
    eval_json = tmp_path / "eval.json"
    evaluate = ["evaluate", str(tmp_path / "clf/preset"), str(train)]
    assert cli.main(evaluate + [f"--json={eval_json}"]) == 0
    evaluation = json.loads(eval_json.read_text())
    assert evaluation["accuracy"] == pytest.approx(
        metrics["validation_accuracy"], abs=1e-6
    )


@pytest.mark.slow
def test_errors_print_no_tensorflow_log_lines(tmp_path):
    """A usage error that imports TensorFlow prints the one error line:
    no C++ log lines (`I0000 ... cudart_stub`, `E0000 ... cuInit`)."""
    env = _subprocess_env()
    env.pop("TF_CPP_MIN_LOG_LEVEL")
    missing = tmp_path / "missing.txt"
    result = subprocess.run(
        [sys.executable, "-m", "keras_linformer_cli", "pretrain", str(missing)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"keras-linformer pretrain: error: File not found: '{missing}'\n"
    )


@pytest.mark.slow
def test_import_registers_the_model_classes(tmp_path):
    """`import keras_linformer` alone lets `keras.saving.load_model` find
    LinformerBackbone (in a fresh process: nothing else imported)."""
    path = tmp_path / "backbone.keras"
    save = (
        "from keras_linformer.models import LinformerBackbone\n"
        "LinformerBackbone(vocabulary_size=20, num_layers=1, num_heads=2,"
        " hidden_dim=8, intermediate_dim=16, max_sequence_length=16,"
        f" projected_dim=4).save({str(path)!r})\n"
    )
    load = (
        "import keras, keras_linformer\n"
        f"model = keras.saving.load_model({str(path)!r})\n"
        "print(type(model).__name__)\n"
    )
    for script in (save, load):
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=300,
            env=_subprocess_env(),
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "LinformerBackbone"
