"""What a task is (a plug-in: robot_rl.tasks finds it by name, entry point or dotted path): the
objects it adds to the scene, how the seed places them, success, a progress measure, the privileged
state its scripted expert reads, and that expert.

Every random draw comes from the generator the environment seeds, in a fixed order, so a seed
fully determines object and start poses.
"""
from __future__ import annotations

from typing import Optional

import mujoco
import numpy as np


class Task:
    name = "task"
    max_steps = 100
    start_gripper = 1.0   # 1 open, 0 closed
    # the scripted expert (a robot_rl.sim.experts.Expert subclass) for demonstrations and the
    # simulated human; None: the task has none (demonstrations come from a person)
    expert: Optional[type] = None

    def build(self, spec: mujoco.MjSpec, ee_body: str, site_pos: np.ndarray, site_quat: np.ndarray) -> None:
        """Add the task's bodies. ee_body holds the end-effector site at site_pos/site_quat."""
        raise NotImplementedError

    def bind(self, model: mujoco.MjModel) -> None:
        """Look up ids once the model is compiled."""

    def reset(self, model: mujoco.MjModel, data: mujoco.MjData, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """Place objects; return the start end-effector (position, yaw)."""
        raise NotImplementedError

    def success(self, model: mujoco.MjModel, data: mujoco.MjData, ee_pos: np.ndarray) -> bool:
        raise NotImplementedError

    def reward(self, model: mujoco.MjModel, data: mujoco.MjData, ee_pos: np.ndarray) -> float:
        """The reward of the step that led here (the sim robot publishes it on /reward, the recorder
        stores it): sparse success by default; a task may shape it."""
        return float(self.success(model, data, ee_pos))

    def state(self, model: mujoco.MjModel, data: mujoco.MjData) -> dict[str, np.ndarray]:
        """Privileged object state, for scripted experts and the simulated human (never the policy)."""
        return {}

    def progress(self, model: mujoco.MjModel, data: mujoco.MjData, ee_pos: np.ndarray, gripper_opening: float) -> float:
        """How far along the task the scene is, in metres, higher is better: what a person watching
        sees as "getting there" whatever route the robot takes (the simulated human's progress judge).
        gripper_opening: 1 open, 0 closed."""
        raise NotImplementedError




def start_pose(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A random start for the tool: above the middle of the table, tool down, slightly turned."""
    pos = np.array([rng.uniform(0.30, 0.42), rng.uniform(-0.10, 0.10), rng.uniform(0.16, 0.24)])
    return pos, float(rng.uniform(-0.3, 0.3))


