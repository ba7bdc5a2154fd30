"""Schema v1 of the episode store: the typed description of what a store holds.

Everything here is plain data that is written into the store's root attributes as JSON, so a
reader with nothing but `zarr` can find out what each array means (docs/DATA_FORMAT.md).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal, Optional

import numpy as np

from robot_rl import config

SCHEMA_NAME = "robot_rl.episode_store"
SCHEMA_VERSION = 1

#: episodes/status values. An episode is written only when it ends, so every row has one of these.
STATUS_COMPLETE, STATUS_ABORTED, STATUS_DISCARDED = 0, 1, 2
STATUS_NAMES = {STATUS_COMPLETE: "complete", STATUS_ABORTED: "aborted", STATUS_DISCARDED: "discarded"}
STATUS_CODES = {v: k for k, v in STATUS_NAMES.items()}
#: episodes/success values
SUCCESS_UNKNOWN, SUCCESS_NO, SUCCESS_YES = -1, 0, 1

LOSSLESS_CODECS = ("none", "zstd", "lz4")
LOSSY_CODECS = ("jpeg",)
CODECS = LOSSLESS_CODECS + LOSSY_CODECS   # every stream codec (the lossy ones for rgb streams only)
StreamKind = Literal["rgb", "depth", "vector"]
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class StoreError(Exception):
    """A store that cannot be used as asked (not a store, newer schema, truncated, locked...).
    str(error) is one line a user can act on."""


@dataclasses.dataclass
class StreamSpec:
    """One sensor stream: each camera's rgb or depth, joint state, end-effector pose, teleop input...

    Samples are appended at the stream's own rate with two int64 nanosecond stamps each: the
    sensor's clock (hardware or driver stamp) and the receive clock (the recorder's monotonic
    arrival time).
    """
    name: str
    kind: StreamKind = "vector"
    shape: list[int] = dataclasses.field(default_factory=list)  # one sample's shape, e.g. [480, 640, 3]
    dtype: str = "float32"
    rate_hz: float = 0.0             # nominal rate; 0 = unknown / event-driven
    units: str = ""                  # e.g. "rad", "m", "uint8 sRGB", "mm"
    fields: list[str] = dataclasses.field(default_factory=list)  # names of a vector's components
    codec: str = "zstd"              # none | zstd | lz4 (lossless) | jpeg (lossy, rgb only)
    level: int = 3                   # zstd/lz4 level, or JPEG quality (1..100)
    chunk_samples: int = 0           # samples per chunk; 0 = 1 for images, 1024 for vectors
    shard_chunks: int = 0            # chunks per shard file; 0 = 30 for images, 16 for vectors
    # Known delay from capture to arrival at the recorder (calibration: robot-rl calib latency).
    # receive_ns is stored as measured; capture time ~= receive_ns - latency_s, which is what the
    # recorder aligns control steps against (as UMI does).
    latency_s: float = 0.0

    def validate(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"stream name {self.name!r}: use lowercase letters, digits and _ (start with a letter)")
        try:
            dt = np.dtype(self.dtype)
        except TypeError:
            raise ValueError(f"stream {self.name}: dtype {self.dtype!r} is not a numpy dtype") from None
        if dt.kind not in "biuf":
            raise ValueError(f"stream {self.name}: dtype {self.dtype!r} must be numeric")
        if any(int(n) <= 0 for n in self.shape):
            raise ValueError(f"stream {self.name}: shape {self.shape} must be positive")
        if self.kind == "rgb":
            if len(self.shape) != 3 or self.shape[2] != 3 or dt != np.uint8:
                raise ValueError(f"stream {self.name}: rgb samples are uint8 [H, W, 3], got {self.dtype} {self.shape}")
        if self.kind == "depth":
            if len(self.shape) != 2 or dt.kind not in "uf":
                raise ValueError(f"stream {self.name}: depth samples are [H, W] uint16 or float, got {self.dtype} {self.shape}")
        if self.codec not in CODECS:
            raise ValueError(f"stream {self.name}: codec {self.codec!r} is not one of "
                             f"{', '.join(CODECS)}")
        if self.codec in LOSSY_CODECS and self.kind != "rgb":
            raise ValueError(f"stream {self.name}: codec {self.codec!r} is lossy; only rgb streams may use it "
                             "(proprio and depth stay lossless)")
        if self.codec == "jpeg" and not 1 <= self.level <= 100:
            raise ValueError(f"stream {self.name}: JPEG quality (level) must be 1..100, got {self.level}")
        if self.fields and self.kind == "vector" and (len(self.shape) != 1 or len(self.fields) != self.shape[0]):
            raise ValueError(f"stream {self.name}: {len(self.fields)} field names for shape {self.shape}")
        if self.rate_hz < 0 or self.chunk_samples < 0 or self.shard_chunks < 0 or not 0 <= self.latency_s < 10:
            raise ValueError(f"stream {self.name}: rate_hz, chunk_samples and shard_chunks must be >= 0, "
                             "latency_s in [0, 10)")

    @property
    def is_image(self) -> bool:
        return self.kind in ("rgb", "depth")

    @property
    def chunk_len(self) -> int:
        return self.chunk_samples or (1 if self.is_image else 1024)

    @property
    def shard_len(self) -> int:
        """Samples per shard file: the writer's unit of work."""
        return self.chunk_len * (self.shard_chunks or (30 if self.is_image else 16))

    @property
    def sample_nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclasses.dataclass
class StepSpec:
    """What one control step records (all float32 vectors)."""
    obs_dim: int = 0
    action_dim: int = 0
    chunk_steps: int = 1024
    shard_chunks: int = 16

    def validate(self) -> None:
        if self.obs_dim < 0 or self.action_dim < 0 or self.chunk_steps <= 0 or self.shard_chunks <= 0:
            raise ValueError("obs_dim and action_dim must be >= 0, chunk_steps and shard_chunks > 0")

    @property
    def shard_len(self) -> int:
        return self.chunk_steps * self.shard_chunks


@dataclasses.dataclass
class CameraCalibration:
    """Pinhole intrinsics and the camera's pose in the robot base frame, when known."""
    width: int
    height: int
    K: list[list[float]]                                  # 3x3
    distortion: list[float] = dataclasses.field(default_factory=list)
    distortion_model: str = "plumb_bob"
    T_base_camera: Optional[list[list[float]]] = None     # 4x4, None = not calibrated
    stream: str = ""                                      # the stream these frames arrive on


@dataclasses.dataclass
class RobotDescription:
    name: str = "robot"
    joint_names: list[str] = dataclasses.field(default_factory=list)
    joint_lower: list[float] = dataclasses.field(default_factory=list)
    joint_upper: list[float] = dataclasses.field(default_factory=list)
    control_rate_hz: float = 0.0
    description_sha256: str = ""   # the robot description's digest (robot_rl.robot), "" if unknown
    command_mode: str = ""         # the control node's command mode the steps' actions are in (ee, joint)

    def validate(self) -> None:
        n = len(self.joint_names)
        for key in ("joint_lower", "joint_upper"):
            if getattr(self, key) and len(getattr(self, key)) != n:
                raise ValueError(f"{key} has {len(getattr(self, key))} values for {n} joints")


@dataclasses.dataclass
class StoreSpec:
    """Everything fixed when a store is created. Loadable from YAML like every other config."""
    streams: list[StreamSpec] = dataclasses.field(default_factory=list)
    steps: StepSpec = dataclasses.field(default_factory=StepSpec)
    robot: RobotDescription = dataclasses.field(default_factory=RobotDescription)
    cameras: dict[str, CameraCalibration] = dataclasses.field(default_factory=dict)

    def validate(self) -> None:
        names = [s.name for s in self.streams]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"duplicate stream name(s): {', '.join(sorted(dup))}")
        for cam, cal in self.cameras.items():
            if cal.stream and cal.stream not in names:
                raise ValueError(f"cameras.{cam}.stream: no stream named {cal.stream!r}")

    def stream(self, name: str) -> StreamSpec:
        for s in self.streams:
            if s.name == name:
                return s
        raise KeyError(f"no stream named {name!r} (streams: {', '.join(s.name for s in self.streams) or 'none'})")

    @property
    def stream_names(self) -> list[str]:
        return [s.name for s in self.streams]


def validated(spec: StoreSpec) -> StoreSpec:
    """Run every validate() hook of a spec built in code (YAML-loaded specs already ran them)."""
    try:
        return config.from_dict(StoreSpec, config.to_dict(spec))
    except config.ConfigError as exc:
        raise StoreError(f"invalid store spec: {exc}") from None


def spec_to_attrs(spec: StoreSpec) -> dict[str, Any]:
    return config.to_dict(spec)


def spec_from_attrs(data: Any) -> StoreSpec:
    try:
        return config.from_dict(StoreSpec, data)
    except config.ConfigError as exc:
        raise StoreError(f"the store's spec attribute is invalid: {exc}") from None
