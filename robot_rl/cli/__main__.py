"""`python -m robot_rl.cli`: the same as `robot-rl`."""
import sys

from robot_rl.cli import main

sys.exit(main())
