"""What a policy consumes and produces, stored with every exported model (metadata JSON and the
ONNX file's own metadata), so a runtime can refuse a model that does not fit the robot."""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

from robot_rl import config

METADATA_KEY = "robot_rl.policy"
FORMAT_VERSION = 1


class PolicyError(Exception):
    """A policy that cannot be exported, loaded or run as asked; str() is one line."""


@dataclasses.dataclass
class ObsSpec:
    name: str                 # the ONNX input name, e.g. "proprio", "front"
    shape: list[int]          # one sample's shape (the batch axis is added), e.g. [17] or [128, 128, 3]
    dtype: str = "float32"    # float32 for vectors, uint8 for images

    def validate(self) -> None:
        if self.dtype not in ("float32", "uint8"):
            raise ValueError(f"obs {self.name}: dtype must be float32 or uint8")


@dataclasses.dataclass
class ActionSpec:
    names: list[str]
    low: list[float]
    high: list[float]
    units: str = ""

    def validate(self) -> None:
        if not (len(self.names) == len(self.low) == len(self.high)) or any(lo > hi for lo, hi in zip(self.low, self.high)):
            raise ValueError("action names, low and high must have equal lengths with low <= high")

    @property
    def dim(self) -> int:
        return len(self.names)


@dataclasses.dataclass
class ResidualSpec:
    base: str                 # registry reference of the base policy, "name/version"
    scale: float = 0.1


@dataclasses.dataclass
class RobotRef:
    """The robot and action space a policy was made for: the robot description's name and digest
    (robot_rl.robot) and the control node's command mode. Empty: the policy names no robot."""
    name: str = ""
    sha256: str = ""
    command_mode: str = ""

    def check(self, policy: str, robot: "RobotRef") -> None:
        """PolicyError (one line) unless a policy made for `self` may run on `robot`."""
        if self.sha256 and robot.sha256 and self.sha256 != robot.sha256:
            raise PolicyError(f"policy {policy} was made for robot {self.name} ({self.sha256[:12]}), this robot is "
                              f"{robot.name} ({robot.sha256[:12]})")
        if self.command_mode and robot.command_mode and self.command_mode != robot.command_mode:
            raise PolicyError(f"policy {policy} acts in command mode {self.command_mode}, this robot's control node "
                              f"runs {robot.command_mode}")


@dataclasses.dataclass
class PolicyMetadata:
    name: str
    obs: list[ObsSpec]
    action: ActionSpec
    control_hz: float = 10.0
    normalization: dict[str, Any] = dataclasses.field(default_factory=dict)  # obs name -> {mean, std}
    residual: Optional[ResidualSpec] = None
    version: str = ""
    sha256: str = ""
    parent: str = ""
    created_ns: int = 0
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    kind: str = "policy"      # "policy", or "reward": a success classifier (output `success`, a probability)
    # > 1: the graph also outputs `action_chunk` [B, K, A], the next K actions, and the runtime
    # executes their temporal ensemble (robot_rl.policy.chunking) instead of `action`
    action_chunk: int = 1
    chunk_decay: float = 0.01
    robot: RobotRef = dataclasses.field(default_factory=RobotRef)

    def to_json(self) -> dict[str, Any]:
        return config.to_dict(self)

    @classmethod
    def from_json(cls, data: Any) -> "PolicyMetadata":
        try:
            meta = config.from_dict(cls, data)
        except config.ConfigError as exc:
            raise PolicyError(f"invalid policy metadata: {exc}") from None
        if meta.action_chunk < 1 or meta.chunk_decay < 0:
            raise PolicyError(f"invalid policy metadata: action_chunk {meta.action_chunk} (>= 1), "
                              f"chunk_decay {meta.chunk_decay:g} (>= 0)")
        if meta.format_version > FORMAT_VERSION:
            raise PolicyError(f"policy metadata format {meta.format_version} is newer than this robot_rl reads")
        return meta
