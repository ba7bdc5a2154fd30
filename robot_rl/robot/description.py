"""The robot description: one YAML file per robot, read by every part of the stack.

It names the robot's model (an MJCF, or a URDF MuJoCo compiles; a file next to the YAML or inside an
installed package, `pkg://<package>/<path>`), the joints and their position servos, the tool frame,
the home pose, the gripper and how a command in [-1 closed, 1 open] maps onto it, the wrist camera,
the workspace box, and the command interface (end-effector targets or joint positions) and rate.
From it come the observation and action features (`robot_rl.robot.features`) and the kinematics
(`robot_rl.robot.kinematics`); nothing else in the stack knows a robot's shape.

Models that ship without actuators (URDF-like arms, as dm_control's Jaco) get position servos from
`model.servos`; a hand from another file is attached at a site of the arm (`model.attach`). The
model files are read where they are installed, never copied.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import pathlib
from typing import Literal

from robot_rl import config
from robot_rl.control.safety import SafetyConfig

BUILTIN = pathlib.Path(__file__).parent / "builtin"
DEFAULT_ROBOT = "arm6"


@dataclasses.dataclass
class AttachSpec:
    """A part from another model file (a hand), attached with its subtree at a site of the robot."""
    mjcf: str = ""           # path (relative to the description) or pkg://<package>/<path>
    body: str = ""           # the body of that model to attach
    site: str = ""           # the robot's site it is attached at
    prefix: str = ""         # prepended to every name of the attached part


@dataclasses.dataclass
class ServoSpec:
    """Position servos added to joints that have no actuator in the model (named after the joint)."""
    joints: list[str] = dataclasses.field(default_factory=list)
    kp: list[float] = dataclasses.field(default_factory=list)     # one value for all, or one per joint
    kv: list[float] = dataclasses.field(default_factory=list)
    forcerange: list[float] = dataclasses.field(default_factory=list)   # one [lo, hi] for all (empty: unlimited)

    def validate(self) -> None:
        for key in ("kp", "kv"):
            if len(getattr(self, key)) not in (1, len(self.joints)):
                raise ValueError(f"{key}: give one value or one per joint ({len(self.joints)})")
        if self.forcerange and len(self.forcerange) != 2:
            raise ValueError("forcerange: [lo, hi]")


@dataclasses.dataclass
class ModelSpec:
    mjcf: str = ""           # the robot's model file; or, when empty, the fragments below
    # mujocoinclude fragments (packages that ship their robot as parts): at the model's top level
    # (assets, defaults, actuators) and inside its worldbody (the kinematic chain)
    includes: list[str] = dataclasses.field(default_factory=list)
    body_includes: list[str] = dataclasses.field(default_factory=list)
    meshdir: str = ""        # for fragments: where their meshes are
    attach: list[AttachSpec] = dataclasses.field(default_factory=list)
    servos: list[ServoSpec] = dataclasses.field(default_factory=list)
    # Bodies carry gravity compensation, as a real arm's controller compensates gravity: position
    # servos then track without sag.
    gravity_compensation: bool = False
    # Where the robot's base stands, [x, y, z] m in the world (the table top is z = 0; the
    # workspace lies around x = 0.4): the model's own origin when empty. A long arm stands back.
    base_pos: list[float] = dataclasses.field(default_factory=list)
    # The model lives in another process only (an adapted Gymnasium env simulates it in its own
    # environment: robot_rl.sim.gym_env): nothing here builds it, `mjcf` only says where it is. Such a
    # robot takes end-effector commands, its home tool orientation is the world's (the tool's yaw is
    # measured about the vertical), and its joint limits are the description's joint_limits.
    external: bool = False

    def validate(self) -> None:
        if self.external:
            return
        if bool(self.mjcf) == bool(self.includes or self.body_includes):
            raise ValueError("give either mjcf or includes/body_includes")
        if self.base_pos and len(self.base_pos) != 3:
            raise ValueError("base_pos is [x, y, z]")


@dataclasses.dataclass
class GripperSpec:
    actuators: list[str] = dataclasses.field(default_factory=list)   # position actuators of the fingers ([]: no gripper)
    open: float = 0.04       # their position when fully open (a command of 1)
    closed: float = 0.0      # and fully closed (a command of -1); the opening feature maps this to 1..0
    # How fast the safety layer lets the gripper command change (command units per second; the
    # full range is 2): about the fingers' own speed, so it stops a chattering command without
    # slowing a grasp the hand could make.
    max_rate: float = SafetyConfig.gripper_max_rate


@dataclasses.dataclass
class CameraSpec:
    """The wrist camera: one in the model (`name`), or added to `body` at pos/xyaxes."""
    name: str = ""           # "" if the robot has none
    body: str = ""
    pos: list[float] = dataclasses.field(default_factory=list)
    xyaxes: list[float] = dataclasses.field(default_factory=list)
    fovy: float = 75.0


@dataclasses.dataclass
class ToolSpec:
    """The tool frame: a site of the model (`site`), or one added to `body` at pos/quat (wxyz).
    Its position is where the gripper grasps (between the fingertips); tool-down at home."""
    site: str = ""
    body: str = ""
    pos: list[float] = dataclasses.field(default_factory=list)
    quat: list[float] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class WorkspaceSpec:
    """The box the tool frame must stay in (world frame, m; the table top is z = 0), its yaw from
    home and (ee_rpy commands) its roll and pitch from home, in rad."""
    low: list[float] = dataclasses.field(default_factory=lambda: [0.20, -0.35, 0.0])
    high: list[float] = dataclasses.field(default_factory=lambda: [0.65, 0.35, 0.40])
    yaw: list[float] = dataclasses.field(default_factory=lambda: [-3.1, 3.1])
    tilt: list[float] = dataclasses.field(default_factory=lambda: [-0.8, 0.8])

    def validate(self) -> None:
        if len(self.low) != 3 or len(self.high) != 3 or len(self.yaw) != 2 or len(self.tilt) != 2:
            raise ValueError("low and high are [x, y, z]; yaw and tilt are [lo, hi]")
        if any(lo >= hi for lo, hi in zip(self.low + self.yaw[:1] + self.tilt[:1], self.high + self.yaw[1:] + self.tilt[1:])):
            raise ValueError("need low < high on every axis")
        if max(abs(t) for t in self.tilt) >= 1.5:
            raise ValueError("tilt must stay within +-1.5 rad (roll/pitch/yaw angles break down at 90 degrees)")


@dataclasses.dataclass
class CommandSpec:
    """ee: actions [dx, dy, dz, dyaw, grip] -> end-effector targets with the tool pointing down
    (Cartesian impedance style); ee_rpy: [dx, dy, dz, droll, dpitch, dyaw, grip] -> targets with the
    full orientation; joint: [dq_1..dq_n, grip] -> joint position targets (forward_command_controller
    style)."""
    mode: Literal["ee", "ee_rpy", "joint"] = "ee"
    rate_hz: float = 10.0
    max_ee_speed: float = 0.3        # m/s for an action of 1 (ee)
    max_yaw_rate: float = 1.5        # rad/s for an action of 1, every rotation axis (ee, ee_rpy)
    max_joint_speed: float = 1.0     # rad/s for an action of 1 (joint)


@dataclasses.dataclass
class RobotDescription:
    name: str = ""
    model: ModelSpec = dataclasses.field(default_factory=ModelSpec)
    joints: list[str] = dataclasses.field(default_factory=list)
    actuators: list[str] = dataclasses.field(default_factory=list)   # one position actuator per joint
    # Limits for joints the model leaves unlimited (or that a real arm limits further): name -> [lo, hi] rad
    joint_limits: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    tool: ToolSpec = dataclasses.field(default_factory=ToolSpec)
    home: list[float] = dataclasses.field(default_factory=list)      # joint positions, tool pointing down
    gripper: GripperSpec = dataclasses.field(default_factory=GripperSpec)
    wrist_camera: CameraSpec = dataclasses.field(default_factory=CameraSpec)
    workspace: WorkspaceSpec = dataclasses.field(default_factory=WorkspaceSpec)
    command: CommandSpec = dataclasses.field(default_factory=CommandSpec)
    # where the description was read from: model paths are relative to it (not part of the YAML)
    source: str = ""

    def validate(self) -> None:
        if not self.name or not self.joints or not self.tool.site:
            raise ValueError("name, joints and tool.site are required")
        if len(self.actuators) != len(self.joints):
            raise ValueError(f"{len(self.joints)} joints but {len(self.actuators)} actuators")
        if len(self.home) != len(self.joints):
            raise ValueError(f"home has {len(self.home)} values for {len(self.joints)} joints")
        for j, lim in self.joint_limits.items():
            if j not in self.joints or len(lim) != 2 or lim[0] >= lim[1]:
                raise ValueError(f"joint_limits.{j}: a joint of the robot and [lo, hi] with lo < hi")
        if self.model.external and self.command.mode == "joint":
            raise ValueError("model.external: a robot whose model is elsewhere takes end-effector commands (ee, ee_rpy)")

    @property
    def n(self) -> int:
        return len(self.joints)

    @property
    def has_gripper(self) -> bool:
        return bool(self.gripper.actuators)

    def resolve(self, ref: str) -> pathlib.Path:
        """A model path: pkg://<package>/<path> inside an installed package, or a path relative to
        the description's folder."""
        if ref.startswith("pkg://"):
            package, _, rest = ref[len("pkg://"):].partition("/")
            spec = importlib.util.find_spec(package)
            if spec is None or not spec.submodule_search_locations:
                raise FileNotFoundError(f"robot {self.name}: package {package!r} is not installed (pip install it)")
            return pathlib.Path(list(spec.submodule_search_locations)[0]) / rest
        path = pathlib.Path(ref)
        return path if path.is_absolute() else pathlib.Path(self.source).parent / path

    def digest(self) -> str:
        """sha256 of the description's content (not of where it was read from): what a policy's
        metadata names, so a policy made for one robot is refused on another."""
        data = config.to_dict(self)
        data.pop("source", None)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def driver_joints(joints: list[str], mapping: str, robot: str) -> list[str]:
    """The names a driver publishes on /joint_states for a robot's joints: `mapping` (comma-separated,
    in the joints' order: a ros2_control arm keeps its own names) or, when empty, the joints' own.
    ValueError when the mapping names another number of joints."""
    names = [j.strip() for j in mapping.split(",") if j.strip()]
    if names and len(names) != len(joints):
        raise ValueError(f"joint_names has {len(names)} names for the {len(joints)} joints of {robot}")
    return names or list(joints)


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN.glob("*.yaml"))


def canonical(ref: str) -> str:
    """A robot reference that means the same from any working directory: a builtin name as it is,
    a description path made absolute (graphs hand it to nodes in other processes)."""
    return ref if (BUILTIN / f"{ref}.yaml").exists() and "/" not in ref else str(pathlib.Path(ref).resolve())


def load(ref: str = DEFAULT_ROBOT) -> RobotDescription:
    """A robot by builtin name (`robot-rl robots` lists them) or by the path of a description YAML.
    Bad input is a ConfigError naming the file and key."""
    path = BUILTIN / f"{ref}.yaml" if "/" not in ref and not ref.endswith((".yaml", ".yml")) else pathlib.Path(ref)
    if not path.exists():
        raise config.ConfigError(f"robot {ref!r}: no such description (builtin: {', '.join(builtin_names())}; "
                                 "or a path to a YAML file)")
    data = config.load_yaml(path)
    if isinstance(data, dict):
        data = {**data, "source": str(path.resolve())}
    try:
        return config.from_dict(RobotDescription, data)
    except config.ConfigError as exc:
        raise config.ConfigError(f"{path}: {exc}") from None
