"""README.md's commands, run as written at a tiny size (the slow tier).

The `keras-linformer` commands of the bash blocks under "## Set up on a
fresh machine" and directly under "## Command line" (not those of its
subsections, which show options on the user's own files) are run in order
in a temporary directory, each with flags that make its model tiny. Every
step must leave what the README says it writes, and every path a step reads
under `runs/` must exist when it starts, so the commands chain as written.
Then the README's Python snippets that load the fine-tuned preset and build
the layer example are run in the same directory.

The data files the commands name (`train.jsonl`, `dev.jsonl`, ...) are the
user's; the test writes small ones.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPOSITORY, "README.md")
SECTIONS = ("## Set up on a fresh machine", "## Command line")
PROGRAM = "keras-linformer"
TIMEOUT_S = 1200

# Appended to each subcommand as README writes it (argparse keeps the last
# value of a repeated flag), so that every step takes seconds. A fine-tuning
# from a preset takes the preset's model, so it gets the training flags only.
TINY_MODEL = [
    "--num-layers=1",
    "--num-heads=2",
    "--hidden-dim=16",
    "--intermediate-dim=32",
    "--sequence-length=32",
    "--projected-dim=8",
    "--vocabulary-size=300",
]
TINY_TRAINING = [
    "--epochs=1",
    "--steps-per-epoch=2",
    "--batch-size=8",
    "--checkpoint-every=1000",
    "--verbose=2",
]
TINY = {
    "pretrain": TINY_MODEL + TINY_TRAINING,
    "finetune": TINY_MODEL + TINY_TRAINING,
    "evaluate": ["--batch-size=8"],
    "export": [],
}

POSITIVE = ["a fine film", "a moving and funny story", "great acting"]
NEGATIVE = ["a dull film", "a boring and silly plot", "poor acting"]


def tiny_flags(args):
    if args[0] == "finetune" and option(args, "--preset"):
        return TINY_TRAINING
    return TINY.get(args[0], [])


def section(text, heading):
    """The lines of `text` under `heading`, up to the next heading of any
    level (lines starting with '#' inside fenced blocks are not headings)."""
    lines, inside, fenced = [], False, False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            if inside:
                break
            inside = line.strip() == heading
            continue
        if inside:
            lines.append(line)
    if not inside:
        raise AssertionError(f"README.md has no heading {heading!r}")
    return "\n".join(lines)


def fenced_blocks(text, language):
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.M | re.S)


def commands_of(block):
    """The `keras-linformer` commands of a bash block, as argument lists:
    continuation lines joined, comments dropped, `&&` chains split."""
    joined = re.sub(r"\\\n", " ", block)
    commands = []
    for line in joined.splitlines():
        tokens = shlex.split(line, comments=True)
        command = []
        for token in tokens + ["&&"]:
            if token == "&&":
                if command and command[0] == PROGRAM:
                    commands.append(command[1:])
                command = []
            else:
                command.append(token)
    return commands


def readme_commands():
    with open(README, encoding="utf-8") as f:
        text = f.read()
    commands = []
    for heading in SECTIONS:
        for block in fenced_blocks(section(text, heading), "bash"):
            commands.extend(commands_of(block))
    return commands


def python_snippet(marker):
    with open(README, encoding="utf-8") as f:
        text = f.read()
    snippets = [s for s in fenced_blocks(text, "python") if marker in s]
    assert len(snippets) == 1, f"expected one python block with {marker!r}"
    return snippets[0]


def option(args, name, default=None):
    """The value of `--name VALUE` or `--name=VALUE` (the last one wins)."""
    value = default
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def outputs(args):
    """What a step writes, as README says: paths relative to the run's
    directory."""
    subcommand = args[0]
    if subcommand in ("pretrain", "finetune"):
        output_dir = option(args, "--output-dir", f"runs/{subcommand}")
        return [
            os.path.join(output_dir, "preset", "config.json"),
            os.path.join(output_dir, "metrics.json"),
        ]
    if subcommand == "evaluate":
        path = option(args, "--json")
        return [path] if path else []
    if subcommand == "export":
        base_dir = option(args, "--base-dir", "saved_models")
        return [os.path.join(base_dir, option(args, "--name"))]
    raise AssertionError(f"README runs an unknown subcommand {subcommand!r}")


def inputs(args):
    """The paths under runs/ that a step reads (everything under runs/
    but what it writes)."""
    written = {option(args, "--output-dir"), option(args, "--json")}
    return [
        arg
        for arg in args[1:]
        if arg.startswith("runs/") and arg not in written
    ]


def write_data(directory, commands):
    """Small labeled files for every JSONL or TSV file the commands name."""
    rows = [(text, 1) for text in POSITIVE] + [(text, 0) for text in NEGATIVE]
    for args in commands:
        for arg in args:
            path = os.path.join(directory, arg)
            if os.path.exists(path) or arg.startswith("runs/"):
                continue
            if arg.endswith(".jsonl"):
                with open(path, "w", encoding="utf-8") as f:
                    for _ in range(4):
                        for text, label in rows:
                            record = {"text": text, "label": label}
                            f.write(json.dumps(record) + "\n")
            elif arg.endswith(".tsv"):
                with open(path, "w", encoding="utf-8") as f:
                    f.write("sentence\tlabel\n")
                    for _ in range(4):
                        for text, label in rows:
                            f.write(f"{text}\t{label}\n")


def program():
    """The `keras-linformer` command of this environment, as README runs
    it (the console script next to this Python, else the one on PATH, else
    the package's `__main__`)."""
    beside = os.path.join(os.path.dirname(sys.executable), PROGRAM)
    if os.access(beside, os.X_OK):
        return [beside]
    found = shutil.which(PROGRAM)
    if found:
        return [found]
    return [sys.executable, "-m", "keras_linformer"]


def run(args, cwd, timeout=TIMEOUT_S):
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    env["PYTHONPATH"] = os.pathsep.join(
        [REPOSITORY] + [p for p in [env.get("PYTHONPATH")] if p]
    )
    result = subprocess.run(
        args,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        f"{shlex.join(args)} exited with {result.returncode}:\n"
        f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result


@pytest.fixture(scope="module")
def command_line_run(tmp_path_factory):
    """Runs README's commands in order; returns the directory and the
    commands as run."""
    directory = str(tmp_path_factory.mktemp("readme"))
    commands = readme_commands()
    write_data(directory, commands)
    ran = []
    for args in commands:
        for path in inputs(args):
            assert os.path.exists(os.path.join(directory, path)), (
                f"`{PROGRAM} {shlex.join(args)}` reads {path}, which no "
                "earlier README command wrote"
            )
        tiny = args + tiny_flags(args)
        run([*program(), *tiny], directory)
        for path in outputs(args):
            assert os.path.exists(os.path.join(directory, path)), (
                f"`{PROGRAM} {shlex.join(args)}` did not write {path}"
            )
        ran.append(args)
    return directory, ran


def test_readme_commands_cover_the_whole_chain():
    subcommands = [args[0] for args in readme_commands()]
    assert subcommands == ["pretrain", "finetune", "evaluate", "export"]


def test_readme_commands_run_in_order(command_line_run):
    directory, ran = command_line_run
    by_name = {args[0]: args for args in ran}
    finetune = by_name["finetune"]
    assert option(finetune, "--preset") == os.path.join(
        option(by_name["pretrain"], "--output-dir", "runs/pretrain"), "preset"
    )
    finetune_dir = option(finetune, "--output-dir", "runs/finetune")
    with open(os.path.join(directory, finetune_dir, "metrics.json")) as f:
        metrics = json.load(f)
    assert 0.0 <= metrics["validation_accuracy"] <= 1.0
    assert by_name["evaluate"][1] == os.path.join(finetune_dir, "preset")
    evaluation = option(by_name["evaluate"], "--json")
    if evaluation:
        with open(os.path.join(directory, evaluation)) as f:
            assert json.load(f)
    export = by_name["export"]
    assert export[1] == os.path.join(finetune_dir, "preset")
    model_dir = outputs(export)[0]
    versions = [
        name
        for name in os.listdir(os.path.join(directory, model_dir))
        if name.isdigit()
    ]
    assert versions, f"no version directory under {model_dir}"
    for version in versions:
        assert os.path.exists(
            os.path.join(directory, model_dir, version, "saved_model.pb")
        )


def test_readme_predict_snippet(command_line_run):
    directory, _ = command_line_run
    code = python_snippet("LinformerTextClassifier.from_preset(")
    result = run([sys.executable, "-c", code], directory)
    assert "[[" in result.stdout, result.stdout


def test_readme_layers_snippet(tmp_path):
    code = python_snippet("kl.layers.LinformerAttention(")
    run([sys.executable, "-c", code + "\nmodel.summary()\n"], str(tmp_path))
