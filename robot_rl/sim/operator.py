"""A simulated operator at the teleop device: the scripted expert (mode "expert": demonstrations
record unattended) or the simulated human corrector (mode "corrector": it watches the running
policy's actions and takes over when they go wrong, as in an RL session with human corrections).

It sees the scene (the simulator's privileged state, as a person sees the table) and gives what a
teleop device gives (robot_rl.teleop.TeleopCommand): an action [dx, dy, dz, dyaw, grip] in [-1, 1],
whether it is driving, and operator events. Like a person, it presses `success` once the task has
held for a moment, and `failure` when the task's failure predicate holds (the scene can no longer
succeed) or the episode runs out of steps. The simulator node publishes
its commands on the teleop topics (ros_nodes/sim_robot.py, parameter operator:=expert). Like a
person waiting for the recorder's "go", it keeps still after a reset until start() is called.
"""
from __future__ import annotations

import time
from typing import Optional

import numpy as np

from robot_rl.sim.corrector import CorrectorConfig, SimulatedHuman
from robot_rl.sim.experts import make_expert
from robot_rl.sim.server import SimServer
from robot_rl.teleop.base import TeleopCommand


class SimOperator:
    def __init__(self, server: SimServer, noise_std: float = 0.0, success_hold_steps: int = 3,
                 seed: Optional[int] = None, mode: str = "expert",
                 corrector: Optional[CorrectorConfig] = None) -> None:
        if success_hold_steps < 1:
            raise ValueError("success_hold_steps must be >= 1")
        if mode not in ("expert", "corrector"):
            raise ValueError(f"mode must be expert or corrector, got {mode!r}")
        self.server, self.mode = server, mode
        self.expert = make_expert(server.env, noise_std=noise_std, seed=seed)
        self.human = SimulatedHuman(server.env, corrector, seed=seed) if mode == "corrector" else None
        self.policy_action: Optional[np.ndarray] = None
        self.intervening = False
        self.success_hold_steps = success_hold_steps
        self.reset()

    def reset(self) -> None:
        """A new episode (after the simulator's reset)."""
        self.expert.reset()
        if self.human is not None:
            self.human.reset()
        self.policy_action = None
        self.intervening = False
        self.success_steps = 0
        self.ended = False
        self.started = False

    def observe_policy(self, action: np.ndarray) -> None:
        """corrector: the running policy's latest action (from the control node's step record)."""
        self.policy_action = np.asarray(action, dtype=np.float64)

    def start(self) -> None:
        """The episode is being recorded: drive."""
        self.started = True

    def command(self) -> TeleopCommand:
        """What the operator does now, given the scene after the last step."""
        if not self.started:  # still, gripper as the task starts it
            grip = 2.0 * self.server.env.task.start_gripper - 1.0
            return TeleopCommand(action=np.array([0.0, 0.0, 0.0, 0.0, grip]), intervening=False, events=[],
                                 t_ns=time.monotonic_ns())
        env = self.server.env
        info = {"state": env.privileged_state(), "success": self.server.success}
        events: list[str] = []
        if self.human is None:
            action, intervening = np.asarray(self.expert.act({}, info), dtype=np.float64), True
        elif self.policy_action is None or not np.all(np.isfinite(self.policy_action)):
            action, intervening = np.zeros(5), False    # no policy seen yet: watch
        else:
            action, intervening = self.human.act(self.policy_action, {}, info)
            if intervening != self.intervening:
                events.append("intervention_on" if intervening else "intervention_off")
        self.intervening = intervening
        if not self.ended:
            self.success_steps = self.success_steps + 1 if self.server.success else 0
            if self.success_steps >= self.success_hold_steps:
                events, self.ended = ["success"], True
            elif self.server.failure or env.steps >= env.max_steps:
                events, self.ended = ["failure"], True
        return TeleopCommand(action=action, intervening=intervening, events=events, t_ns=time.monotonic_ns())
