"""Robot models and scenes. A robot is any MJCF plus the names the stack needs (joints, actuators,
end-effector site, gripper, cameras); tasks add their table, objects and cameras around it with
MjSpec, so an external MJCF robot replaces ours by config alone.
"""
from __future__ import annotations

import dataclasses
import pathlib
from typing import Optional

import mujoco
import numpy as np

MODELS = pathlib.Path(__file__).parent / "models"


@dataclasses.dataclass
class RobotModelConfig:
    """Which parts of an MJCF make the robot. The base is expected at the world origin on the
    table top (z = 0) with the gripper pointing down (-z) being reachable."""
    mjcf: str = "arm6"                      # a builtin name (arm6, arm7) or a path to an MJCF file
    joints: list[str] = dataclasses.field(default_factory=lambda: [f"joint{i}" for i in range(1, 7)])
    actuators: list[str] = dataclasses.field(default_factory=lambda: [f"act{i}" for i in range(1, 7)])
    ee_site: str = "ee"
    gripper_actuators: list[str] = dataclasses.field(default_factory=lambda: ["grip_left", "grip_right"])
    gripper_open: float = 0.04              # actuator command for fully open
    gripper_closed: float = 0.0
    wrist_camera: str = "wrist_cam"         # "" if the robot has none
    home: list[float] = dataclasses.field(default_factory=lambda: [0.0] * 6)  # tool down, above the table

    def validate(self) -> None:
        if len(self.joints) != len(self.actuators):
            raise ValueError(f"{len(self.joints)} joints but {len(self.actuators)} actuators")
        if self.home and len(self.home) != len(self.joints):
            raise ValueError(f"home has {len(self.home)} values for {len(self.joints)} joints")

    def path(self) -> pathlib.Path:
        builtin = MODELS / f"{self.mjcf}.xml"
        return builtin if builtin.exists() else pathlib.Path(self.mjcf)


ARM7 = RobotModelConfig(
    mjcf="arm7", joints=[f"a7_j{i}" for i in range(1, 8)], actuators=[f"a7_servo{i}" for i in range(1, 8)],
    ee_site="a7_tcp", gripper_actuators=["a7_grip"], gripper_open=0.035, gripper_closed=0.0,
    wrist_camera="a7_hand_cam", home=[0.0] * 7)


def robot_config(name: str) -> RobotModelConfig:
    return {"arm6": RobotModelConfig(), "arm7": ARM7}[name]


class Robot:
    """Indices into a compiled model for one robot config."""

    def __init__(self, model: mujoco.MjModel, cfg: RobotModelConfig) -> None:
        self.cfg = cfg

        def ident(kind: mujoco.mjtObj, name: str) -> int:
            i = mujoco.mj_name2id(model, kind, name)
            if i < 0:
                raise ValueError(f"{cfg.mjcf}: no {kind.name[6:].lower()} named {name!r}")
            return i

        self.joint_ids = np.array([ident(mujoco.mjtObj.mjOBJ_JOINT, j) for j in cfg.joints])
        self.qpos_adr = model.jnt_qposadr[self.joint_ids]
        self.dof_adr = model.jnt_dofadr[self.joint_ids]
        self.actuator_ids = np.array([ident(mujoco.mjtObj.mjOBJ_ACTUATOR, a) for a in cfg.actuators])
        self.gripper_ids = np.array([ident(mujoco.mjtObj.mjOBJ_ACTUATOR, a) for a in cfg.gripper_actuators])
        self.ee_site = ident(mujoco.mjtObj.mjOBJ_SITE, cfg.ee_site)
        self.lower = model.jnt_range[self.joint_ids, 0].copy()
        self.upper = model.jnt_range[self.joint_ids, 1].copy()
        self.wrist_camera = ident(mujoco.mjtObj.mjOBJ_CAMERA, cfg.wrist_camera) if cfg.wrist_camera else -1

    @property
    def n(self) -> int:
        return len(self.joint_ids)


def load_robot_spec(cfg: RobotModelConfig) -> mujoco.MjSpec:
    path = cfg.path()
    if not path.exists():
        raise FileNotFoundError(f"robot MJCF {cfg.mjcf!r} not found (builtin: arm6, arm7; or a path)")
    return mujoco.MjSpec.from_file(str(path))


def add_scene(spec: mujoco.MjSpec, width: int = 128, height: int = 128) -> None:
    """Table, lights, floor and the front camera around a robot spec (table top at z = 0)."""
    spec.visual.global_.offwidth = max(spec.visual.global_.offwidth, 640)
    spec.visual.global_.offheight = max(spec.visual.global_.offheight, 480)
    wb = spec.worldbody
    tex = spec.add_texture(name="rl_grid", type=mujoco.mjtTexture.mjTEXTURE_2D,
                           builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER, rgb1=[.72, .72, .70], rgb2=[.58, .58, .56],
                           width=128, height=128)
    mat = spec.add_material(name="rl_floor", texrepeat=[8, 8], reflectance=0.05)
    mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = tex.name
    wb.add_light(name="rl_key", pos=[0.6, -0.6, 1.8], dir=[-0.3, 0.3, -1], castshadow=False, diffuse=[.7, .7, .7])
    wb.add_light(name="rl_fill", pos=[-0.6, 0.6, 1.5], dir=[0.4, -0.4, -1], castshadow=False, diffuse=[.35, .35, .35])
    wb.add_geom(name="rl_floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[2, 2, 0.1], pos=[0, 0, -0.75], material="rl_floor")
    wb.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.45, 0.5, 0.02], pos=[0.35, 0, -0.02],
                rgba=[.45, .33, .24, 1], contype=1, conaffinity=1, friction=[1, 0.01, 0.001])
    # looks from the far side of the table at the middle of the workspace (0.4, 0, 0.1)
    wb.add_camera(name="front", pos=[0.95, 0.0, 0.55], xyaxes=[0, 1, 0, -0.633, 0, 0.774], fovy=50)
