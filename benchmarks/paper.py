"""The paper's reference figures: Table 3 of Wang et al. 2020 (arXiv 2006.04768).

Inference time and memory of a standard Transformer divided by those of a
Linformer of the same size with layerwise sharing, for sequence length n
(rows) and projected dimension k (columns). Larger is better for Linformer.
"""

#: Time saved (standard time / Linformer time), by n then k.
PAPER_TIME_RATIO = {
    512: {128: 1.5, 256: 1.3},
    1024: {128: 1.7, 256: 1.6, 512: 1.3},
    2048: {128: 2.6, 256: 2.4, 512: 2.1, 1024: 1.3},
    4096: {128: 3.4, 256: 3.2, 512: 2.8, 1024: 2.2, 2048: 1.3},
    8192: {128: 5.5, 256: 5.0, 512: 4.4, 1024: 3.5, 2048: 2.1},
}

#: Memory saved (standard memory / Linformer memory), by n then k.
PAPER_MEMORY_RATIO = {
    512: {128: 1.7, 256: 1.5},
    1024: {128: 3.0, 256: 2.9, 512: 1.8},
    2048: {128: 6.1, 256: 5.6, 512: 3.6, 1024: 2.0},
    4096: {128: 14.0, 256: 13.0, 512: 8.3, 1024: 4.3, 2048: 2.3},
    8192: {128: 28.0, 256: 26.0, 512: 17.0, 1024: 8.5, 2048: 4.5},
}

#: The sequence lengths and projected dimensions of Table 3.
PAPER_NS = tuple(PAPER_TIME_RATIO)
PAPER_KS = (128, 256, 512, 1024, 2048)

#: Sequence lengths of `--long` (standard attention does not fit there);
#: 4096 is the reference point of the linear-growth target.
LONG_NS = (4096, 16384, 32768, 65536)

#: Targets of the benchmark (issue 6).
LONG_GROWTH_TARGET = 1.20  # time per token at 65536 / at 4096, at most
EFFICIENCY_TARGET = 0.70  # attention FLOP/s / matmul FLOP/s, for n >= 4096
EFFICIENCY_MIN_N = 4096


def paper_grid():
    """The (n, k) pairs of Table 3, in reading order."""
    return [(n, k) for n, row in PAPER_TIME_RATIO.items() for k in row]


def paper_ratio(table, n, k):
    """The paper's ratio for (n, k), or `None` where the paper has no cell."""
    return table.get(n, {}).get(k)
