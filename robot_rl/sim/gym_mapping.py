"""The mapping that makes a Gymnasium env a robot of this stack (robot_rl.sim.gym_env; docs/ENVS.md):
one YAML file, read into `GymEnvConfig`, and the task plug-in base for adapted envs (`GymTask`)."""
from __future__ import annotations

import dataclasses
import importlib
import pathlib
from typing import Any, Literal

import numpy as np

from robot_rl import config as config_mod
from robot_rl.tasks.base import Task


@dataclasses.dataclass
class Part:
    """Columns [start, stop) of a flat observation entry (`key`, dotted for nested dicts)."""
    key: str = ""
    start: int = 0
    stop: int = 0


@dataclasses.dataclass
class GripperObs:
    key: str = ""
    index: int = 0
    open: float = 0.0       # the value it reads fully open
    closed: float = 1.0     # and fully closed


@dataclasses.dataclass
class ObservationMap:
    cameras: dict[str, str] = dataclasses.field(default_factory=dict)   # camera name -> observation key
    image_size: list[int] = dataclasses.field(default_factory=list)      # [H, W] of every camera (checked)
    fovy: dict[str, float] = dataclasses.field(default_factory=dict)    # camera -> vertical field of view, deg (45)
    joints: Part = dataclasses.field(default_factory=Part)
    joint_velocities: Part = dataclasses.field(default_factory=Part)
    tool_position: Part = dataclasses.field(default_factory=Part)       # m, world frame
    tool_yaw: Part = dataclasses.field(default_factory=Part)            # key "": the env keeps the tool's yaw
    gripper: GripperObs = dataclasses.field(default_factory=GripperObs)


@dataclasses.dataclass
class ActionMap:
    position: list[int] = dataclasses.field(default_factory=lambda: [0, 1, 2])   # the env's x, y, z motion components
    position_scale: float = 1.0      # the env's action value per metre of tool motion
    # target: the env adds the motion to its own last target (a mocap or controller set point: most
    # delta-pose envs); measured: to where the tool is. The adapter sends motions from the same
    # reference, so a hold (the target where the tool is) holds there in both.
    relative_to: Literal["target", "measured"] = "target"
    yaw: int = -1                    # the env's yaw component (-1: it cannot turn the tool)
    yaw_scale: float = 1.0           # its value per radian
    gripper: int = -1                # the env's gripper component (-1: no gripper)
    # absolute: the component is the gripper's target (gripper_open .. gripper_closed);
    # delta: it is added to the gripper's state (observation.gripper): value = change x delta_scale
    gripper_mode: Literal["absolute", "delta"] = "absolute"
    gripper_open: float = 1.0
    gripper_closed: float = -1.0
    delta_scale: float = 1.0
    rest: float = 0.0                # every other component


@dataclasses.dataclass
class GymEnvConfig:
    id: str = ""                     # the gymnasium id
    imports: list[str] = dataclasses.field(default_factory=list)   # modules whose import registers it
    pythonpath: list[str] = dataclasses.field(default_factory=list)   # folders those modules are in (relative to this file)
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    python: str = ""                 # the interpreter of the env's own virtual environment ("": this process)
    robot: str = ""                  # the robot description it stands for (a path relative to this file)
    task: str = ""                   # its GymTask, module:Class ("": none; no expert, no simulated human)
    control_hz: float = 10.0         # the env's step rate (checked against the description's command rate)
    max_steps: int = 0               # 0: the env's own limit
    observation: ObservationMap = dataclasses.field(default_factory=ObservationMap)
    action: ActionMap = dataclasses.field(default_factory=ActionMap)
    success: str = "success"         # the info key that says the task succeeded
    end_on_success: bool = True      # end the episode on success, as this stack's episodes do
    seed_global_numpy: bool = False  # seed numpy's global generator before reset (envs that draw from it)
    shadows: bool = True             # False: no shadow maps (a CPU renderer spends most of a frame on them)
    state: dict[str, str] = dataclasses.field(default_factory=dict)   # privileged state: name -> accessor
    source: str = ""                 # the file it was read from (set by load)

    def validate(self) -> None:
        if not self.id:
            raise ValueError("id: the gymnasium id is required")
        if not self.robot:
            raise ValueError("robot: the description this env stands for is required")
        if len(self.action.position) != 3:
            raise ValueError("action.position: the env's x, y and z components")

    def resolve(self, ref: str) -> str:
        path = pathlib.Path(ref)
        return str(path if path.is_absolute() or not self.source else pathlib.Path(self.source).parent / path)


def load(path: str | pathlib.Path, overrides=()) -> GymEnvConfig:
    cfg = config_mod.load(GymEnvConfig, path, overrides)
    return dataclasses.replace(cfg, source=str(pathlib.Path(path).resolve()))


class GymTask(Task):
    """A task of an adapted env. The env owns the scene, its reset and its success, so the scene
    methods of Task are not used; a GymTask gives the rest: the scripted expert for demonstrations
    and the simulated human, how far along a scene is (from the privileged state the mapping reads),
    the outcome categories, the gripper's state at the start, and for the learner labelers and
    auxiliary heads (as any Task: the learner finds it by its dotted path)."""
    name = "gym_task"

    def state_progress(self, state: dict[str, np.ndarray], ee_pos: np.ndarray, gripper_opening: float) -> float:
        """As Task.progress, from the privileged state."""
        raise NotImplementedError(f"task {self.name} has no progress measure (the simulated human's progress judge needs one)")


class ConventionError(ValueError):
    """The mapping does not match the env (one line, naming the mapping's key)."""


def load_task(ref: str) -> GymTask:
    module, _, attr = ref.partition(":") if ":" in ref else ref.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConventionError(f"task {ref!r}: cannot load {attr!r} from {module!r} ({exc})") from None
    if not (isinstance(cls, type) and issubclass(cls, GymTask)):
        raise ConventionError(f"task {ref!r}: {cls!r} is not a robot_rl.sim.gym_env.GymTask subclass")
    return cls()


def graph_fields(path: str | pathlib.Path) -> dict[str, Any]:
    """What a recording graph or a session takes from an adapted env's mapping instead of its own
    fields: the task, the robot description, the cameras, their image size and the control rate."""
    from robot_rl.robot import canonical
    m = load(path)
    size = m.observation.image_size
    if m.observation.cameras and (len(size) != 2 or size[0] != size[1]):
        raise config_mod.ConfigError(f"{path}: observation.image_size: the recorder takes square images, "
                                     f"[N, N], got {size or 'none'}")
    return {"env": m.source, "task": m.task, "robot": canonical(m.resolve(m.robot)),
            "cameras": ",".join(m.observation.cameras), "image_size": size[0] if size else 128,
            "rate_hz": m.control_hz}
