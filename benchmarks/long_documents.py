"""The training step on long documents: Linformer vs standard attention at
the Long Range Arena Text task's n = 4096 and at n = 16384.

    python -m benchmarks.long_documents                  # ~25 min, 2 cores
    python -m benchmarks.long_documents --quick          # a tiny check

The model is `examples/reproduce_lra_text.py`'s (byte tokens; 2 layers,
width 64, 2 heads, feed-forward 128; batches of 32; Linformer k = 256)
with the run's optimizer. A run's batches are grouped by length and cut to
16 length buckets, so a step costs the bucket of its batch, not n. This
benchmark therefore times one training step at every bucket length and
weighs it by how many batches of one epoch of the IMDB training reviews
(the run's own pipeline, same seed) have that length: the mean step time
over an epoch, the cost that training on these documents has. Peak memory
is the growth of the process over the built model across those steps (the
longest bucket's step sets it): TensorFlow's allocator peak where the
processor exposes it, the resident set otherwise (labelled).

Each (model, n) cell runs in its own process (`benchmarks.worker`), one
after another. Standard attention is not run where the attention
probabilities that its backward pass keeps already exceed the machine's
memory; the table gives that lower bound instead.
"""

import argparse
import functools
import json
import os
import re
import sys

from benchmarks import IMDB_TRAIN
from benchmarks import load_example

LENGTH_BUCKETS = 16
# (label, the run of examples/reproduce_lra_text.py whose model it times, n)
# in the order they run.
CELLS = (
    ("linformer", "linformer", 4096),
    ("linformer-linear", "linformer-linear", 4096),
    ("standard", "standard", 4096),
    ("linformer", "linformer-16k", 16384),
    ("standard", "standard", 16384),
)
# Timed steps per length (--quick: 1).
REPEATS = 2
QUICK_LENGTH_DIVISOR = 32  # --quick: n = 128 and 512


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.long_documents",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "--data",
        default=IMDB_TRAIN,
        help="IMDB training reviews, JSON lines (default: %(default)s).",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a tiny model, 64 reviews and n / 32: checks the benchmark runs.",
    )
    parser.add_argument(
        "--memory-limit-gib",
        type=float,
        default=None,
        help="the memory a cell may use (default: this machine's total).",
    )
    parser.add_argument(
        "--cells",
        default=None,
        help="comma-separated LABEL@N cells to run, e.g. standard@4096 "
        "(default: all: " + ", ".join(f"{c[0]}@{c[2]}" for c in CELLS) + ").",
    )
    parser.add_argument("--out", default=None, help="Also write JSON here.")
    args = parser.parse_args(argv)
    args.cells = selected_cells(parser, args.cells)
    return args


def selected_cells(parser, names):
    """The `CELLS` that `--cells` names, in their order (all for `None`)."""
    if names is None:
        return CELLS
    known = {f"{label}@{n}": (label, run, n) for label, run, n in CELLS}
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in known]
    if unknown or not wanted:
        parser.error(
            f"--cells: unknown cell(s) {unknown or names!r}; choose from "
            + ", ".join(known)
        )
    return tuple(cell for name, cell in known.items() if name in wanted)


def epoch_batch_lengths(texts, labels, n, batch_size):
    """`{length: batches}` of one epoch of the run's training pipeline: the
    byte preprocessor at `n`, grouped by length, cut to its bucket."""
    from keras_linformer.models import LinformerBackbone
    from keras_linformer.models import LinformerByteTokenizer
    from keras_linformer.models import task_classes
    from keras_linformer.training import data

    preprocessor = task_classes(LinformerBackbone).text_classifier_preprocessor(
        LinformerByteTokenizer(), sequence_length=n
    )
    dataset = data.classification_dataset(
        texts,
        labels,
        preprocessor,
        batch_size,
        0,
        True,
        LENGTH_BUCKETS,
        group_by_length=True,
    )
    counts = {}
    for x, _ in dataset.take(max(len(texts) // batch_size, 1)):
        length = int(x["token_ids"].shape[1])
        counts[length] = counts.get(length, 0) + 1
    return dict(sorted(counts.items()))


@functools.cache
def lra_example():
    """`examples/reproduce_lra_text.py`, whose model and optimizer settings
    (`FULL`, `QUICK`, `model_settings`) this benchmark times."""
    return load_example("reproduce_lra_text")


def settings(quick):
    """The example's size settings (model, batch, optimizer, reviews read)
    and the timed steps per length."""
    example = lra_example()
    if quick:
        return dict(example.QUICK, repeats=1)
    return dict(example.FULL, repeats=REPEATS)


def cell_model(run, n, size):
    """The `ModelConfig` fields of the example's `run`, at length n."""
    model = lra_example().model_settings(run, size, quick=False)
    return dict(
        model, sequence_length=n, projected_dim=min(size["projected_dim"], n)
    )


def cell_task(run, n, size, lengths, repeats):
    """The `benchmarks.worker` task that times the training step of `run`'s
    model at n, with the run's optimizer, at each of `lengths`."""
    return dict(
        task="long_documents",
        model=cell_model(run, n, size),
        batch_size=size["batch_size"],
        learning_rate=size["finetune_learning_rate"],
        steps=size["finetune_steps"],
        warmup_steps=size["warmup_steps"],
        lengths=lengths,
        repeats=repeats,
    )


def failure_reason(error):
    """A failed cell's `error` (the runner's: why, then the tail of the
    worker's stderr) as a table cell: why, the batch length it was timing,
    and what the last length timed took."""
    from benchmarks.worker import DONE
    from benchmarks.worker import PROGRESS

    why = error.split(":", 1)[0]
    lengths = re.findall(re.escape(PROGRESS) + r" (\d+)", error)
    if not lengths:
        return " ".join(error.split())[:300]
    reason = f"{why}, at batch length {lengths[-1]}"
    timed = re.findall(re.escape(DONE) + r" (\d+: [^\n]*)", error)
    if timed:
        reason += f" (last timed: {timed[-1]})"
    return reason


def attention_probabilities_bytes(size, n, longest):
    """A lower bound on standard attention's training memory: the float32
    attention probabilities of every layer, which the backward pass keeps,
    for a batch of the longest bucket."""
    return (
        4
        * size["batch_size"]
        * size["num_heads"]
        * longest**2
        * size["num_layers"]
    )


def epoch_step_s(step_s, counts):
    """The mean step time over an epoch whose batches have `counts`."""
    total = sum(counts.values())
    return sum(step_s[str(length)] * c for length, c in counts.items()) / total


def table(results):
    lines = [
        "| model | n | mean step, s (epoch) | longest-bucket step, s | "
        "peak memory, GiB | vs Linformer at the same n |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    linformer = {
        r["n"]: r
        for r in results
        if r["label"] == "linformer" and "step_s" in r
    }
    for r in results:
        if "step_s" not in r:
            lines.append(
                f"| {r['label']} | {r['n']} | not run: {r['reason']} | | | |"
            )
            continue
        mean = epoch_step_s(r["step_s"], r["counts"])
        longest = r["step_s"][str(max(r["counts"], key=int))]
        memory = (
            f"{r['memory_bytes'] / 2**30:.2f} ({r['memory_method']})"
            if r["memory_bytes"] is not None
            else f"not seen: no growth past the first step ({r['memory_method']})"
        )
        base = linformer.get(r["n"])
        ratio = (
            f"{mean / epoch_step_s(base['step_s'], base['counts']):.2f}x"
            if base
            else ""
        )
        lines.append(
            f"| {r['label']} | {r['n']} | {mean:.2f} | {longest:.2f} | "
            f"{memory} | {ratio} |"
        )
    ns = sorted(linformer)
    if len(ns) == 2:
        short, long_ = (linformer[n] for n in ns)
        ratio = epoch_step_s(long_["step_s"], long_["counts"]) / epoch_step_s(
            short["step_s"], short["counts"]
        )
        lines.append("")
        lines.append(
            f"Linformer, the same reviews whole at n = {ns[1]} instead of cut "
            f"at n = {ns[0]}: {ratio:.2f}x the mean step time."
        )
    return "\n".join(lines)


def machine_memory_bytes():
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def main(argv=None):
    args = parse_args(argv)
    if not os.path.exists(args.data):
        print(f"Skipping: {args.data} not found; give --data.", file=sys.stderr)
        return 0
    from benchmarks.runner import run_task
    from keras_linformer.training.data import read_labeled

    size = settings(args.quick)
    texts, labels = read_labeled(args.data)
    if size["max_train"]:
        texts, labels = texts[: size["max_train"]], labels[: size["max_train"]]
    limit = (args.memory_limit_gib or 0) * 2**30 or machine_memory_bytes()
    counts_by_n, results = {}, []
    for label, run, n in args.cells:
        if args.quick:
            n //= QUICK_LENGTH_DIVISOR
        if n not in counts_by_n:
            counts_by_n[n] = epoch_batch_lengths(
                texts, labels, n, size["batch_size"]
            )
            print(f"n={n}: batches of one epoch by length {counts_by_n[n]}")
        counts = counts_by_n[n]
        result = dict(label=label, n=n, counts=counts)
        need = attention_probabilities_bytes(size, n, max(counts))
        attention = lra_example().RUNS[run][0]
        if attention == "standard" and need > limit:
            result["reason"] = (
                f"its attention probabilities alone need {need / 2**30:.0f} "
                f"GiB, over the {limit / 2**30:.0f} GiB here"
            )
        else:
            result.update(
                run_task(cell_task(run, n, size, list(counts), size["repeats"]))
            )
            if "error" in result:
                result["reason"] = failure_reason(result["error"])
        results.append(result)
        print(json.dumps(result), flush=True)
    print()
    print(table(results))
    if args.out:
        from keras_linformer.artifacts import write_text_atomic

        write_text_atomic(
            args.out,
            json.dumps(dict(settings=size, results=results), indent=2),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
