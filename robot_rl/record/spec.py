"""What a recording holds: the store spec built from the recorder's settings (cameras, rates,
codec, latencies, robot), identical for every run with the same settings, so a later run appends
to the same store."""
from __future__ import annotations

import dataclasses
import math
import pathlib

import yaml
from typing import Literal

from robot_rl import robot as robot_mod
from robot_rl.robot.features import action_dim as robot_action_dim, layout
from robot_rl.store.schema import RobotDescription, StepSpec, StoreSpec, StreamSpec, validated


@dataclasses.dataclass
class RecordSpecConfig:
    robot: str = robot_mod.DEFAULT_ROBOT          # a builtin robot's name or a description YAML's path
    command_mode: Literal["ee", "joint"] = "ee"   # the control node's: sets the steps' action size
    control_rate_hz: float = 10.0
    cameras: str = "front,wrist"       # comma-separated; topics /camera/<name>/image_raw; "" for none
    image_width: int = 128
    image_height: int = 128
    camera_rate_hz: float = 10.0
    camera_codec: Literal["zstd", "lz4", "none", "jpeg"] = "zstd"   # zstd/lz4/none are lossless
    jpeg_quality: int = 90
    proprio_rate_hz: float = 10.0
    teleop_rate_hz: float = 10.0
    # The latency calibration hook: capture-to-arrival delay per stream kind (robot-rl calib latency
    # measures it); subtracted from receive times before steps are aligned to samples.
    camera_latency_s: float = 0.0
    proprio_latency_s: float = 0.0
    # A calibration folder (robot-rl calib ... --out DIR): a camera with an entry in DIR/latency.yaml
    # gets that latency instead of camera_latency_s. "" = none.
    calibration_dir: str = ""

    def validate(self) -> None:
        robot_mod.load(self.robot)
        if self.image_width <= 0 or self.image_height <= 0:
            raise ValueError("image_width and image_height must be > 0")
        if min(self.camera_rate_hz, self.proprio_rate_hz, self.control_rate_hz) <= 0:
            raise ValueError("rates must be > 0")
        if not (0 <= self.camera_latency_s < 10 and 0 <= self.proprio_latency_s < 10):
            raise ValueError("latencies must be in [0, 10) s")

    @property
    def camera_list(self) -> list[str]:
        return [c.strip() for c in self.cameras.split(",") if c.strip()]


def camera_latencies(c: RecordSpecConfig) -> dict[str, float]:
    """Per camera: the calibrated latency (calibration_dir/latency.yaml) or camera_latency_s."""
    out = {cam: c.camera_latency_s for cam in c.camera_list}
    path = pathlib.Path(c.calibration_dir) / "latency.yaml" if c.calibration_dir else None
    if path is not None and path.exists():
        doc = yaml.safe_load(path.read_text()) or {}
        for cam in out:
            entry = doc.get(cam) or doc.get(f"{cam}_rgb")
            if isinstance(entry, dict) and "latency_s" in entry:
                out[cam] = max(0.0, float(entry["latency_s"]))
    return out


def record_store_spec(c: RecordSpecConfig) -> StoreSpec:
    d = robot_mod.load(c.robot)
    joints = list(d.joints)
    lay = layout(d)
    latency = camera_latencies(c)
    codec, level = (c.camera_codec, c.jpeg_quality) if c.camera_codec == "jpeg" else (c.camera_codec, 3)
    streams = [StreamSpec(name=f"{cam}_rgb", kind="rgb", shape=[c.image_height, c.image_width, 3], dtype="uint8",
                          rate_hz=c.camera_rate_hz, units="uint8 sRGB", codec=codec, level=level,
                          latency_s=latency[cam],
                          # ~0.5 s of frames per shard file: the writer writes whole shards, so at an
                          # episode's end at most this much is left to encode (commit latency)
                          shard_chunks=max(1, math.ceil(c.camera_rate_hz / 2)))
               for cam in c.camera_list]
    streams += [
        StreamSpec(name="joints", shape=[lay.joints.stop - lay.joints.start], rate_hz=c.proprio_rate_hz, units="rad, rad/s",
                   fields=[f"q_{j}" for j in joints] + [f"qd_{j}" for j in joints], latency_s=c.proprio_latency_s),
        StreamSpec(name="ee_pose", shape=[7], rate_hz=c.proprio_rate_hz, units="m, quaternion",
                   fields=["x", "y", "z", "qx", "qy", "qz", "qw"], latency_s=c.proprio_latency_s),
        StreamSpec(name="teleop", shape=[robot_action_dim(d, c.command_mode)], rate_hz=c.teleop_rate_hz,
                   units="action in -1..1"),
    ]
    if d.has_gripper:   # a robot without a gripper has no opening to record
        streams.insert(-1, StreamSpec(name="gripper", shape=[1], rate_hz=c.proprio_rate_hz, units="opening 0..1",
                                      fields=["opening"], latency_s=c.proprio_latency_s))
    return validated(StoreSpec(streams=streams, steps=StepSpec(obs_dim=lay.dim, action_dim=robot_action_dim(d, c.command_mode)),
                               robot=RobotDescription(name=d.name, joint_names=joints, control_rate_hz=c.control_rate_hz,
                                                      description_sha256=d.digest(), command_mode=c.command_mode)))
