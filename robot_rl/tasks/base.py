"""What a task is (a plug-in: robot_rl.tasks finds it by name, entry point or dotted path): the
objects it adds to the scene, how the seed places them, success, a progress measure, the privileged
state its scripted expert reads, and that expert; for the learner, labelers (episode -> per-step
columns) and auxiliary heads that learn from them (robot_rl.learn.aux).

Every random draw comes from the generator the environment seeds, in a fixed order, so a seed
fully determines object and start poses.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional, Sequence

import mujoco
import numpy as np


@dataclasses.dataclass(frozen=True)
class Labeler:
    """Episode -> `width` per-step columns (float32 [L, width], NaN where unknown) that the sampler
    carries as batch["labels"][name]. `fn(steps, success)`: steps holds the episode's recorded step
    columns (obs, executed_action, action, intervention, reward, ...), success its label."""
    width: int
    fn: Callable[[Mapping[str, np.ndarray], bool], np.ndarray]

    def __call__(self, steps: Mapping[str, np.ndarray], success: bool) -> np.ndarray:
        n = len(steps["obs"])
        out = np.asarray(self.fn(steps, success), np.float32)
        if out.shape != (n, self.width):
            raise ValueError(f"labeler returned shape {out.shape}, expected ({n}, {self.width})")
        return out


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

    def failure(self, model: mujoco.MjModel, data: mujoco.MjData, ee_pos: np.ndarray) -> bool:
        """Whether the scene can no longer succeed (an object out of the robot's reach, a part
        broken): the episode ends at once as a failure (terminated, as on success) instead of
        running to its step limit. Never by default."""
        return False

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

    # --- for the learner (robot_rl.learn.aux) -------------------------------------------------------
    def labelers(self) -> dict[str, Labeler]:
        """Per-step columns made from each recorded episode, by name (none by default)."""
        return {}

    def aux_head(self, name: str, columns: Sequence[int], proprio_dim: int, hidden: int,
                 options: Mapping[str, Any]):
        """The auxiliary head `name` (a robot_rl.learn.aux.AuxHead) on these encoder feature
        columns (the configured cameras' image features); `options` are the config's for it."""
        raise ValueError(f"task {self.name} has no auxiliary head {name!r}")

    def default_aux(self) -> dict[str, dict[str, Any]]:
        """The auxiliary heads a session's learner trains for this task when its config names none
        (`learner.aux`), by name: each an AuxConfig's fields (robot_rl.learn.config). None by default."""
        return {}




def start_pose(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A random start for the tool: above the middle of the table, tool down, slightly turned."""
    pos = np.array([rng.uniform(0.30, 0.42), rng.uniform(-0.10, 0.10), rng.uniform(0.16, 0.24)])
    return pos, float(rng.uniform(-0.3, 0.3))


