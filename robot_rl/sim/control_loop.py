"""The control node's step, in process: ControlCore (policy or human -> safety layer -> command)
driving the simulated robot's command interface (SimServer: the same validation, IK and hold as the
sim robot node behind ROS), one control period per step on a simulated clock.

The session's evaluation and the in-process rollout (tests, benchmarks, the learning benchmark) run
this, so a policy meets the same clamps, limits and holds as on the robot's ROS graph, and the
executed action they record is what the safety layer let through.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from robot_rl.control.core import ControlCore, StepRecord, robot_control
from robot_rl.control.safety import SafetyLayer
from robot_rl.control.watchdog import Watchdog
from robot_rl.robot.features import layout, widen
from robot_rl.robot.kinematics import ee_state, tool_quat
from robot_rl.sim.env import RobotEnv
from robot_rl.sim.gym_env import GymRobotEnv


class SimControlLoop:
    def __init__(self, env: "RobotEnv | GymRobotEnv", policy: Any = None, mode: str = "") -> None:
        """`policy`: obs -> action (None: only a human's actions drive). `mode`: the command mode
        (ee or joint; "": the robot description's)."""
        self.env, self.policy = env, policy
        d = env.description
        self.mode = mode or d.command.mode
        limits = {"joint_lower": env.robot.lower.tolist(), "joint_upper": env.robot.upper.tolist()} if self.mode == "joint" else {}
        self.safety_cfg, self.to_command = robot_control(d, env.cfg.control_hz, self.mode, **limits)
        self.layout = layout(d)
        self.server = env.server()   # the sim robot node's checks and limits
        self.period_ns = int(round(1e9 / env.cfg.control_hz))
        self.t_ns = 0
        self.core: Optional[ControlCore] = None

    @property
    def action_dim(self) -> int:
        return self.safety_cfg.action_dim

    def reset(self, seed: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """A new episode: the scene for `seed`, a fresh safety layer (as after a reset on the robot)."""
        self.server.reset(seed)
        obs, info = self.server.obs, self.server.info
        safety = SafetyLayer(self.safety_cfg, self.period_ns / 1e9)
        if self.layout.has_gripper:
            safety.gripper_at_rest = 2.0 * float(obs["proprio"][self.layout.gripper]) - 1.0
        # in process, every input is as fresh as the step that made it: a watchdog with no inputs
        self.core = ControlCore(self.policy, safety, Watchdog({}, 0.0), self.to_command)
        if hasattr(self.policy, "reset"):   # a chunked policy starts each episode without old chunks
            self.policy.reset()
        return obs, info

    def state(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """What commands are relative to, as the control node measures it: the tool pose (ee modes:
        [x, y, z, yaw] or [x, y, z, roll, pitch, yaw], from the simulator's tool site) or q (joint)."""
        if self.mode == "joint":
            return np.asarray(obs["proprio"][self.layout.q], dtype=np.float64)
        return ee_state(self.env.home_quat, *self.env.tool_pose(), self.mode)

    def step(self, obs: dict[str, np.ndarray], human_action: Optional[np.ndarray] = None,
             ran: Optional[tuple[Any, Any]] = None):
        """One tick: (step record, obs, terminated, truncated, info) as gymnasium's step returns them."""
        assert self.core is not None, "reset() first"
        self.t_ns += self.period_ns
        # the expert acts in ee with a gripper value: as this robot's action
        human = None if human_action is None else widen(human_action, self.mode, self.safety_cfg.gripper)
        rec = self.core.tick(self.t_ns, obs, self.state(obs), human, ran)
        self.send(rec)
        return (rec, *self.advance())

    def send(self, rec: StepRecord) -> None:
        """The record's command to the robot, as the control node publishes it (None: nothing)."""
        cmd, server = rec.command, self.server
        if cmd is None:
            return
        target, grip = self.to_command.split(cmd)
        if self.mode != "joint":
            server.command_ee(target[:3], tool_quat(self.env.home_quat, target[3:]), grip)
        else:
            server.command_joints(target, grip)

    def advance(self):
        self.server.step()
        return self.env.step_result(self.server.reward, bool(self.server.success), bool(self.server.failure))
