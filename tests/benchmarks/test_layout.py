"""`benchmarks/` runs from a clone and stays out of the package: the
package never imports it, the wheel does not hold it, and every benchmark
starts from the repository root as `python -m benchmarks.<name>`."""

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
ENTRY_POINTS = (
    "attention",
    "bfloat16_memory",
    "length_buckets",
    "replicas",
    "serving_latency",
    "sliding_max",
)


def _imported_modules(path):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_the_package_does_not_import_the_benchmarks():
    offenders = []
    for folder, _, files in os.walk(os.path.join(ROOT, "keras_linformer")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                offenders += [
                    (os.path.relpath(path, ROOT), module)
                    for module in _imported_modules(path)
                    if module.split(".")[0] == "benchmarks"
                ]
    assert offenders == []


def test_the_wheel_holds_the_package_alone():
    import setuptools
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        find = tomllib.load(f)["tool"]["setuptools"]["packages"]["find"]
    packages = setuptools.find_packages(ROOT, include=find["include"])
    assert "keras_linformer" in packages
    assert all(p.split(".")[0] == "keras_linformer" for p in packages)


@pytest.mark.slow
@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_every_benchmark_starts_from_the_repository_root(name):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    run = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "usage:" in run.stdout
