"""Differential inverse kinematics on a MuJoCo model: end-effector pose targets -> joint targets.

The description's model is the robot's kinematic model everywhere: the simulator and a real
robot's control node run this same code (on their own MjData copy, never the simulation's), so a
policy's end-effector actions mean the same thing in both. `Kinematics` compiles the robot alone
from its description (no simulator, no scene).
"""
from __future__ import annotations

import mujoco
import numpy as np

from robot_rl.robot.description import RobotDescription
from robot_rl.robot.model import RobotModel, build_spec


def yaw_of(quat_wxyz: np.ndarray) -> float:
    """Rotation about the vertical of a wxyz quaternion."""
    w, x, y, z = quat_wxyz
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


def yaw_from_home(quat_wxyz: np.ndarray, home_quat: np.ndarray) -> float:
    """Yaw of an orientation relative to the home tool orientation (the inverse of `yawed`)."""
    rel, inv = np.zeros(4), np.zeros(4)
    mujoco.mju_negQuat(inv, np.asarray(home_quat, dtype=np.float64))
    mujoco.mju_mulQuat(rel, np.asarray(quat_wxyz, dtype=np.float64), inv)
    return yaw_of(rel)


def yawed(home_quat: np.ndarray, yaw: float) -> np.ndarray:
    """The home tool orientation (tool pointing down) turned by `yaw` about the world's vertical."""
    q_yaw = np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])
    out = np.zeros(4)
    mujoco.mju_mulQuat(out, q_yaw, np.asarray(home_quat, dtype=np.float64))
    return out


def rpy_from_home(quat_wxyz: np.ndarray, home_quat: np.ndarray) -> np.ndarray:
    """[roll, pitch, yaw] of an orientation relative to the home tool orientation: the world-frame
    rotation from home, as yaw about z after pitch about y after roll about x (its yaw is
    yaw_from_home's). The inverse of `oriented`."""
    rel, inv = np.zeros(4), np.zeros(4)
    mujoco.mju_negQuat(inv, np.asarray(home_quat, dtype=np.float64))
    mujoco.mju_mulQuat(rel, np.asarray(quat_wxyz, dtype=np.float64), inv)
    w, x, y, z = rel
    return np.array([np.arctan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y)),
                     np.arcsin(np.clip(2 * (w * y - z * x), -1.0, 1.0)), yaw_of(rel)])


def oriented(home_quat: np.ndarray, roll: float, pitch: float, yaw: float) -> np.ndarray:
    """The home tool orientation turned by roll (about x), then pitch (y), then yaw (z), world axes."""
    out, rp = np.zeros(4), np.zeros(4)
    qx = np.array([np.cos(roll / 2), np.sin(roll / 2), 0.0, 0.0])
    qy = np.array([np.cos(pitch / 2), 0.0, np.sin(pitch / 2), 0.0])
    mujoco.mju_mulQuat(rp, qy, qx)
    mujoco.mju_mulQuat(out, yawed(np.array([1.0, 0, 0, 0]), yaw), rp)
    mujoco.mju_mulQuat(rp, out, np.asarray(home_quat, dtype=np.float64))
    return rp


def ee_state(home_quat: np.ndarray, pos: np.ndarray, quat_wxyz: np.ndarray, mode: str = "ee") -> np.ndarray:
    """What ee commands are relative to: [x, y, z, yaw] (ee) or [x, y, z, roll, pitch, yaw] (ee_rpy)."""
    pos = np.asarray(pos, dtype=np.float64)
    if mode == "ee_rpy":
        return np.concatenate([pos, rpy_from_home(quat_wxyz, home_quat)])
    return np.append(pos, yaw_from_home(quat_wxyz, home_quat))


def position_yaw(state: np.ndarray) -> np.ndarray:
    """[x, y, z, yaw] of an ee state of either mode (the yaw is last in both): the proprio's part."""
    return np.asarray(state)[[0, 1, 2, -1]]


def tool_quat(home_quat: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """The tool orientation (wxyz) of an ee command's rotation part: [yaw] or [roll, pitch, yaw]."""
    r = np.asarray(rotation, dtype=np.float64).reshape(-1)
    return yawed(home_quat, float(r[0])) if r.size == 1 else oriented(home_quat, *map(float, r))


class DifferentialIK:
    """Damped least-squares IK for a site's position and orientation over the robot's joints."""

    def __init__(self, model: mujoco.MjModel, robot: RobotModel, damping: float = 0.05, iterations: int = 8,
                 max_joint_step: float = 0.2) -> None:
        self.model, self.robot = model, robot
        self.data = mujoco.MjData(model)  # scratch: never the simulation's data
        self.damping, self.iterations, self.max_joint_step = damping, iterations, max_joint_step
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def forward(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """End-effector (position, quaternion wxyz) for joint positions q."""
        self.data.qpos[self.robot.qpos_adr] = q
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)  # the Jacobian needs cdof
        pos = self.data.site_xpos[self.robot.ee_site].copy()
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, self.data.site_xmat[self.robot.ee_site])
        return pos, quat

    def solve(self, q0: np.ndarray, target_pos: np.ndarray, target_quat: np.ndarray | None = None,
              rot_weight: float = 0.5) -> tuple[np.ndarray, float]:
        """Joint positions near q0 that put the site at the target; returns (q, position error m)."""
        r = self.robot
        q = np.clip(np.asarray(q0, dtype=np.float64).copy(), r.lower, r.upper)
        err_pos = np.inf
        for _ in range(self.iterations):
            pos, quat = self.forward(q)
            e_pos = target_pos - pos
            err_pos = float(np.linalg.norm(e_pos))
            if target_quat is not None:
                e_rot = np.zeros(3)
                mujoco.mju_subQuat(e_rot, target_quat, quat)
                # mju_subQuat gives the rotation in the site's frame; the Jacobian is in the world's
                e_rot = self.data.site_xmat[r.ee_site].reshape(3, 3) @ e_rot
                err = np.concatenate([e_pos, rot_weight * e_rot])
            else:
                err = e_pos
            mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, r.ee_site)
            jac = self._jacp[:, r.dof_adr]
            if target_quat is not None:
                jac = np.vstack([jac, rot_weight * self._jacr[:, r.dof_adr]])
            jjt = jac @ jac.T + (self.damping ** 2) * np.eye(jac.shape[0])
            dq = jac.T @ np.linalg.solve(jjt, err)
            step = np.max(np.abs(dq))
            if step > self.max_joint_step:
                dq *= self.max_joint_step / step
            q = np.clip(q + dq, r.lower, r.upper)
            if err_pos < 1e-4 and (target_quat is None or np.linalg.norm(err[3:]) < 1e-3):
                break
        pos, _ = self.forward(q)
        return q, float(np.linalg.norm(target_pos - pos))


class Kinematics:
    """FK and IK of one robot from its description, with its home tool orientation: the tool frame's
    yaw is measured from it (the ee state [x, y, z, yaw] of the ee command mode)."""

    def __init__(self, d: RobotDescription) -> None:
        self.description = d
        self.home_q = np.asarray(d.home, dtype=np.float64)
        self.model: mujoco.MjModel | None = None
        self.robot: RobotModel | None = None
        if d.model.external:   # no model here: the home tool orientation is the world's (ModelSpec.external)
            self.home_quat = np.array([1.0, 0.0, 0.0, 0.0])
            return
        self.model = build_spec(d).compile()
        self.robot = RobotModel(self.model, d)
        self.ik = DifferentialIK(self.model, self.robot)
        _, self.home_quat = self.ik.forward(self.home_q)

    def joint_limits(self) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) rad: the model's, narrowed by the description's joint_limits; without a
        model here (ModelSpec.external), the description's alone (unlimited where it gives none)."""
        if self.robot is not None:
            return self.robot.lower, self.robot.upper
        lim = self.description.joint_limits
        lower = np.array([lim.get(j, [-np.inf, np.inf])[0] for j in self.description.joints], np.float64)
        upper = np.array([lim.get(j, [-np.inf, np.inf])[1] for j in self.description.joints], np.float64)
        return lower, upper

    def ee_state(self, pos: np.ndarray, quat_wxyz: np.ndarray, mode: str = "ee") -> np.ndarray:
        return ee_state(self.home_quat, pos, quat_wxyz, mode)

    def tool_quat(self, rotation) -> np.ndarray:
        return tool_quat(self.home_quat, rotation)
