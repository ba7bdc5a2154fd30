"""Scripted experts: state machines on privileged state (`info["state"]`) that solve each task.

They make demonstrations and, with `noise_std` (Gaussian action noise) and `bias_m` (a fixed
per-episode error in where they think the object is), deliberately weak base policies. Their
actions are ordinary env actions, so anything that records a teleoperator records them the same way.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from robot_rl.sim.env import RobotEnv
from robot_rl.sim.tasks import CUBE_HALF, HOLE_DEPTH, PEG_BELOW_TIP


def _nearest_yaw(target: float, current: float, period: float = np.pi / 2) -> float:
    """The yaw equivalent to `target` modulo the object's symmetry that is closest to `current`."""
    return target + period * np.round((current - target) / period)


class Expert:
    def __init__(self, env: RobotEnv, noise_std: float = 0.0, bias_m: float = 0.0, seed: Optional[int] = None):
        self.env, self.noise_std, self.bias_m = env, noise_std, bias_m
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        self.goal: Optional[np.ndarray] = None  # where the expert is heading now
        self.phase = 0
        self.phase_steps = 0
        angle = self.rng.uniform(0, 2 * np.pi)
        self.bias = self.bias_m * np.array([np.cos(angle), np.sin(angle), 0.0])

    def _toward(self, pos: np.ndarray, yaw: float, target: np.ndarray, target_yaw: float, grip: float,
                max_step: float = 1.0) -> np.ndarray:
        self.goal = np.asarray(target, dtype=np.float64)
        cfg = self.env.cfg
        a = np.zeros(5)
        a[:3] = np.clip((target - pos) / cfg.max_pos_step, -max_step, max_step)
        a[3] = np.clip((target_yaw - yaw) / cfg.max_yaw_step, -1, 1)
        a[4] = grip
        if self.noise_std:
            a[:4] += self.rng.normal(0, self.noise_std, 4)
        return np.clip(a, -1, 1)

    def _next(self, done: bool) -> None:
        self.phase_steps += 1
        if done:
            self.phase += 1
            self.phase_steps = 0

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> np.ndarray:
        raise NotImplementedError

    def replan(self, info: dict[str, Any]) -> None:
        """Pick up the plan where the scene is (as a person taking over looks at the scene, not at
        where their own plan had got to): the phase whose start the scene has already reached.
        The base class starts over."""
        self.phase, self.phase_steps = 0, 0


class PickCubeExpert(Expert):
    """Above the cube, turn to its faces, descend, close, lift."""

    def _scene(self, info) -> tuple[np.ndarray, float, np.ndarray, float]:
        """Gripper position and yaw, where the expert thinks the cube is, the cube's nearest face yaw."""
        pos, yaw = self.env.ee_pose()
        return pos, yaw, info["state"]["cube_pos"] + self.bias, _nearest_yaw(float(info["state"]["cube_yaw"][0]), yaw)

    def act(self, obs, info):
        pos, yaw, cube, cube_yaw = self._scene(info)
        above = cube + [0, 0, 0.08]
        grasp = np.array([cube[0], cube[1], CUBE_HALF])
        if self.phase == 0:    # above the cube, turned to its faces, open
            a = self._toward(pos, yaw, above, cube_yaw, 1.0)
            self._next(np.linalg.norm(pos[:2] - above[:2]) < 0.004 and abs(pos[2] - above[2]) < 0.02
                       and abs(cube_yaw - yaw) < 0.04 or self.phase_steps > 40)
        elif self.phase == 1:  # straight down
            a = self._toward(pos, yaw, grasp, cube_yaw, 1.0, max_step=0.7)
            self._next(abs(pos[2] - grasp[2]) < 0.006 or self.phase_steps > 20)
        elif self.phase == 2:  # close and wait for the fingers to stop
            a = self._toward(pos, yaw, grasp, cube_yaw, -1.0)
            self._next(self.phase_steps >= 4)
        else:                  # lift
            a = self._toward(pos, yaw, grasp + [0, 0, 0.12], cube_yaw, -1.0)
        return a

    def replan(self, info):
        pos, yaw, cube, cube_yaw = self._scene(info)
        lined_up = np.linalg.norm(pos[:2] - cube[:2]) < 0.006 and abs(cube_yaw - yaw) < 0.06
        closing = self.env.gripper_opening() < 0.9
        if closing and info["state"]["cube_pos"][2] > CUBE_HALF + 0.005 and np.linalg.norm(pos - cube) < 0.03:
            phase = 3          # holding it off the table: lift
        elif lined_up and abs(pos[2] - CUBE_HALF) < 0.01:
            phase = 2          # at grasp height around it: close
        elif lined_up and pos[2] < cube[2] + 0.10:
            phase = 1          # over it, turned to its faces, at most 2 cm above the hover height: descend
        else:
            phase = 0
        self.phase, self.phase_steps = phase, 0


class PegInsertExpert(Expert):
    """Over the hole with the peg square to it, then down slowly."""

    def act(self, obs, info):
        pos, yaw = self.env.ee_pose()
        hole = info["state"]["hole_pos"] + self.bias
        target_yaw = _nearest_yaw(0.0, yaw)
        above = np.array([hole[0], hole[1], hole[2] + 0.02 + PEG_BELOW_TIP])
        inside = np.array([hole[0], hole[1], hole[2] - 0.03 + PEG_BELOW_TIP])
        if self.phase == 0:
            a = self._toward(pos, yaw, above, target_yaw, -1.0)
            self._next(np.linalg.norm(pos[:2] - above[:2]) < 0.0008 and abs(pos[2] - above[2]) < 0.01
                       and abs(target_yaw - yaw) < 0.01 or self.phase_steps > 60)
        else:
            target = np.array([above[0], above[1], inside[2]])
            a = self._toward(pos, yaw, target, target_yaw, -1.0, max_step=0.35)
        return a

    def replan(self, info):
        pos, yaw = self.env.ee_pose()
        hole = info["state"]["hole_pos"] + self.bias
        over = (np.linalg.norm(pos[:2] - hole[:2]) < 0.0008 and abs(_nearest_yaw(0.0, yaw) - yaw) < 0.01
                and pos[2] < hole[2] + 0.03 + PEG_BELOW_TIP)
        self.phase, self.phase_steps = (1 if over else 0), 0


EXPERTS = {"pick_cube": PickCubeExpert, "peg_insert": PegInsertExpert}


def make_expert(env: RobotEnv, **kwargs) -> Expert:
    return EXPERTS[env.cfg.task](env, **kwargs)


def run_episode(env: RobotEnv, expert: Expert, seed: int) -> dict[str, Any]:
    """One expert episode; returns success, steps and the per-step actions and proprio."""
    obs, info = env.reset(seed=seed)
    expert.reset()
    actions, proprio = [], [obs["proprio"]]
    terminated = truncated = False
    while not (terminated or truncated):
        a = expert.act(obs, info)
        obs, _, terminated, truncated, info = env.step(a)
        actions.append(a)
        proprio.append(obs["proprio"])
    return {"success": bool(info["success"]), "steps": env.steps, "actions": np.array(actions),
            "proprio": np.array(proprio)}
