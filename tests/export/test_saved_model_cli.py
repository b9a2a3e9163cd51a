"""`saved_model_cli show --all` lists the serving contract of each export."""

import os
import re
import shutil
import subprocess
import sys

import pytest
from serving_helpers import NUM_CLASSES

pytestmark = pytest.mark.slow

HIDDEN_DIM = 8
IDS = {
    "token_ids": ("DT_INT32", "(-1, -1)"),
    "padding_mask": ("DT_INT32", "(-1, -1)"),
}
TEXT = {"text": ("DT_STRING", "(-1)")}
CLASSES = {
    "probabilities": ("DT_FLOAT", f"(-1, {NUM_CLASSES})"),
    "label": ("DT_INT32", "(-1)"),
}
TOP_K = {
    "mask_positions": ("DT_INT32", "(-1, -1)"),
    "num_masked": ("DT_INT32", "(-1)"),
    "top_ids": ("DT_INT32", "(-1, -1, 5)"),
    "top_scores": ("DT_FLOAT", "(-1, -1, 5)"),
    "top_tokens": ("DT_STRING", "(-1, -1, 5)"),
}
EXPECTED = {
    "backbone": {
        "serving_default": (IDS, {"sequence_output": ("DT_FLOAT", f"(-1, -1, {HIDDEN_DIM})")}),
    },
    "classifier": {
        "serving_default": (TEXT, CLASSES),
        "predict_ids": (IDS, CLASSES),
    },
    "masked_lm": {
        "serving_default": (TEXT, TOP_K),
        "predict_ids": (IDS, TOP_K),
    },
}  # fmt: skip


def parse_show_all(text):
    """`(tag_sets, {signature: (inputs, outputs, method)})` of the output."""
    tag_sets = re.findall(r"MetaGraphDef with tag-set: '([^']*)'", text)
    signatures = {}
    blocks = re.split(r"\nsignature_def\['([^']+)'\]:\n", text)
    for name, block in zip(blocks[1::2], blocks[2::2]):
        inputs_part, _, outputs_part = block.partition("following output(s):")
        method = re.search(r"Method name is: (\S*)", outputs_part)

        def tensors(part):
            return {
                alias: (dtype, shape)
                for alias, dtype, shape in re.findall(
                    r"\['([^']+)'\] tensor_info:\s+dtype: (\S+)\s+shape: (.+)",
                    part,
                )
            }

        signatures[name] = (
            tensors(inputs_part),
            tensors(outputs_part),
            method.group(1) if method else None,
        )
    return tag_sets, signatures


def test_saved_model_cli_lists_signatures(exports):
    # tensorflow installs it beside the interpreter (a venv's bin/), which
    # need not be on PATH.
    beside = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    cli = beside if os.path.exists(beside) else shutil.which("saved_model_cli")
    if cli is None:
        pytest.skip(
            "saved_model_cli (installed with tensorflow) is neither beside "
            f"{sys.executable} nor on PATH"
        )
    processes = {
        kind: subprocess.Popen(
            [cli, "show", "--dir", exports[kind], "--all"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for kind in EXPECTED
    }
    for kind, process in processes.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-2000:]
        tag_sets, signatures = parse_show_all(stdout)
        assert tag_sets == ["serve"]
        signatures.pop("__saved_model_init_op", None)
        assert set(signatures) == set(EXPECTED[kind]), kind
        for name, (inputs, outputs) in EXPECTED[kind].items():
            got_inputs, got_outputs, method = signatures[name]
            assert got_inputs == inputs, (kind, name)
            assert got_outputs == outputs, (kind, name)
            assert method == "tensorflow/serving/predict"
