"""The tables the fine-tuning and serving benchmarks print, from their
recorded results in results/benchmarks/: the same figures and ratios."""

import argparse
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
RESULTS = os.path.join(ROOT, "results", "benchmarks")


def _recorded(folder, name):
    path = os.path.join(RESULTS, folder, name)
    with open(path + ".json") as f:
        data = json.load(f)
    with open(path + ".txt") as f:
        return data, f.read()


@pytest.mark.parametrize("projection", ["sliding_max", "max"])
def test_length_buckets_table_reprints_the_recorded_one(projection):
    from benchmarks import length_buckets

    data, printed = _recorded("length-buckets", projection)
    short_length = data["settings"]["short_length"]
    assert length_buckets.table(data["results"], short_length) in printed


@pytest.mark.parametrize("projection", ["sliding_max", "max"])
def test_serving_latency_table_reprints_the_recorded_one(projection):
    from benchmarks import serving_latency

    data, printed = _recorded("serving-latency", projection)
    args = argparse.Namespace(**data["settings"])
    assert serving_latency.table(data["results"], args) in printed
