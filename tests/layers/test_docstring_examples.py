"""The docstring examples of the layers and of the projection kinds (and of
the length buckets that document them) run as written and print what they
show."""

import doctest
import importlib

import pytest

MODULES = [
    "keras_linformer.projections",
    "keras_linformer.layers.sequence_projection",
    "keras_linformer.layers.linformer_attention",
    "keras_linformer.layers.linformer_encoder",
    "keras_linformer.layers.projection_sharing",
    "keras_linformer.length_buckets",
]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_run(module_name):
    module = importlib.import_module(module_name)
    tests = [t for t in doctest.DocTestFinder().find(module) if t.examples]
    assert tests, f"{module_name} has no docstring example"
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    report = []
    for test in tests:
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
