"""The observation encoder shared by actor and critic: proprio (normalized with statistics frozen
at the start of training) and, per camera, robot_rl.policy's ImageEncoder -> one feature vector.

The critic trains the encoder; the actor reads its features with gradients stopped (as HIL-SERL
and DrQ do), so the actor's loss cannot bend the representation toward its own Q-maximization.
`sac.bc_encoder` lets one actor term through: imitation of the human steps.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from robot_rl.learn.config import EncoderConfig
from robot_rl.policy.models import ImageEncoder, normalize_proprio


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
        self.image_encoders = nn.ModuleDict({c: ImageEncoder(image_hw, cfg.channels, cfg.feature_dim, cfg.downsample)
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
