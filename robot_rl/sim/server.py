"""The simulated robot behind a command interface, as a ROS node (ros_nodes/sim_robot.py) serves it.

ROS-free: commands come in as numpy arrays, are validated (shape, finite, joint limits, workspace,
speed) and either accepted or rejected and counted; a rejected command makes the robot hold where
it is. `step()` advances one control period with the current targets. Everything a robot driver
publishes (joint state, end-effector pose, gripper opening, camera images and intrinsics, sim
time, task success) comes from here.
"""
from __future__ import annotations

import collections
import dataclasses
import math
from typing import Any, Optional

import mujoco
import numpy as np

from robot_rl.sim.env import RobotEnv, SimConfig


@dataclasses.dataclass
class SimServerConfig:
    sim: SimConfig = dataclasses.field(default_factory=SimConfig)
    seed: int = 0
    # rad/s: a joint target further than this * period is rejected. 3 rad/s (a UR wrist: 3.14) leaves
    # room for the ee_delta action scale: a full yaw step (1.5 rad/s) plus a full move needs ~2.3 rad/s.
    max_joint_speed: float = 3.0
    max_ee_speed: float = 0.6        # m/s: an end-effector target further than this * period is rejected

    def validate(self) -> None:
        if self.max_joint_speed <= 0 or self.max_ee_speed <= 0:
            raise ValueError("max_joint_speed and max_ee_speed must be > 0")


class CommandServer:
    """What every simulated robot behind the command interface keeps: its episodes and their seeds
    (the first seed, then one more each reset), sim time running on across resets (a robot's clock
    does not restart: stamps stay increasing, and anything stamped before `reset_stamp_ns` belongs
    to an earlier scene), the outcome of the episode so far, and the accepted and rejected commands
    (a rejected one makes the robot hold where it is). A server sets `env` (with `reset(seed=)`,
    `sim_time` and `description`) and `period`, then calls `start(seed)`; it says how it holds."""

    env: Any
    period: float

    def start(self, seed: int) -> None:
        self.seed0 = seed
        self.accepted = 0
        self.rejected: collections.Counter[str] = collections.Counter()
        self.episode = 0
        self.time_offset_ns = 0
        self.reset_stamp_ns = 0
        self.reset(seed)

    @property
    def joint_names(self) -> list[str]:
        return list(self.env.description.joints)

    def sim_time_ns(self) -> int:
        return self.time_offset_ns + int(round(self.env.sim_time * 1e9))

    def reset(self, seed: Optional[int] = None) -> None:
        self.seed = self.seed0 + self.episode if seed is None else seed
        if self.episode:
            self.time_offset_ns = self.sim_time_ns() + int(round(self.period * 1e9))
        self.obs, self.info = self.env.reset(seed=self.seed)
        self.reset_stamp_ns = self.sim_time_ns()
        self.episode += 1
        self.success = False
        self.failure = False   # the task's failure predicate held (the episode cannot succeed any more)
        self.reward = 0.0
        self._hold()

    def _hold(self) -> None:
        """Targets = where the robot is now (fail to a hold)."""
        raise NotImplementedError

    def reject(self, reason: str) -> tuple[bool, str]:
        """Count a refused command and hold."""
        self.rejected[reason] += 1
        self._hold()
        return False, reason


class SimServer(CommandServer):
    """The builtin MuJoCo simulator (robot_rl.sim.env.RobotEnv) behind the command interface: joint
    targets checked against the limits and max_joint_speed, end-effector targets checked and solved
    by IK into joint targets."""

    def __init__(self, config: Optional[SimServerConfig] = None, env: Optional[RobotEnv] = None) -> None:
        """`env`: serve this env (in-process control: its observations keep their cameras) instead
        of one built from config.sim."""
        self.cfg = config or SimServerConfig()
        if env is not None:
            self.cfg = dataclasses.replace(self.cfg, sim=env.cfg)
            self.cameras = []
            self.env = env
        else:
            # The env renders nothing itself: images() renders on demand, so a node decides which
            # thread owns the OpenGL context (a context is bound to the thread that made it).
            self.cameras = list(self.cfg.sim.cameras)
            self.env = RobotEnv(dataclasses.replace(self.cfg.sim, cameras=[]))
        self.period = 1.0 / self.cfg.sim.control_hz
        self.start(self.cfg.seed)

    def _hold(self) -> None:
        self.env.data.ctrl[self.env.robot.actuator_ids] = self.env.q

    def state(self) -> dict[str, Any]:
        env, r = self.env, self.env.robot
        pos, quat = env.tool_pose()
        return {"q": env.q, "qd": env.data.qvel[r.dof_adr].copy(), "effort": env.data.actuator_force[r.actuator_ids].copy(),
                "ee_pos": pos, "ee_quat_wxyz": quat, "gripper": env.gripper_opening(),
                "sim_time_ns": self.sim_time_ns(), "success": self.success}

    def images(self) -> dict[str, np.ndarray]:
        return {c: self.env.render_camera(c, tuple(self.cfg.sim.image_size)) for c in self.cameras}

    def camera_intrinsics(self, camera: str) -> np.ndarray:
        return pinhole(*self.cfg.sim.image_size, float(self.env.model.cam_fovy[self.env.camera_ids[camera]]))

    # --- commands -----------------------------------------------------------------------------
    def command_joints(self, q: Any, gripper: Optional[float] = None) -> tuple[bool, str]:
        """Joint position targets (rad), optionally with a gripper command in [-1 closed, 1 open]."""
        r = self.env.robot
        try:
            q = np.asarray(q, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            return self.reject("malformed")
        if q.shape != (r.n,):
            return self.reject("wrong_size")
        if not np.all(np.isfinite(q)) or (gripper is not None and not math.isfinite(gripper)):
            return self.reject("not_finite")
        if np.any(q < r.lower) or np.any(q > r.upper):
            return self.reject("joint_limits")
        if np.max(np.abs(q - self.env.q)) > self.cfg.max_joint_speed * self.period:
            return self.reject("too_fast")
        self.env.data.ctrl[r.actuator_ids] = q
        if gripper is not None:
            self.env.set_gripper(gripper)
        self.accepted += 1
        return True, "ok"

    def command_ee(self, pos: Any, quat_wxyz: Any, gripper: Optional[float] = None) -> tuple[bool, str]:
        """An end-effector pose target (world frame), turned into joint targets by IK."""
        current = self.env.data.site_xpos[self.env.robot.ee_site]
        why, pos, quat = check_ee_target(pos, quat_wxyz, gripper, self.env.workspace_low, self.env.workspace_high,
                                         current, self.cfg.max_ee_speed * self.period)
        if why:
            return self.reject(why)
        q, err = self.env.ik.solve(self.env.q, pos, quat)
        if err > 0.01:
            return self.reject("unreachable")
        return self.command_joints(q, gripper)  # limits and joint speed are checked there

    def command_gripper(self, command: float) -> tuple[bool, str]:
        if not math.isfinite(command):
            return self.reject("not_finite")
        self.env.set_gripper(command)
        self.accepted += 1
        return True, "ok"

    def step(self) -> dict[str, Any]:
        """Advance one control period with the current targets."""
        env = self.env
        mujoco.mj_step(env.model, env.data, nstep=env.substeps)
        env.steps += 1
        ee = env.ee_pose()[0]
        self.success = self.success or env.task.success(env.model, env.data, ee)
        self.failure = self.failure or (not self.success and env.task.failure(env.model, env.data, ee))
        self.reward = env.task.reward(env.model, env.data, ee)   # the step's, on /reward
        return self.state()


def check_ee_target(pos: Any, quat_wxyz: Any, gripper: Optional[float], low: np.ndarray, high: np.ndarray,
                    current: np.ndarray, max_step: float) -> tuple[str, np.ndarray, np.ndarray]:
    """Why an end-effector target must be rejected ("" if it may go), with its position and unit
    quaternion: malformed, not finite (the gripper command too), not a unit quaternion, outside the
    workspace box, or further than max_step (m) from where the tool is."""
    try:
        p = np.asarray(pos, dtype=np.float64).reshape(3)
        q = np.asarray(quat_wxyz, dtype=np.float64).reshape(4)
    except (TypeError, ValueError):
        return "malformed", np.zeros(3), np.array([1.0, 0, 0, 0])
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))) or (gripper is not None and not math.isfinite(gripper)):
        return "not_finite", p, q
    norm = np.linalg.norm(q)
    if not 0.9 < norm < 1.1:
        return "bad_quaternion", p, q
    if np.any(p < low) or np.any(p > high):
        return "workspace", p, q
    if np.linalg.norm(p - current) > max_step:
        return "too_fast", p, q
    return "", p, q / norm


def pinhole(h: int, w: int, fovy_deg: float) -> np.ndarray:
    """The intrinsics of a pinhole camera of this image size and vertical field of view."""
    f = (h / 2) / math.tan(math.radians(fovy_deg) / 2)
    return np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]])
