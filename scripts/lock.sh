#!/usr/bin/env bash
# scripts/lock.sh: re-lock the exact versions after a change of pyproject.toml's dependencies or
# of requirements/peers.in (pip-compile, from pip-tools). Pins that still fit are kept; add
# --upgrade (or --upgrade-package NAME) to move them. Then `bash scripts/setup_env.sh`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. .venv/bin/activate
export CUSTOM_COMPILE_COMMAND="bash scripts/lock.sh"
opts=(--quiet --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links "$@")
pip-compile "${opts[@]}" --extra train,synth,dev,ros-wheels -o requirements/dev.txt pyproject.toml
pip-compile "${opts[@]}" -o requirements/peers.txt requirements/peers.in
