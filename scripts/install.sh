#!/usr/bin/env bash
# Install robot_rl on a fresh Debian/Ubuntu machine with Python >= 3.11:
#   1. the Debian libraries the stack loads at run time (libusb for pyrealsense2; EGL/OSMesa for
#      headless MuJoCo rendering; iproute2 and nftables for the two-host tests' lossy, slow link),
#      only those not installed yet;
#   2. a virtual environment in .venv (override with ROBOT_RL_VENV);
#   3. robot_rl with its test extras, editable, into it;
#   4. the simulators from other projects that need an environment of their own
#      (scripts/install_envs.sh: gym-hil in .venv-gym-hil);
#   5. `robot-rl doctor` to check the result.
# Idempotent: a second run installs nothing new. Any failing step stops with a clear message.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${ROBOT_RL_VENV:-.venv}
PYTHON=${PYTHON:-python3}
APT_PACKAGES=(libusb-1.0-0 libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6 libopengl0 libgl1 iproute2 nftables)

step() { echo "==> $*"; }
fail() { echo "install.sh: error: $*" >&2; exit 1; }

step "checking Python"
command -v "$PYTHON" >/dev/null || fail "$PYTHON not found; set PYTHON=/path/to/python3.11"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || fail "$PYTHON is $("$PYTHON" -V 2>&1); robot_rl needs Python >= 3.11 (set PYTHON=...)"

step "checking Debian packages: ${APT_PACKAGES[*]}"
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || fail "missing ${missing[*]} and no apt-get here; install them with your package manager"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || fail "missing ${missing[*]}; run as root or install sudo"
    SUDO=sudo
  fi
  step "installing ${missing[*]}"
  $SUDO apt-get update -qq || fail "apt-get update failed (network or sources.list?)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || fail "apt-get install ${missing[*]} failed"
else
  echo "    all present"
fi

step "virtual environment in $VENV"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV" || fail "could not create $VENV (Debian: apt-get install python3-venv)"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip || fail "could not upgrade pip in $VENV"

step "installing robot_rl and its dependencies (torch CPU, ROS 2 wheels, MuJoCo, ...; first run takes a few minutes)"
"$VENV/bin/python" -m pip install --progress-bar off -q -e ".[test]" || fail "pip install -e .[test] failed (see above)"

step "simulators with environments of their own (scripts/install_envs.sh)"
PYTHON="$PYTHON" bash scripts/install_envs.sh || fail "scripts/install_envs.sh failed (see above)"

step "checking the installation (robot-rl doctor)"
"$VENV/bin/robot-rl" doctor || fail "robot-rl doctor found problems (see above)"
echo "==> done: activate with 'source $VENV/bin/activate', or call $VENV/bin/robot-rl"
