"""The robot's MuJoCo model, built from its description: the model file (or fragments), an attached
hand, added servos and limits, gravity compensation, the wrist camera. The simulator adds its scene
and task around this spec; the control node compiles it alone for kinematics.
"""
from __future__ import annotations

import mujoco
import numpy as np

from robot_rl.robot.description import RobotDescription


def _file(d: RobotDescription, ref: str) -> str:
    path = d.resolve(ref)
    if not path.exists():
        raise FileNotFoundError(f"robot {d.name}: model file {ref!r} not found ({path})")
    return str(path)


def build_spec(d: RobotDescription) -> mujoco.MjSpec:
    m = d.model
    if m.mjcf:
        spec = mujoco.MjSpec.from_file(_file(d, m.mjcf))
    else:
        top = "".join(f'<include file="{_file(d, f)}"/>' for f in m.includes)
        body = "".join(f'<include file="{_file(d, f)}"/>' for f in m.body_includes)
        meshdir = f'<compiler meshdir="{d.resolve(m.meshdir)}"/>' if m.meshdir else ""
        spec = mujoco.MjSpec.from_string(f'<mujoco model="{d.name}">{top}{meshdir}<worldbody>{body}</worldbody></mujoco>')
    if m.base_pos:
        for b in spec.worldbody.bodies:   # the robot's root bodies
            b.pos = np.asarray(b.pos) + np.asarray(m.base_pos)
    for a in m.attach:
        part = mujoco.MjSpec.from_file(_file(d, a.mjcf))
        site, body = spec.site(a.site), part.body(a.body)
        if site is None or body is None:
            raise ValueError(f"robot {d.name}: attach needs site {a.site!r} in the robot and body {a.body!r} in {a.mjcf}")
        site.attach_body(body, a.prefix, "")
    for s in m.servos:
        for i, j in enumerate(s.joints):
            joint = spec.joint(j)
            if joint is None:
                raise ValueError(f"robot {d.name}: servos name joint {j!r}, which the model does not have")
            act = spec.add_actuator(name=j, target=j, trntype=mujoco.mjtTrn.mjTRN_JOINT)
            act.set_to_position(kp=s.kp[i if len(s.kp) > 1 else 0], kv=s.kv[i if len(s.kv) > 1 else 0])
            if s.forcerange:
                act.forcelimited, act.forcerange = True, s.forcerange
    for j, (lo, hi) in d.joint_limits.items():
        joint = spec.joint(j)
        if joint is None:
            raise ValueError(f"robot {d.name}: joint_limits name joint {j!r}, which the model does not have")
        joint.limited, joint.range = True, [lo, hi]
    if m.gravity_compensation:
        for b in spec.bodies:
            if b.name != "world":
                b.gravcomp = 1.0
    if d.tool.body:
        body = spec.body(d.tool.body)
        if body is None:
            raise ValueError(f"robot {d.name}: tool.body {d.tool.body!r} is not in the model")
        body.add_site(name=d.tool.site, pos=d.tool.pos or [0, 0, 0], quat=d.tool.quat or [1, 0, 0, 0])
    cam = d.wrist_camera
    if cam.name and cam.body:
        body = spec.body(cam.body)
        if body is None:
            raise ValueError(f"robot {d.name}: wrist_camera.body {cam.body!r} is not in the model")
        c = body.add_camera(name=cam.name, pos=cam.pos or [0, 0, 0], fovy=cam.fovy)
        if cam.xyaxes:
            c.alt.type = mujoco.mjtOrientation.mjORIENTATION_XYAXES
            c.alt.xyaxes = cam.xyaxes
    return spec


class RobotModel:
    """Indices of the robot's parts in a compiled model (the robot alone, or inside a scene)."""

    def __init__(self, model: mujoco.MjModel, d: RobotDescription) -> None:
        self.description = d

        def ident(kind: mujoco.mjtObj, name: str) -> int:
            i = mujoco.mj_name2id(model, kind, name)
            if i < 0:
                raise ValueError(f"robot {d.name}: no {kind.name[6:].lower()} named {name!r} in its model")
            return i

        self.joint_ids = np.array([ident(mujoco.mjtObj.mjOBJ_JOINT, j) for j in d.joints])
        self.qpos_adr = model.jnt_qposadr[self.joint_ids]
        self.dof_adr = model.jnt_dofadr[self.joint_ids]
        self.actuator_ids = np.array([ident(mujoco.mjtObj.mjOBJ_ACTUATOR, a) for a in d.actuators])
        self.gripper_ids = np.array([ident(mujoco.mjtObj.mjOBJ_ACTUATOR, a) for a in d.gripper.actuators], dtype=int)
        self.ee_site = ident(mujoco.mjtObj.mjOBJ_SITE, d.tool.site)
        limited = model.jnt_limited[self.joint_ids].astype(bool)
        if not limited.all():
            free = [j for j, lim in zip(d.joints, limited) if not lim]
            raise ValueError(f"robot {d.name}: joints {free} have no limits; give them in joint_limits")
        self.lower = model.jnt_range[self.joint_ids, 0].copy()
        self.upper = model.jnt_range[self.joint_ids, 1].copy()
        self.wrist_camera = ident(mujoco.mjtObj.mjOBJ_CAMERA, d.wrist_camera.name) if d.wrist_camera.name else -1

    @property
    def n(self) -> int:
        return len(self.joint_ids)

    def gripper_ctrl(self, command: float) -> float:
        """The gripper actuators' target for a command in [-1 closed, 1 open]."""
        g = self.description.gripper
        return g.closed + (min(max(command, -1.0), 1.0) + 1) / 2 * (g.open - g.closed)

    def gripper_opening(self, length: float) -> float:
        """Opening 0 (closed) .. 1 (open) from the gripper actuators' mean position."""
        g = self.description.gripper
        return float(np.clip((length - g.closed) / (g.open - g.closed), 0, 1))
