"""The observation encoder shared by actor and critic: proprio (normalized with statistics frozen
at the start of training) and, per camera, robot_rl.policy's ImageEncoder -> one feature vector.

The critic trains the encoder; the actor reads its features with gradients stopped (as HIL-SERL
and DrQ do), so the actor's loss cannot bend the representation toward its own Q-maximization.
`sac.bc_encoder` lets one actor term through: imitation of the human steps.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from robot_rl.learn.nets import mlp
from robot_rl.policy.models import ImageEncoder, normalize_proprio
from robot_rl.store.grasp import GRASP_DIM


@dataclasses.dataclass
class EncoderConfig:
    channels: int = 16          # per conv layer (32 costs ~3.7x the time on two CPU cores)
    feature_dim: int = 64       # per camera
    downsample: int = 2         # average-pool factor applied to images first (1: none)
    keypoints: bool = False     # spatial-softmax keypoints instead of the flattened map (ImageEncoder)

    def validate(self) -> None:
        if self.channels < 1 or self.feature_dim < 1 or self.downsample < 1:
            raise ValueError("encoder channels, feature_dim and downsample must be >= 1")


class ObsEncoder(nn.Module):
    """{"proprio": float32 [B, D], camera: uint8 [B, H, W, 3], ...} -> float32 [B, out_dim]."""

    def __init__(self, proprio_dim: int, cameras: Sequence[str] = (), image_hw: Sequence[int] = (128, 128),
                 cfg: Optional[EncoderConfig] = None, mean: Optional[np.ndarray] = None,
                 std: Optional[np.ndarray] = None) -> None:
        super().__init__()
        cfg = cfg or EncoderConfig()
        cfg.validate()
        self.cameras = list(cameras)
        self.register_buffer("mean", torch.as_tensor(np.zeros(proprio_dim) if mean is None else mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(np.ones(proprio_dim) if std is None else std, dtype=torch.float32))
        self.image_encoders = nn.ModuleDict({c: ImageEncoder(image_hw, cfg.channels, cfg.feature_dim, cfg.downsample,
                                                                   cfg.keypoints)
                                             for c in self.cameras})
        self.out_dim = proprio_dim + len(self.cameras) * cfg.feature_dim

    def columns(self, cameras: Optional[Sequence[str]] = None, proprio: bool = True) -> list[int]:
        """The feature columns of these cameras (None: every camera), after proprio's unless
        proprio=False, in forward()'s order."""
        cams = self.cameras if cameras is None else list(cameras)
        unknown = [c for c in cams if c not in self.cameras]
        if unknown:
            raise ValueError(f"no camera {unknown[0]!r} in this encoder (cameras: {', '.join(self.cameras) or 'none'})")
        proprio_dim = self.mean.shape[0]
        width = (self.out_dim - proprio_dim) // max(len(self.cameras), 1)
        cols = list(range(proprio_dim)) if proprio else []
        for i, c in enumerate(self.cameras):
            if c in cams:
                cols += range(proprio_dim + i * width, proprio_dim + (i + 1) * width)
        return cols

    def set_normalization(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.std.copy_(torch.as_tensor(np.maximum(std, 1e-3), dtype=torch.float32))

    def forward(self, obs: dict[str, torch.Tensor], cameras: Optional[Sequence[str]] = None) -> torch.Tensor:
        """Every camera's features, or only `cameras`' (the others' columns zero: for a head that
        reads those alone, at the cost of those cameras' image passes only)."""
        feats = [normalize_proprio(obs["proprio"], self.mean, self.std)]
        for c, enc in self.image_encoders.items():
            if cameras is None or c in cameras:
                feats.append(enc(obs[c]))
            else:
                feats.append(feats[0].new_zeros(feats[0].shape[0], enc.feature_dim))
        return torch.cat(feats, dim=-1)


class GraspHead(nn.Module):
    """Where the object is relative to the gripper and how far the gripper must turn to grasp it
    [dx, dy, dz, dyaw], from some of an ObsEncoder's image feature columns (sac.grasp_aux_weight),
    in SAC.GRASP_UNITS. `own(features)` answers in the head's own axes (the gripper's yaw frame
    when `gripper_frame`, else the world's): what its loss compares;
    `forward(features, proprio)` always in the world's, turned by the proprio's yaw column."""

    def __init__(self, columns: Sequence[int], hidden: int, gripper_frame: bool, yaw_column: int) -> None:
        super().__init__()
        self.register_buffer("columns", torch.as_tensor(list(columns), dtype=torch.long))
        self.net = mlp(len(columns), GRASP_DIM, [hidden])
        self.gripper_frame, self.yaw_column = bool(gripper_frame), int(yaw_column)

    def own(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features.index_select(1, self.columns))

    def forward(self, features: torch.Tensor, proprio: torch.Tensor) -> torch.Tensor:
        g = self.own(features)
        return turn_xy(g, proprio[:, self.yaw_column]) if self.gripper_frame else g

    def to_own(self, world: torch.Tensor, proprio: torch.Tensor) -> torch.Tensor:
        """World-axes targets [B, 4] in the head's own axes (the yaw difference is the same in both)."""
        return turn_xy(world, -proprio[:, self.yaw_column]) if self.gripper_frame else world


class GraspInputEncoder(nn.Module):
    """An ObsEncoder whose features end with the grasp head's prediction (sac.grasp_aux_input): where
    the object is relative to the gripper and the yaw to turn (4 columns), in the world's axes and
    SAC.GRASP_UNITS, stopped gradient, so actor and critic read it while only the grasp target
    trains the head. With few demonstrations a policy can then learn to move toward that estimate
    instead of memorizing where the object was in each demonstration. Exported with the policy (the
    head is in the graph)."""

    def __init__(self, encoder: ObsEncoder, head: GraspHead) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head
        self.cameras, self.out_dim = encoder.cameras, encoder.out_dim + GRASP_DIM

    @property
    def mean(self) -> torch.Tensor:
        return self.encoder.mean

    @property
    def std(self) -> torch.Tensor:
        return self.encoder.std

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        f = self.encoder(obs)
        return torch.cat([f, self.head(f, obs["proprio"]).detach()], dim=-1)


def turn_xy(v: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate the xy part (columns 0, 1) of [B, >= 3] vectors by angle [B] about z, the other
    columns unchanged (exports to ONNX: cos, sin, mul)."""
    c, s = torch.cos(angle), torch.sin(angle)
    xy = torch.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1]], dim=1)
    return torch.cat([xy, v[:, 2:]], dim=1)
