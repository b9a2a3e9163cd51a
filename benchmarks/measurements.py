"""Each finished measurement on disk as soon as it finishes.

A benchmark stopped part way (a time limit on a lent GPU, an interrupted
session) keeps what it measured, and a rerun with `--resume` measures only
what is missing.

Example:

>>> log = MeasurementLog("bench_results/measurements.jsonl", resume=True,
...                      context={"backend": "jax", "device": "GPU"})
>>> result = log.get(task)          # None where this task was not measured
>>> if result is None:
...     result = run_task(task)
...     log.add(task, result)
"""

import collections
import json
import os


def _key(context, task):
    return json.dumps({"context": context, "task": task}, sort_keys=True)


class MeasurementLog:
    """An append-only JSON-lines file of `{"context", "task", "result"}`.

    A task asked for several times (the memory runs of one model) is
    answered by its saved results in order, then measured again. The
    `context` (backend, device) is part of the match, so measurements from
    another backend or device are never reused. Each line is flushed and
    synced as it is written; a line cut short by a kill is skipped on
    reading.

    Args:
        path: the file.
        resume: reuse the file's measurements; otherwise start it afresh.
        context: what else must match for a measurement to be reused.
    """

    def __init__(self, path, resume=False, context=None):
        self.path = path
        self.context = context or {}
        self.reused = 0
        self._saved = collections.defaultdict(list)
        self._asked = collections.Counter()
        if resume and os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for line in text.splitlines():
                try:
                    record = json.loads(line)
                    key = _key(record["context"], record["task"])
                    self._saved[key].append(record["result"])
                except (ValueError, KeyError, TypeError):
                    continue  # cut short by a kill: measured again
            if text and not text.endswith("\n"):
                with open(path, "a", encoding="utf-8") as f:
                    f.write("\n")  # the next line must not join a cut one
        else:
            directory = os.path.dirname(path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            open(path, "w", encoding="utf-8").close()

    def get(self, task):
        """The saved result for this occurrence of `task`, or None."""
        key = _key(self.context, task)
        index = self._asked[key]
        self._asked[key] += 1
        saved = self._saved.get(key, [])
        if index < len(saved):
            self.reused += 1
            return saved[index]
        return None

    def add(self, task, result):
        """Appends one finished measurement and syncs it to disk."""
        line = json.dumps(
            {"context": self.context, "task": task, "result": result}
        )
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
