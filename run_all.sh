#!/usr/bin/env bash
# Execute every notebook (default profile: quick), write figures/ and reports/index.html.
#   ./run_all.sh [--profile smoke|quick|full] [--only meo,ifd] [--device auto|cpu|cuda|cuda:N] [--jobs N]
#                [--timeout SECONDS] [--no-setup]
set -euo pipefail
cd "$(dirname "$0")"
setup=1
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-setup) setup=0 ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    --profile|--only|--device|--jobs|--timeout)
      [ $# -ge 2 ] || { echo "error: $1 needs a value" >&2; exit 2; }
      args+=("$1" "$2"); shift ;;
    *) echo "error: unknown option $1 (see ./run_all.sh --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$setup" = 1 ]; then
  . scripts/setup_env.sh
elif [ -z "${VIRTUAL_ENV:-}" ] && [ -z "${CONDA_PREFIX:-}" ] && [ -x .venv/bin/python ]; then
  . .venv/bin/activate
fi
exec python -m replib.runner "${args[@]}"
