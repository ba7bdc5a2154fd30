#!/usr/bin/env bash
# The simulators adapted from other projects that need a Python environment of their own
# (robot_rl/envs/; docs/ENVS.md). Each gets a virtual environment beside .venv, which its mapping's
# `python:` names; robot_rl runs the env there, in a process of its own (robot_rl/sim/gym_worker.py).
#   gym-hil 0.1.14 (LeRobot's HIL-SERL simulator) pins mujoco < 3.9; on this project's MuJoCo 4 it
#   fails (MjData has no qM). Its gamepad/keyboard/viewer dependencies (hidapi, pygame, pynput,
#   imageio) are left out: only its base envs are used.
# Idempotent; install.sh runs it. Any failing step stops with a clear message.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${ROBOT_RL_GYM_HIL_VENV:-.venv-gym-hil}
fail() { echo "install_envs.sh: error: $*" >&2; exit 1; }

echo "==> gym-hil in $VENV (its own MuJoCo < 3.9)"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV" || fail "could not create $VENV"
fi
"$VENV/bin/python" -m pip install -q --progress-bar off "mujoco>=3.8,<3.9" "gymnasium>=1.0,<2" "numpy>=1.26" \
  || fail "pip install mujoco<3.9 gymnasium numpy into $VENV failed (see above)"
"$VENV/bin/python" -m pip install -q --progress-bar off --no-deps "gym-hil==0.1.14" \
  || fail "pip install gym-hil into $VENV failed (see above)"
MUJOCO_GL=${MUJOCO_GL:-egl} "$VENV/bin/python" -c "import gymnasium, gym_hil; gymnasium.make('gym_hil/PandaPickCubeBase-v0').close()" \
  || fail "gym-hil does not start in $VENV (see above)"
echo "    gym-hil ready: $("$VENV/bin/python" -c 'import mujoco, gym_hil; print("mujoco", mujoco.__version__)')"
