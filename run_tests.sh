#!/usr/bin/env bash
# Set up (as run_all.sh does), then run the unit, notebook-smoke and hygiene tests.
#   ./run_tests.sh [pytest args...]      e.g. ./run_tests.sh tests/unit -k meo
set -euo pipefail
cd "$(dirname "$0")"
. scripts/setup_env.sh
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"   # tests never need the hub; fail fast instead of timing out
exec python -m pytest -n "${PYTEST_WORKERS:-2}" --durations=10 "$@"
