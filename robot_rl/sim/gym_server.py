"""The sim robot's command interface on an adapted Gymnasium env (robot_rl.sim.gym_env)."""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from robot_rl.sim.gym_env import GymRobotEnv
from robot_rl.sim.server import CommandServer, SimServerConfig, check_ee_target, pinhole


class GymServer(CommandServer):
    """The sim robot's command interface (robot_rl.sim.server.SimServer's) on an adapted env:
    end-effector targets checked as SimServer checks them (finite, a unit quaternion, inside the
    workspace, no faster than max_ee_speed), each step the env's action that moves the tool to the
    target; a bad command is rejected, counted, and the robot holds where it is."""

    def __init__(self, env: GymRobotEnv, seed: int = 0, max_ee_speed: float = SimServerConfig.max_ee_speed) -> None:
        self.env, self.max_ee_speed = env, max_ee_speed
        self.period = 1.0 / env.map.control_hz
        self.cameras = list(env.cfg.cameras)
        self.start(seed)

    def reset(self, seed: Optional[int] = None) -> None:
        self.grip: Optional[float] = None   # the env's gripper is left as the reset made it
        super().reset(seed)

    def state(self) -> dict[str, Any]:
        """What a robot driver publishes (SimServer.state's keys); the env reports no joint efforts."""
        env = self.env
        pos, quat = env.tool_pose()
        return {"q": env.q, "qd": env.qd, "effort": np.zeros(env.description.n), "ee_pos": pos, "ee_quat_wxyz": quat,
                "gripper": env.gripper_opening(), "sim_time_ns": self.sim_time_ns(), "success": self.success}

    def images(self) -> dict[str, np.ndarray]:
        return {c: self.env.image(c) for c in self.cameras}

    def camera_intrinsics(self, camera: str) -> np.ndarray:
        """A pinhole camera of the mapping's vertical field of view (observation.fovy)."""
        return pinhole(*self.env.cfg.image_size, self.env.map.observation.fovy.get(camera, 45.0))

    def _hold(self) -> None:
        self.target, self.target_yaw = self.env.ee_pose()

    def command_joints(self, q: Any, gripper: Optional[float] = None) -> tuple[bool, str]:
        return self.reject("unsupported")   # an adapted env takes tool motions only

    def command_gripper(self, command: float) -> tuple[bool, str]:
        if not math.isfinite(command):
            return self.reject("not_finite")
        self.grip = float(command)
        self.accepted += 1
        return True, "ok"

    def command_ee(self, pos: Any, quat_wxyz: Any, gripper: Optional[float] = None) -> tuple[bool, str]:
        why, pos, quat = check_ee_target(pos, quat_wxyz, gripper, self.env.workspace_low, self.env.workspace_high,
                                         self.env.ee_pose()[0], self.max_ee_speed * self.period)
        if why:
            return self.reject(why)
        self.target = pos
        self.target_yaw = 2.0 * math.atan2(quat[3], quat[0])   # about the vertical, from home (tool down)
        if gripper is not None:
            self.grip = float(gripper)
        self.accepted += 1
        return True, "ok"

    def step(self) -> None:
        reward, success, terminated, _ = self.env.advance(self.env.env_action(self.target, self.target_yaw, self.grip))
        self.success = self.success or success
        self.failure = self.failure or (terminated and not success)
        self.reward = reward
