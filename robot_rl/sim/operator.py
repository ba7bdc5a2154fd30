"""A simulated operator: the scripted expert at the teleop device, so demonstrations record unattended.

It sees the scene (the simulator's privileged state, as a person sees the table) and gives what a
teleop device gives (robot_rl.teleop.TeleopCommand): an action [dx, dy, dz, dyaw, grip] in [-1, 1],
whether it is driving, and operator events. Like a person, it presses `success` once the task has
held for a moment, and `failure` when the episode runs out of steps. The simulator node publishes
its commands on the teleop topics (ros_nodes/sim_robot.py, parameter operator:=expert). Like a
person waiting for the recorder's "go", it keeps still after a reset until start() is called.
"""
from __future__ import annotations

import time
from typing import Optional

import numpy as np

from robot_rl.sim.experts import make_expert
from robot_rl.sim.server import SimServer
from robot_rl.teleop.base import TeleopCommand


class SimOperator:
    def __init__(self, server: SimServer, noise_std: float = 0.0, success_hold_steps: int = 3,
                 seed: Optional[int] = None) -> None:
        if success_hold_steps < 1:
            raise ValueError("success_hold_steps must be >= 1")
        self.server = server
        self.expert = make_expert(server.env, noise_std=noise_std, seed=seed)
        self.success_hold_steps = success_hold_steps
        self.reset()

    def reset(self) -> None:
        """A new episode (after the simulator's reset)."""
        self.expert.reset()
        self.success_steps = 0
        self.ended = False
        self.started = False

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
        info = {"state": env.task.state(env.model, env.data), "success": self.server.success}
        action = np.asarray(self.expert.act({}, info), dtype=np.float64)
        events: list[str] = []
        if not self.ended:
            self.success_steps = self.success_steps + 1 if self.server.success else 0
            if self.success_steps >= self.success_hold_steps:
                events, self.ended = ["success"], True
            elif env.steps >= env.max_steps:
                events, self.ended = ["failure"], True
        return TeleopCommand(action=action, intervening=True, events=events, t_ns=time.monotonic_ns())
