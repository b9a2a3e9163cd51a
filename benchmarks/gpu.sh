#!/usr/bin/env bash
# The paper's Table 3 grid on one GPU, with JAX (or PyTorch) and no TensorFlow.
#
#   bash benchmarks/gpu.sh              # KERAS_BACKEND=jax (default)
#   KERAS_BACKEND=torch bash benchmarks/gpu.sh
#   bash benchmarks/gpu.sh --ns 512,1024 --repeats 2    # extra options of
#                                                       # benchmarks.attention
#   ALLOW_CPU=1 OUT=bench_results/gpu-dry-run bash benchmarks/gpu.sh \
#       --ns 256 --ks 32 --num-layers 1                 # a dry run on CPU
#
# Runs from this source tree without installing the package (its
# dependencies name TensorFlow, which a JAX machine does not need for the
# benchmark): `python -m benchmarks.attention --projection linear` (the
# paper's Table 3: Linformer, layerwise sharing, linear projection; pass
# `--projection sliding_max` for the backbone's default) against
# keras_hub's RobertaBackbone under the same backend, 12 layers at base
# widths (hidden 768, 12 heads, feed-forward 3072), batch 1, forward pass;
# peak memory from the backend's allocator (JAX `memory_stats()`,
# `torch.cuda.max_memory_allocated`). Needs keras and keras-hub: if they
# are missing, put their wheels (and any missing dependency's) in
# benchmarks/wheels/ first, e.g. on a machine with internet:
#   pip download keras keras-hub --no-deps -d benchmarks/wheels
# They are installed into benchmarks/.gpu_site (not the system).
#
# Writes results/benchmarks/table3-gpu-<backend>/results.json, grid.csv,
# bench.png and report.txt (OUT=... picks another folder). Each worker
# process costs about 20 s on an H200 (JAX's start, the compile of 12
# layers), so the whole grid (29 processes) takes about 10 minutes: where one
# command may run less, run it again with `--resume`: each measurement is
# kept in OUT/measurements.jsonl as it finishes, and only the missing ones
# run (or split it: `--ns 512,1024,2048`, then `--ns 4096,8192`).
# `--no-bound` saves 5 processes.
set -euo pipefail
cd "$(dirname "$0")/.."
export KERAS_BACKEND="${KERAS_BACKEND:-jax}"
export XLA_PYTHON_CLIENT_PREALLOCATE=false
PYTHON="${PYTHON:-python3}"
SITE="benchmarks/.gpu_site"

if ! "$PYTHON" -c "import keras, keras_hub" 2>/dev/null; then
  if compgen -G "benchmarks/wheels/*.whl" > /dev/null; then
    "$PYTHON" -m pip install --quiet --no-deps --target "$SITE" benchmarks/wheels/*.whl
  else
    echo "gpu.sh: keras and keras-hub are not importable and benchmarks/wheels/ holds no wheels." >&2
    exit 2
  fi
fi
export PYTHONPATH="$PWD:$PWD/$SITE${PYTHONPATH:+:$PYTHONPATH}"

"$PYTHON" - <<'EOF'
import os, sys
backend = os.environ["KERAS_BACKEND"]
if backend == "jax":
    import jax
    ok = jax.default_backend() == "gpu"
    what = jax.devices()
elif backend == "torch":
    import torch
    ok = torch.cuda.is_available()
    what = torch.cuda.get_device_name(0) if ok else "no CUDA device"
else:
    sys.exit(f"gpu.sh runs on jax or torch, not {backend!r}")
print(f"gpu.sh: {backend} on {what}", flush=True)
if not ok and os.environ.get("ALLOW_CPU") != "1":
    sys.exit("gpu.sh: no GPU visible to the backend (ALLOW_CPU=1 runs anyway)")
EOF

OUT="${OUT:-results/benchmarks/table3-gpu-${KERAS_BACKEND}}"
mkdir -p "$OUT"
# --dropout 0: keras's MultiHeadAttention (the baseline's) takes the fused
# dot_product_attention only without dropout, as LinformerAttention does at
# inference; inference numbers do not depend on the rate. One memory run a
# model keeps the grid within 8 minutes (pass --memory-runs 3 for the
# spread).
"$PYTHON" -m benchmarks.attention --projection linear --num-layers 12 \
  --repeats 3 --timeout 600 --dropout 0 --memory-runs 1 --output-dir "$OUT" \
  "$@" | tee "$OUT/report.txt"
echo "gpu.sh: wrote $OUT"
