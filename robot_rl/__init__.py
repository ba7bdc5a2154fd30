"""robot_rl: the ROS-free core of the robot learning control stack.

Nothing under robot_rl/ imports rclpy; the thin ROS 2 glue lives in ros_nodes/.
"""
__version__ = "0.1.0"

import os as _os

# MuJoCo picks its OpenGL backend at import time: set the headless default before any module of
# ours (sim, calibration, benches) imports mujoco. A user's own MUJOCO_GL wins.
_os.environ.setdefault("MUJOCO_GL", "egl")
