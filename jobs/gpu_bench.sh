#!/usr/bin/env bash
# The real-size GPU benchmark on the lent GPU machine (docs/performance.md, "GPU benchmark at real size").
#
#   bash jobs/gpu_bench.sh download        # here: the wheels the GPU machine lacks -> .whl/ (.gitignore), ~62 MB
#   bash jobs/gpu_bench.sh run             # there: install them into /tmp/site, run, write $OUT/real.json + real.log
#   bash jobs/gpu_bench.sh run --dry-run   # the same at toy size on CPU (PYTHON=... picks the interpreter)
#
# The GPU machine's Python 3.12 has torch 2.11, transformers 5.x, peft, safetensors, pyarrow, accelerate, pyyaml,
# pandas, scipy, httpx, but no pydantic, no esm and no registry. m2t pins transformers 4.48.1 (esm 3.2.1.post1 needs
# < 4.48.2), so that version travels with the tokenizers and huggingface-hub it requires; peft travels too, so the
# transformers/peft pair is the one tested here. esm's model code imports its structure utilities (biotite,
# biopython, brotli, msgpack-numpy, cloudpathlib, zstd) at import time, so those travel as well.
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=(
  transformers==4.48.1 tokenizers==0.21.4 huggingface-hub==0.36.2 peft==0.21.2
  pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 typing-extensions==4.16.0
  esm==3.2.1.post1 biotite==1.0.1 biopython==1.88 brotli==1.2.1 zstd==1.5.6.1 cloudpathlib==0.26.0
  msgpack-numpy==0.4.8 tenacity==9.2.1
)

case "${1:-}" in
  download)
    mkdir -p .whl
    "${PYTHON:-python3}" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
      -d .whl "${WHEELS[@]}"
    ls -l .whl && du -ch .whl/*.whl | tail -1
    ;;
  run)
    shift
    PY="${PYTHON:-python3}"
    OUT="${OUT:-outputs/benchmark}"
    mkdir -p "$OUT"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
    { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true; "$PY" -c \
      'import torch, transformers, peft; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__, "peft", peft.__version__)'
    } 2>&1 | tee "$OUT/real.log"
    set -o pipefail
    "$PY" jobs/benchmark.py all --scale real --out "$OUT/real.json" "$@" 2>&1 | tee -a "$OUT/real.log"
    ;;
  *)
    echo "usage: bash jobs/gpu_bench.sh download | run [--dry-run]" >&2
    exit 2
    ;;
esac
