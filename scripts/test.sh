#!/usr/bin/env bash
# Run the test suite in the environment robot_rl's ROS processes use (set before Python starts, so
# the ROS wheels' bootstrap never re-executes pytest). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ROBOT_RL_VENV:-.venv}
[ -x "$VENV/bin/robot-rl" ] || { echo "test.sh: $VENV not installed; run: bash scripts/install.sh" >&2; exit 1; }
eval "$("$VENV/bin/robot-rl" env)"
exec "$VENV/bin/python" -m pytest "$@"
