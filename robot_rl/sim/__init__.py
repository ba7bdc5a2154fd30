"""MuJoCo simulator: a light arm in a table scene, tasks, differential IK and a Gymnasium env."""
from __future__ import annotations

from robot_rl.sim.env import RobotEnv, SimConfig  # (robot_rl/__init__ sets MUJOCO_GL=egl first)
from robot_rl.sim.model import RobotModelConfig, robot_config
from robot_rl.sim.tasks import TASKS


def make(task: str = "pick_cube", robot: str | RobotModelConfig = "arm6", **overrides) -> RobotEnv:
    """A RobotEnv for `task` with the builtin robot (arm6, arm7) or a RobotModelConfig."""
    rcfg = robot_config(robot) if isinstance(robot, str) else robot
    return RobotEnv(SimConfig(task=task, robot=rcfg, **overrides))


__all__ = ["RobotEnv", "SimConfig", "RobotModelConfig", "TASKS", "make", "robot_config"]
