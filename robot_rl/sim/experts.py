"""Scripted experts: state machines on privileged state (`info["state"]`) that solve a task. Each
task names its own (`Task.expert`, robot_rl.tasks); this is their base and `make_expert`.

They make demonstrations and, with `noise_std` (Gaussian action noise) and `bias_m` (a fixed
per-episode error in where they think the object is), deliberately weak base policies. Their
actions are ordinary env actions, so anything that records a teleoperator records them the same way.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import numpy as np

if TYPE_CHECKING:
    from robot_rl.sim.env import RobotEnv


def nearest_yaw(target: float, current: float, period: float = np.pi / 2) -> float:
    """The yaw equivalent to `target` modulo the object's symmetry that is closest to `current`."""
    return target + period * np.round((current - target) / period)


class Expert:
    def __init__(self, env: "RobotEnv", noise_std: float = 0.0, bias_m: float = 0.0, seed: Optional[int] = None):
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


def make_expert(env: "RobotEnv", **kwargs) -> Expert:
    """The scripted expert of the env's task."""
    cls = env.task.expert
    if cls is None:
        raise ValueError(f"task {env.cfg.task!r} has no scripted expert: demonstrations come from a teleop device")
    return cls(env, **kwargs)


def run_episode(env: "RobotEnv", expert: Expert, seed: int) -> dict[str, Any]:
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
