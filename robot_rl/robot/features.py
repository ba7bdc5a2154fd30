"""Observation and action features of a robot, declared once from its description.

The proprio vector is [q (n), qd (n), tool x y z (3), tool yaw (1), gripper opening (1)]: joint
positions and velocities in the description's joint order, the tool frame's position in the world
(m) and its yaw from the home orientation (rad), and the gripper's opening (0 closed .. 1 open; no
such column for a robot without a gripper). Actions end with the gripper command (-1 closed .. 1
open; none without a gripper); before it, per command mode, the tool delta [dx, dy, dz, dyaw] (ee:
the tool stays pointing down), [dx, dy, dz, droll, dpitch, dyaw] (ee_rpy: the full orientation,
rotations about the world's axes from the home orientation) or the joint deltas [dq_1..dq_n]
(joint), each in [-1, 1] and scaled by the description's speeds. Every part that packs, slices or
names these vectors does it here.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from robot_rl.robot.description import RobotDescription

EE_FIELDS = ["ee_x", "ee_y", "ee_z", "ee_yaw"]


@dataclasses.dataclass(frozen=True)
class ProprioLayout:
    """Where each part lies in the proprio vector of a robot with n joints (and a gripper, or not)."""
    n: int
    has_gripper: bool = True

    @property
    def dim(self) -> int:
        return 2 * self.n + 4 + int(self.has_gripper)

    @property
    def q(self) -> slice:
        return slice(0, self.n)

    @property
    def qd(self) -> slice:
        return slice(self.n, 2 * self.n)

    @property
    def joints(self) -> slice:
        """q and qd together (the recorder's joint stream)."""
        return slice(0, 2 * self.n)

    @property
    def ee_pos(self) -> slice:
        return slice(2 * self.n, 2 * self.n + 3)

    @property
    def ee_state(self) -> slice:
        """[x, y, z, yaw]: what ee commands are relative to."""
        return slice(2 * self.n, 2 * self.n + 4)

    @property
    def ee_yaw(self) -> int:
        return 2 * self.n + 3

    @property
    def gripper(self) -> int:
        """The opening's column; ValueError for a robot without a gripper (check has_gripper)."""
        if not self.has_gripper:
            raise ValueError("this robot has no gripper: its proprio vector has no opening")
        return 2 * self.n + 4

    def pack(self, q, qd, ee_pos, ee_yaw: float, opening: float, out: np.ndarray | None = None) -> np.ndarray:
        out = np.empty(self.dim, np.float32) if out is None else out
        out[self.q], out[self.qd], out[self.ee_pos] = q, qd, ee_pos
        out[self.ee_yaw] = ee_yaw
        if self.has_gripper:
            out[self.gripper] = opening
        return out

    @staticmethod
    def of_dim(dim: int) -> "ProprioLayout":
        """The layout of a proprio vector of this size with a gripper (a store's or a policy's
        obs_dim; what grasp labels read)."""
        if dim < 7 or (dim - 5) % 2:
            raise ValueError(f"a proprio vector of {dim} values is not [q, qd, ee xyz, yaw, gripper]")
        return ProprioLayout((dim - 5) // 2)


def layout(d: RobotDescription) -> ProprioLayout:
    return ProprioLayout(d.n, d.has_gripper)


def proprio_names(d: RobotDescription) -> list[str]:
    return [f"q_{j}" for j in d.joints] + [f"qd_{j}" for j in d.joints] + EE_FIELDS + (["gripper"] if d.has_gripper else [])


def action_names(d: RobotDescription, mode: str | None = None) -> list[str]:
    return names_for(mode or d.command.mode, d.joints, d.has_gripper)


def names_for(mode: str, joints: list[str], gripper: bool = True) -> list[str]:
    """The action's names in a command mode, for a robot with these joints (and a gripper, or not)."""
    axes = {"ee": ["dx", "dy", "dz", "dyaw"], "ee_rpy": ["dx", "dy", "dz", "droll", "dpitch", "dyaw"]}.get(
        mode, [f"dq_{j}" for j in joints])
    return axes + (["gripper"] if gripper else [])


def widen(action: np.ndarray, mode: str, gripper: bool = True) -> np.ndarray:
    """An ee action [dx, dy, dz, dyaw, grip] (a 4-axis device, the scripted expert) as an action of
    `mode` on this robot: for ee_rpy, roll and pitch held (zero deltas); without a gripper, the grip
    value dropped. Any other action as it is."""
    a = np.asarray(action, dtype=np.float64)
    if a.shape != (5,) or mode not in ("ee", "ee_rpy"):
        return a
    if mode == "ee_rpy":
        a = np.concatenate([a[:3], [0.0, 0.0], a[3:]])
    return a if gripper else a[:-1]


def action_dim(d: RobotDescription, mode: str | None = None) -> int:
    return len(action_names(d, mode))
