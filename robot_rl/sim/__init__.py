"""MuJoCo simulator: a light arm in a table scene, tasks, differential IK and a Gymnasium env."""
from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering on CPU (docs: DESIGN.md)

from robot_rl.sim.env import RobotEnv, SimConfig  # noqa: E402
from robot_rl.sim.model import RobotModelConfig, robot_config  # noqa: E402
from robot_rl.sim.tasks import TASKS  # noqa: E402


def make(task: str = "pick_cube", robot: str | RobotModelConfig = "arm6", **overrides) -> RobotEnv:
    """A RobotEnv for `task` with the builtin robot (arm6, arm7) or a RobotModelConfig."""
    rcfg = robot_config(robot) if isinstance(robot, str) else robot
    return RobotEnv(SimConfig(task=task, robot=rcfg, **overrides))


__all__ = ["RobotEnv", "SimConfig", "RobotModelConfig", "TASKS", "make", "robot_config"]
