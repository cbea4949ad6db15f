# Sourced by scripts/*.sh: set up the environment (idempotent, seconds when already done) and
# load it (venv + colcon workspace). Sets REPO and changes to it.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash scripts/setup_env.sh
set +u
# shellcheck disable=SC1091
. "$REPO/env.sh"
set -u
