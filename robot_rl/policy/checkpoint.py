"""Torch policy checkpoints: weights in safetensors (no pickle) with the policy's config as JSON in
the file's metadata, so a checkpoint alone rebuilds its model for export and parity checks."""
from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Literal

import torch
from safetensors.torch import load_file, save_file

from robot_rl import config
from robot_rl.policy.models import CNNPolicy, MLPPolicy
from robot_rl.policy.spec import ActionSpec, ObsSpec, PolicyError, PolicyMetadata, RobotRef
from robot_rl.robot import DEFAULT_ROBOT

CONFIG_KEY = "robot_rl.policy_config"


@dataclasses.dataclass
class PolicyConfig:
    """A policy's inputs and outputs come from the store it learns from or the robot it is for
    (sim_policy_config); they have no defaults."""
    proprio: ObsSpec
    action: ActionSpec
    kind: Literal["mlp", "cnn"] = "mlp"
    cameras: list[ObsSpec] = dataclasses.field(default_factory=list)
    hidden: list[int] = dataclasses.field(default_factory=lambda: [256, 256])
    control_hz: float = 10.0
    downsample: int = 2          # cnn: images average-pooled by this before the convolutions
    chunk: int = 1               # actions predicted per step (ACT's action chunking; 1 = one action)
    chunk_decay: float = 0.01    # temporal ensembling weight exp(-decay * i), i = 0 the oldest prediction
    robot: RobotRef = dataclasses.field(default_factory=RobotRef)   # the robot it was trained for

    @property
    def obs(self) -> list[ObsSpec]:
        return (self.cameras if self.kind == "cnn" else []) + [self.proprio]

    def build(self) -> torch.nn.Module:
        if self.kind == "mlp":
            return MLPPolicy(self.proprio, self.action, hidden=self.hidden, chunk=self.chunk)
        if not self.cameras:
            raise PolicyError("a cnn policy needs at least one camera")
        return CNNPolicy(self.cameras, self.proprio, self.action, hidden=self.hidden, downsample=self.downsample,
                         chunk=self.chunk)

    def metadata(self, name: str) -> PolicyMetadata:
        """What an export of this policy says about itself (the registry fills version and sha256)."""
        return PolicyMetadata(name=name, obs=self.obs, action=self.action, control_hz=self.control_hz,
                              action_chunk=self.chunk, chunk_decay=self.chunk_decay, robot=self.robot)


def sim_policy_config(kind: str = "mlp", robot: str = DEFAULT_ROBOT, image_size: int = 128) -> PolicyConfig:
    """The spec of a robot's observations (its proprio features, the simulator's two cameras) and
    actions in its description's command mode, naming the robot."""
    from robot_rl.robot import features, load
    d = load(robot)
    names = features.action_names(d)
    cams = [ObsSpec(c, [image_size, image_size, 3], "uint8") for c in ("front", "wrist")] if kind == "cnn" else []
    return PolicyConfig(kind=kind, proprio=ObsSpec("proprio", [features.layout(d).dim]), cameras=cams,  # type: ignore[arg-type]
                        action=ActionSpec(names, [-1.0] * len(names), [1.0] * len(names)),
                        hidden=[256, 256] if kind == "mlp" else [256],
                        robot=RobotRef(d.name, d.digest(), d.command.mode))


def save_checkpoint(model: torch.nn.Module, cfg: PolicyConfig, path: str | pathlib.Path) -> None:
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={CONFIG_KEY: json.dumps(config.to_dict(cfg))})


def load_checkpoint(path: str | pathlib.Path) -> tuple[torch.nn.Module, PolicyConfig]:
    from safetensors import safe_open
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        cfg = config.from_dict(PolicyConfig, json.loads(meta[CONFIG_KEY]))
        model = cfg.build()
        model.load_state_dict(load_file(str(path)))
    except (OSError, KeyError, ValueError, RuntimeError, config.ConfigError) as exc:
        raise PolicyError(f"{path}: not a robot_rl policy checkpoint ({str(exc).splitlines()[0][:120]})") from None
    return model.eval(), cfg
