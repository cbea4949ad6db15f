#!/usr/bin/env bash
# scripts/test.sh — set up the environment (idempotent, seconds when already done) and run the
# whole test suite: `ruff check .`, the import contracts of .importlinter (`lint-imports`) and
# `python -m pytest -q` (extra arguments go to pytest).
# Fails when anything fails, including "no tests collected". .ci/run runs exactly this.
set -euo pipefail
T0=$(date +%s)
# shellcheck source=scripts/env_preamble.sh
. "$(dirname "${BASH_SOURCE[0]}")/env_preamble.sh"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

# run both stages even when the first fails, so one run shows every problem
echo "== ruff check ."
ruff_rc=0
ruff check . || ruff_rc=$?

echo "== lint-imports (layers and cycles, .importlinter)"
imports_rc=0
lint-imports --no-cache --no-logo || imports_rc=$?

echo "== pytest"
rc=0
python -m pytest -q "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
  echo "[test.sh] ERROR: pytest collected no tests" >&2
  rc=1
fi
if [ "$imports_rc" -ne 0 ]; then
  echo "[test.sh] ERROR: an import contract is broken (lint-imports above)" >&2
  [ "$rc" -ne 0 ] || rc=$imports_rc
fi
if [ "$ruff_rc" -ne 0 ]; then
  echo "[test.sh] ERROR: ruff check failed" >&2
  [ "$rc" -ne 0 ] || rc=$ruff_rc
fi
echo "[test.sh] finished in $(( $(date +%s) - T0 )) s with status $rc" >&2
exit "$rc"
