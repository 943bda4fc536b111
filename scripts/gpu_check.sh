#!/usr/bin/env bash
# The GPU check: gpu-marked tests, every notebook at smoke on CUDA, each benchmark at GPU sizes; writes
# reports/gpu_check.json and prints a table (device, figures, targets, met). The logic is replib.gpucheck.
#   scripts/gpu_check.sh [--device cuda|cuda:N] [--only tests,notebooks,ifd,meo,padnet,rl,sparseadapter]
#   scripts/gpu_check.sh --dry-run      # the same pipeline on the CPU at toy sizes, in seconds
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help) sed -n '2,5p' "$0"; exit 0 ;; esac
if [ -z "${VIRTUAL_ENV:-}" ] && [ -z "${CONDA_PREFIX:-}" ] && [ -x .venv/bin/python ]; then
  . .venv/bin/activate
fi
export REPLIB_ROOT="$PWD"
exec python -m replib.gpucheck "$@"
