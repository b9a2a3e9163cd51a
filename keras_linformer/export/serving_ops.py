"""The ops outside core TensorFlow that an export may use, and which TF
Serving releases run them.

TF Serving links the tensorflow-text kernels (`ops_lib`) of the
tensorflow-text version it pins into the model server. Releases 2.13 to
2.19 pin tensorflow-text 2.12.1, which has every op below but
`TFText>RoundRobinTrim` (tensorflow/serving issue 2267); 2.20 has them
all. Versions before 2.13 are not checked here.

Which exports use which is listed in examples/serving/README.md;
tests/export checks every export's op list against this table.

Example:

>>> minimum_serving_version(["CaseFoldUTF8", "RegexSplitWithOffsets"])
(2, 13)
"""

# op type -> the oldest TF Serving release (major, minor) known to link it.
SERVING_TEXT_OPS = {
    "CaseFoldUTF8": (2, 13),
    "NormalizeUTF8": (2, 13),
    "RegexSplitWithOffsets": (2, 13),
    "FastWordpieceTokenizeWithOffsets": (2, 13),
    "TFText>RoundRobinTrim": (2, 20),
}
# The core TensorFlow ops of a model run on any server; the oldest release
# listed above is the floor.
OLDEST_CHECKED = (2, 13)


def minimum_serving_version(ops):
    """The oldest TF Serving release that links every op in `ops` (op types
    outside core TensorFlow).

    Raises:
        ValueError: naming an op that no TF Serving release here links.
    """
    unknown = sorted(op for op in ops if op not in SERVING_TEXT_OPS)
    if unknown:
        raise ValueError(
            f"Op(s) {unknown} are neither core TensorFlow nor tensorflow-text "
            f"ops that TF Serving links; known: {sorted(SERVING_TEXT_OPS)}."
        )
    return max([OLDEST_CHECKED] + [SERVING_TEXT_OPS[op] for op in ops])
