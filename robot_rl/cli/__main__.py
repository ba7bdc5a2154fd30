"""`python -m robot_rl.cli`: the same as `robot-rl`."""
import sys

from robot_rl.cli import main

if __name__ == "__main__":   # not when a tool imports every module (tests/test_ros_env.py)
    sys.exit(main())
