"""MuJoCo simulator: any described robot (robot_rl.robot) in a table scene, tasks and a Gymnasium env."""
from __future__ import annotations

from robot_rl.robot import DEFAULT_ROBOT
from robot_rl.tasks import DEFAULT_TASK
from robot_rl.sim.env import RobotEnv, SimConfig  # (robot_rl/__init__ sets MUJOCO_GL=egl first)


def make(task: str = DEFAULT_TASK, robot: str = DEFAULT_ROBOT, **overrides) -> RobotEnv:
    """A RobotEnv for `task` with a robot by builtin name or description YAML path."""
    return RobotEnv(SimConfig(task=task, robot=robot, **overrides))


__all__ = ["RobotEnv", "SimConfig", "make"]
