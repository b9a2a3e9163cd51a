"""The paper-reproduction scripts' --quick modes, on a small slice of the
real data sets (skipped where they are absent: set $KERAS_LINFORMER_DATA or
link data/ in the repository to a folder holding imdb/ and wikitext-2/)."""

import doctest
import importlib.util
import json
import math
import os
import statistics

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _load(name):
    path = os.path.join(ROOT, "examples", name + ".py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Where the scripts look for their data by default.
DATA_DIR = _load("reproduce_common").DEFAULT_DATA_DIR


def _needs(*parts):
    path = os.path.join(DATA_DIR, *parts)
    if not os.path.exists(path):
        pytest.skip(
            f"data set not found: {os.path.abspath(path)} (set "
            "KERAS_LINFORMER_DATA or link data/ in the repository)"
        )


@pytest.mark.slow
def test_perplexity_quick_writes_finite_table(tmp_path):
    _needs("wikitext-2", "train.txt")
    _needs("wikitext-2", "valid.txt")
    script = _load("reproduce_perplexity")
    out = tmp_path / "ppl"
    runs = ["standard", "k128-layerwise"]
    code = script.main(
        [
            "--quick",
            "--data-dir",
            DATA_DIR,
            "--output-dir",
            str(out),
            "--runs",
            ",".join(runs),
            "--max-lines",
            "150",
            "--max-validation-lines",
            "30",
            "--steps",
            "4",
            "--verbose",
            "0",
        ]
    )
    assert code == 0
    summary = json.loads((out / "results.json").read_text())
    assert sorted(summary["runs"]) == sorted(runs)
    for name, run in summary["runs"].items():
        ppl = run["validation_perplexity"]
        assert math.isfinite(ppl) and ppl > 1, (name, ppl)
        curve = run["history"]["val_loss"]
        assert len(curve) == summary["settings"]["evaluations"], name
        assert all(math.isfinite(loss) for loss in curve), name
    assert "standard Transformer" in summary["runs"]["standard"]["model"]
    assert "layerwise" in summary["runs"]["k128-layerwise"]["model"]
    table = (out / "results.md").read_text()
    for name in runs:
        assert f"| {name} |" in table
    assert (out / "validation_curves.png").stat().st_size > 1000

    # `keras-linformer evaluate` on the preset of the standard Transformer
    # gives the perplexity that training reported on the same data.
    import keras_linformer_cli as cli

    eval_json = tmp_path / "eval.json"
    code = cli.main(
        [
            "evaluate",
            str(out / "standard" / "preset"),
            summary["validation_file"],
            "--batch-size",
            str(summary["settings"]["batch_size"]),
            "--json",
            str(eval_json),
        ]
    )
    assert code == 0
    metrics = json.loads(eval_json.read_text())
    expected = summary["runs"]["standard"]["validation_perplexity"]
    assert math.isfinite(metrics["validation_perplexity"])
    assert metrics["validation_perplexity"] == pytest.approx(expected, rel=0.1)


@pytest.mark.slow
def test_imdb_quick_writes_accuracies(tmp_path):
    _needs("imdb", "imdb_train.jsonl")
    _needs("imdb", "imdb_dev.jsonl")
    script = _load("reproduce_imdb")
    out = tmp_path / "imdb"
    runs = ["standard", "k128"]
    arguments = [
        "--quick",
        "--data-dir",
        DATA_DIR,
        "--output-dir",
        str(out),
        "--runs",
        ",".join(runs),
        "--max-train",
        "64",
        "--max-dev",
        "32",
        "--pretrain-steps",
        "2",
        "--finetune-steps",
        "2",
        "--verbose",
        "0",
    ]
    assert script.main(arguments) == 0
    summary = json.loads((out / "results.json").read_text())
    assert sorted(r["run"] for r in summary["runs"]) == sorted(runs)
    for run in summary["runs"]:
        name = run["run"]
        # The accuracy reported is the fine-tuned preset's own metric.
        finetune_dir = out / "n128" / "seed0" / name / "finetune"
        metrics = json.loads((finetune_dir / "metrics.json").read_text())
        assert run["accuracy"] == metrics["validation_accuracy"], name
        assert run["dev_examples"] == 32
        ppl = run["pretrain_perplexity"]
        assert math.isfinite(ppl) and ppl > 1, (name, ppl)
        # The length bands cover the dev set once and, weighted by their
        # sizes, give the overall accuracy back.
        bands = run["accuracy_by_length"]
        assert sum(b["examples"] for b in bands) == 32, bands
        weighted = sum(
            b["accuracy"] * b["examples"] for b in bands if b["examples"]
        )
        assert weighted / 32 == pytest.approx(run["accuracy"], abs=1e-6)
        # One right/wrong mark per dev review, in agreement with both.
        correct = run["dev_correct"]
        assert len(correct) == 32 and set(correct) <= {"0", "1"}, correct
        assert correct.count("1") / 32 == pytest.approx(run["accuracy"])
    table = (out / "results.md").read_text()
    for name in runs:
        assert f"| {name} |" in table
    assert "< 256 pieces" in table
    assert table.count("| 128 | k128 |") == 3  # accuracy, bands, paired
    # The paired difference is the difference of the two accuracies.
    accuracy = {r["run"]: r["accuracy"] for r in summary["runs"]}
    delta = 100 * (accuracy["k128"] - accuracy["standard"])
    (row,) = [
        r for r in table.splitlines() if r.startswith("| 128 | k128 | 0 |")
    ]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert float(cells[3]) == pytest.approx(delta, abs=0.051), row
    assert float(cells[4]) >= 0, row

    # A result from before the bands and the per-review marks gets them
    # when the script reuses it.
    result_file = out / "n128" / "seed0" / "k128" / "result.json"
    result = json.loads(result_file.read_text())
    bands = result.pop("accuracy_by_length")
    correct = result.pop("dev_correct")
    result_file.write_text(json.dumps(result))
    # `--report-only` trains nothing: a run not finished stays unrun.
    arguments[arguments.index("--runs") + 1] = "standard,k128,k128-max"
    assert script.main(arguments + ["--report-only"]) == 0
    reused = json.loads(result_file.read_text())
    assert reused["accuracy_by_length"] == bands
    assert reused["dev_correct"] == correct
    assert not (out / "n128" / "seed0" / "k128-max").exists()

    # `keras-linformer evaluate` on the fine-tuned standard Transformer.
    import keras_linformer_cli as cli

    eval_json = tmp_path / "eval.json"
    dev = os.path.join(str(out), "data", "imdb_dev.jsonl")
    code = cli.main(
        [
            "evaluate",
            str(out / "n128" / "seed0" / "standard" / "finetune" / "preset"),
            dev,
            "--json",
            str(eval_json),
        ]
    )
    assert code == 0
    metrics = json.loads(eval_json.read_text())
    assert metrics["examples"] == 32
    (standard,) = [r for r in summary["runs"] if r["run"] == "standard"]
    assert metrics["accuracy"] == pytest.approx(standard["accuracy"], abs=1e-6)


def test_scripts_skip_cleanly_without_data(tmp_path, capsys):
    for name in (
        "reproduce_perplexity",
        "reproduce_imdb",
        "reproduce_lra_text",
    ):
        script = _load(name)
        out = tmp_path / name
        code = script.main(
            [
                "--quick",
                "--data-dir",
                str(tmp_path / "absent"),
                "--output-dir",
                str(out),
            ]
        )
        assert code == 0
        assert "Skipping" in capsys.readouterr().err
        assert not (out / "results.json").exists()


def test_scripts_refuse_an_unknown_run_before_any_work(tmp_path):
    """A misspelt `--runs` name is refused with the names there are, before
    any data is read or written."""
    for name, data_set, files in (
        ("reproduce_perplexity", "wikitext-2", ["train.txt", "valid.txt"]),
        ("reproduce_imdb", "imdb", ["imdb_train.jsonl", "imdb_dev.jsonl"]),
        ("reproduce_lra_text", "imdb", ["imdb_train.jsonl", "imdb_dev.jsonl"]),
    ):
        script = _load(name)
        data_dir = tmp_path / name / "data"
        (data_dir / data_set).mkdir(parents=True)
        for file_name in files:
            (data_dir / data_set / file_name).write_text("")
        out = tmp_path / name / "out"
        with pytest.raises(SystemExit, match=r"Unknown run\(s\) \['nope'\]"):
            script.main(
                ["--quick", "--data-dir", str(data_dir)]
                + ["--output-dir", str(out), "--runs", "nope"]
            )
        assert not out.exists()


def test_imdb_paired_table_scores_both_models_on_the_same_reviews():
    script = _load("reproduce_imdb")

    def result(run, seed, correct):
        accuracy = correct.count("1") / len(correct)
        return dict(
            run=run,
            seed=seed,
            sequence_length=512,
            accuracy=accuracy,
            dev_correct=correct,
        )

    results = [
        result("standard", 0, "1100"),
        result("standard", 1, "1010"),
        # A seed the run does not have is left out of its comparison.
        result("standard", 2, "0000"),
        result("k128-max", 0, "1000"),
        result("k128-max", 1, "1110"),
        # Without per-review marks for every seed, a run is left out.
        result("k256-max", 0, "1111"),
        dict(result("k256-max", 1, "1111"), dev_correct=None),
    ]
    table = script.paired_table(results)
    # Per review, seeds 0 and 1: standard 1, .5, .5, 0; max 1, .5, .5, 0
    # too, so the mean difference is 0 and so is its error over reviews;
    # per seed the differences are -25 and +25 points.
    (row,) = [r for r in table.splitlines() if r.startswith("| 512 | k128-max")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[2] == "0, 1"
    assert float(cells[3]) == pytest.approx(0.0)
    assert float(cells[4]) == pytest.approx(0.0)
    assert float(cells[6]) == pytest.approx(
        statistics.stdev([-25, 25]) / 2**0.5
    )
    assert "k256-max" not in table
    assert "| 512 | standard |" not in table

    # One seed: the error over reviews is stdev(d) / sqrt(N), and none
    # over seeds.
    table = script.paired_table(results[:1] + results[3:4])
    d = [0.0, -1.0, 0.0, 0.0]
    error = 100 * statistics.stdev(d) / 2
    (row,) = [r for r in table.splitlines() if r.startswith("| 512 | k128-max")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert float(cells[3]) == pytest.approx(-25.0)
    assert float(cells[4]) == pytest.approx(error, abs=0.05)
    low, high = (float(x) for x in cells[5].split(" to "))
    assert low == pytest.approx(-25.0 - 1.96 * error, abs=0.1)
    assert high == pytest.approx(-25.0 + 1.96 * error, abs=0.1)
    assert cells[6] == "n/a"

    # The docstring's example prints what it shows.
    (example,) = doctest.DocTestFinder().find(
        script.paired_table, globs=vars(script)
    )
    assert doctest.DocTestRunner().run(example).failed == 0


@pytest.mark.slow
def test_lra_text_quick_trains_bytes_and_reuses_finished_runs(tmp_path):
    _needs("imdb", "imdb_train.jsonl")
    _needs("imdb", "imdb_dev.jsonl")
    script = _load("reproduce_lra_text")
    out = tmp_path / "lra"
    arguments = [
        "--quick",
        "--data-dir",
        DATA_DIR,
        "--output-dir",
        str(out),
        "--runs",
        "linformer,linformer-pretrained",
        "--max-train",
        "16",
        "--max-dev",
        "8",
        "--finetune-steps",
        "2",
        "--pretrain-steps",
        "2",
        "--verbose",
        "0",
    ]
    assert script.main(arguments) == 0
    summary = json.loads((out / "results.json").read_text())
    runs = {r["run"]: r for r in summary["runs"]}
    assert sorted(runs) == ["linformer", "linformer-pretrained"]
    for run in runs.values():
        assert 0 <= run["accuracy"] <= 1
        assert run["config"]["tokenizer"] == "byte"
    assert math.isfinite(runs["linformer-pretrained"]["pretrain_perplexity"])
    # The accuracy by review length covers the dev reviews once, and its
    # groups' accuracies weigh up to the run's.
    for run in runs.values():
        groups = run["accuracy_by_length"].values()
        assert sum(g["examples"] for g in groups) == run["dev_examples"]
        correct = sum(g["accuracy"] * g["examples"] for g in groups)
        assert correct / run["dev_examples"] == pytest.approx(
            run["accuracy"], abs=1e-6
        )
    tokenizer = json.loads(
        (
            out / "linformer-pretrained/seed0/finetune/preset/tokenizer.json"
        ).read_text()
    )
    assert tokenizer["class_name"] == "LinformerByteTokenizer"
    task = json.loads(
        (
            out / "linformer-pretrained/seed0/finetune/preset/task.json"
        ).read_text()
    )
    assert task["config"]["pooling"] == "mean"  # the script's default
    assert "| linformer | 256 | 1 |" in (out / "results.md").read_text()
    # A second invocation reuses both finished runs.
    stamp = (out / "linformer" / "seed0" / "result.json").stat().st_mtime
    assert script.main(arguments) == 0
    assert (
        out / "linformer" / "seed0" / "result.json"
    ).stat().st_mtime == stamp
    # --by-length scores a finished run that predates the record from its
    # fine-tuned preset, and changes nothing else in its result.
    result_file = out / "linformer" / "seed0" / "result.json"
    recorded = json.loads(result_file.read_text())
    by_length = recorded.pop("accuracy_by_length")
    result_file.write_text(json.dumps(recorded))
    assert script.main(arguments + ["--by-length"]) == 0
    rescored = json.loads(result_file.read_text())
    for group, scored in rescored.pop("accuracy_by_length").items():
        assert scored["examples"] == by_length[group]["examples"]
        assert scored["accuracy"] == pytest.approx(by_length[group]["accuracy"])
    assert rescored == recorded
    stamp = result_file.stat().st_mtime
    # The other head in the same directory would resume the mean head's
    # checkpoints: refused before any run trains, both settings named.
    with pytest.raises(SystemExit, match="pooling: 'mean' there, 'cls' here"):
        script.main(arguments + ["--pooling", "cls"])
    assert (
        out / "linformer" / "seed0" / "result.json"
    ).stat().st_mtime == stamp
    # The other head, in its own directory, fine-tunes the same pretraining.
    other = tmp_path / "lra-cls"
    cls_arguments = arguments + ["--pooling", "cls", "--pretrained-from"]
    cls_arguments[cls_arguments.index(str(out))] = str(other)
    cls_arguments[cls_arguments.index("linformer,linformer-pretrained")] = (
        "linformer-pretrained"
    )
    assert script.main(cls_arguments + [str(out)]) == 0
    run = other / "linformer-pretrained" / "seed0"
    assert not (run / "pretrain").exists()
    result = json.loads((run / "result.json").read_text())
    source = out / "linformer-pretrained" / "seed0" / "pretrain"
    assert result["pretrained_from"] == str(source)
    assert result["pretrain_perplexity"] == pytest.approx(
        runs["linformer-pretrained"]["pretrain_perplexity"]
    )
    task = json.loads((run / "finetune" / "preset" / "task.json").read_text())
    assert task["config"]["pooling"] == "cls"


def test_every_run_of_the_scripts_is_a_valid_model_config():
    """Each run's settings make a `ModelConfig` (k <= n, n divisible by k
    for the pooling kinds, known kinds) at the full and --quick sizes."""
    from keras_linformer.training import ModelConfig

    perplexity = _load("reproduce_perplexity")
    fields = perplexity.MODEL_SETTINGS
    for quick in (False, True):
        args = perplexity.build_parser().parse_args(
            ["--quick"] if quick else []
        )
        size = perplexity.settings(args)
        for name in perplexity.RUNS:
            config = perplexity.run_config(name, size, args, "out", "a", "b")
            ModelConfig(**{key: config[key] for key in fields})
    imdb = _load("reproduce_imdb")
    for n, size, quick in (
        (512, imdb.FULL, False),
        (1024, imdb.FULL, False),
        (imdb.QUICK_SEQUENCE_LENGTH, imdb.QUICK, True),
    ):
        for name in imdb.RUNS:
            ModelConfig(**imdb.model_settings(name, size, n, quick))
    lra = _load("reproduce_lra_text")
    for size, quick in ((lra.FULL, False), (lra.QUICK, True)):
        for name in lra.RUNS:
            ModelConfig(**lra.model_settings(name, size, quick))


def test_imdb_runs_of_removed_kinds_are_gone_but_their_results_tabulate():
    script = _load("reproduce_imdb")
    removed = {
        "k128-scaled",
        "k256-scaled",
        "k128-softmax",
        "k256-softmax",
        "k128-stretched",
        "k256-stretched",
        "k128-documents",
        "k128-meaninit",
    }
    assert not removed & set(script.RUNS)
    results = [
        dict(
            run=run,
            seed=0,
            sequence_length=512,
            model=run,
            accuracy=0.5,
            pretrain_perplexity=10.0,
            seconds=60.0,
        )
        for run in ("k128-softmax", "standard", "k128")
    ]
    rows = [r for r in script.table(results).splitlines() if "| 512 |" in r]
    assert [r.split("|")[2].strip() for r in rows] == [
        "standard",
        "k128",
        "k128-softmax",
    ]


def test_results_recorded_with_retired_settings_are_reused(tmp_path):
    common = _load("reproduce_common")
    record = {"projection": "linear", "sequence_length": 512}
    result_file = tmp_path / "result.json"
    result_file.write_text(
        json.dumps({"config": dict(record, samples="blocks"), "accuracy": 1})
    )
    assert common.reuse(str(result_file), record)["accuracy"] == 1
    result_file.write_text(
        json.dumps({"config": dict(record, samples="documents")})
    )
    assert common.reuse(str(result_file), record) is None


def test_results_recorded_before_an_added_setting_are_reused(tmp_path):
    """A result recorded before `pooling` existed ran with the "[CLS]"
    head: reused for `pooling="cls"`, trained again for `"mean"`; one from
    before `length_buckets`, with 16 buckets."""
    common = _load("reproduce_common")
    record = {"projection": "sliding_max", "sequence_length": 4096}
    result_file = tmp_path / "result.json"
    result_file.write_text(json.dumps({"config": record, "accuracy": 1}))
    reused = common.reuse(str(result_file), dict(record, pooling="cls"))
    assert reused["accuracy"] == 1
    assert common.reuse(str(result_file), dict(record, pooling="mean")) is None
    assert common.reuse(str(result_file), dict(record, length_buckets=16))
    assert (
        common.reuse(str(result_file), dict(record, length_buckets=64)) is None
    )


def test_lra_length_buckets_are_recorded_and_checked_before_any_run(tmp_path):
    lra = _load("reproduce_lra_text")
    args = lra.build_parser().parse_args(["--length-buckets", "64"])
    data = {"train_jsonl": "train.jsonl"}
    _, record = lra.run_record(args, "linformer-16k", 0, lra.FULL, data)
    assert record["length_buckets"] == 64
    training = lra.training(args, lra.FULL, 10, 1e-3, "out", 0)
    assert training["length_buckets"] == 64
    # More buckets than the shortest run's n: refused before any run.
    _needs("imdb", "imdb_dev.jsonl")
    arguments = ["--data-dir", DATA_DIR, "--output-dir", str(tmp_path / "o")]
    with pytest.raises(ValueError, match="length_buckets"):
        lra.main(
            arguments + ["--runs", "standard-512", "--length-buckets", "600"]
        )
    assert not (tmp_path / "o").exists()


def test_a_run_directory_holds_the_run_of_one_setting(tmp_path):
    common = _load("reproduce_common")
    record = {"projection": "sliding_max", "pooling": "mean", "size": {"a": 1}}
    run_dir = str(tmp_path / "linformer" / "seed0")
    common.claim_run_dir(run_dir, record)
    common.claim_run_dir(run_dir, dict(record))  # the same run resumes
    with pytest.raises(SystemExit) as refused:
        common.claim_run_dir(run_dir, dict(record, pooling="cls"))
    message = str(refused.value)
    assert run_dir in message and "--output-dir" in message
    assert "pooling: 'mean' there, 'cls' here" in message
    with pytest.raises(SystemExit, match="size.a: 1 there, 2 here"):
        common.claim_run_dir(run_dir, dict(record, size={"a": 2}))
    # The refused runs left the record as it was.
    settings = json.loads(
        (tmp_path / "linformer/seed0/run_settings.json").read_text()
    )
    assert settings == record


def test_a_finished_run_from_before_the_record_keeps_its_directory(tmp_path):
    """A directory whose `result.json` predates `run_settings.json` is
    checked against the result's settings; one with checkpoints only is
    claimed (its settings are unknown)."""
    common = _load("reproduce_common")
    record = {"projection": "sliding_max", "sequence_length": 4096}
    finished = tmp_path / "finished"
    finished.mkdir()
    # Recorded before `pooling` existed: it ran with "[CLS]".
    (finished / "result.json").write_text(json.dumps({"config": record}))
    common.claim_unfinished([(str(finished), dict(record, pooling="cls"))])
    assert not (finished / "run_settings.json").exists()  # reused, not run
    with pytest.raises(SystemExit, match="pooling: 'cls' there, 'mean' here"):
        common.claim_unfinished([(str(finished), dict(record, pooling="mean"))])
    interrupted = tmp_path / "interrupted"
    (interrupted / "finetune" / "checkpoints").mkdir(parents=True)
    common.claim_unfinished([(str(interrupted), record)])
    assert json.loads((interrupted / "run_settings.json").read_text()) == record


def test_pretrained_from_takes_only_a_pretraining_of_the_same_settings(
    tmp_path,
):
    lra = _load("reproduce_lra_text")
    args = lra.build_parser().parse_args(["--pretrained-from", str(tmp_path)])
    size = dict(lra.FULL)
    data = dict(train_jsonl="train.jsonl")
    _, record = lra.run_record(args, "linformer-pretrained", 0, size, data)
    assert lra.pretrained_source(args, "linformer", 0, record) is None
    with pytest.raises(SystemExit, match="does not exist"):
        lra.pretrained_source(args, "linformer-pretrained", 0, record)
    source = tmp_path / "linformer-pretrained" / "seed0"
    (source / "pretrain" / "preset").mkdir(parents=True)
    with pytest.raises(SystemExit, match="no record of its settings"):
        lra.pretrained_source(args, "linformer-pretrained", 0, record)
    # Another head, fine-tuning schedule or data copy: the same pretraining.
    other_size = dict(size, finetune_steps=4000, finetune_learning_rate=5e-4)
    recorded = dict(record, pooling="cls", data="x.jsonl", size=other_size)
    (source / "run_settings.json").write_text(json.dumps(recorded))
    preset = lra.pretrained_source(args, "linformer-pretrained", 0, record)
    assert preset == str(source / "pretrain" / "preset")
    # Another pretraining: refused, naming the setting.
    other_size = dict(size, pretrain_steps=3500)
    recorded = dict(record, size=other_size)
    (source / "run_settings.json").write_text(json.dumps(recorded))
    with pytest.raises(SystemExit, match="size.pretrain_steps: 3500 there"):
        lra.pretrained_source(args, "linformer-pretrained", 0, record)


def test_lra_table_gives_the_accuracy_by_length_over_seeds():
    lra = _load("reproduce_lra_text")

    def result(seed, short, long):
        return {
            "run": "linformer",
            "seed": seed,
            "sequence_length": 4096,
            "accuracy": 0.6,
            "finetune_seconds": 60,
            "config": {"pooling": "mean"},
            "accuracy_by_length": {
                "up to 1024": {"accuracy": short, "examples": 3},
                "over 4096": {"accuracy": long, "examples": 1},
            },
        }

    printed = lra.table([result(0, 0.5, 1.0), result(1, 0.7, 0.0)])
    assert "| run | seeds | up to 1024 bytes (3 reviews) | over 4096 bytes" in (
        printed
    )
    assert "| linformer | 2 | 60.0% | 50.0% |" in printed
    # Results without it (runs that predate it) print no such table.
    (plain,) = [result(0, 0.5, 1.0)]
    del plain["accuracy_by_length"]
    assert "bytes (" not in lra.table([plain])


def test_lra_table_marks_the_minutes_of_resumed_runs():
    lra = _load("reproduce_lra_text")
    run = dict(run="linformer", sequence_length=4096, finetune_seconds=600)
    results = [
        dict(run, seed=0, accuracy=0.6, finetune_resumed_from=None),
        dict(run, seed=1, accuracy=0.7, finetune_resumed_from=900),
    ]
    printed = lra.table(results)
    assert (
        "| linformer ([CLS] head) | 4096 | 2 | 65.0% | 60.0 / 70.0 | "
        "10 / 10 (from step 900) |" in printed
    )
    for result in results:
        result["config"] = {"pooling": "mean"}
    assert "| linformer | 4096 | 2 |" in lra.table(results)
