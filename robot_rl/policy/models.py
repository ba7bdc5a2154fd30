"""Torch policies whose exported graph carries everything: observation normalization, uint8 image
scaling and action scaling are inside the model, so the ONNX file alone maps raw observations to
robot actions."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from robot_rl.policy.spec import ActionSpec, ObsSpec


class _Head(nn.Module):
    def __init__(self, in_dim: int, action: ActionSpec, hidden: Sequence[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        layers.append(nn.Linear(d, action.dim))
        self.mlp = nn.Sequential(*layers)
        low, high = torch.tensor(action.low, dtype=torch.float32), torch.tensor(action.high, dtype=torch.float32)
        self.register_buffer("act_mid", (high + low) / 2)
        self.register_buffer("act_half", (high - low) / 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act_mid + self.act_half * torch.tanh(self.mlp(x))


class MLPPolicy(nn.Module):
    """proprio float32 [B, D] -> action [B, A] within the action bounds."""

    def __init__(self, obs: ObsSpec, action: ActionSpec, hidden: Sequence[int] = (256, 256),
                 mean: Optional[np.ndarray] = None, std: Optional[np.ndarray] = None) -> None:
        super().__init__()
        d = obs.shape[0]
        self.obs_names = [obs.name]
        self.register_buffer("mean", torch.as_tensor(np.zeros(d) if mean is None else mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(np.ones(d) if std is None else std, dtype=torch.float32))
        self.head = _Head(d, action, hidden)

    def forward(self, proprio: torch.Tensor) -> torch.Tensor:
        return self.head((proprio - self.mean) / self.std)


class CNNPolicy(nn.Module):
    """uint8 images [B, H, W, 3] per camera + proprio [B, D] -> action [B, A]."""

    def __init__(self, cameras: list[ObsSpec], proprio: ObsSpec, action: ActionSpec, hidden: Sequence[int] = (256,),
                 mean: Optional[np.ndarray] = None, std: Optional[np.ndarray] = None, channels: int = 32) -> None:
        super().__init__()
        self.obs_names = [c.name for c in cameras] + [proprio.name]
        d = proprio.shape[0]
        self.register_buffer("mean", torch.as_tensor(np.zeros(d) if mean is None else mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(np.ones(d) if std is None else std, dtype=torch.float32))
        self.encoders = nn.ModuleList()
        feat = 0
        for cam in cameras:
            enc = nn.Sequential(nn.Conv2d(3, channels, 5, stride=2), nn.ReLU(), nn.Conv2d(channels, channels, 3, stride=2),
                                nn.ReLU(), nn.Conv2d(channels, channels, 3, stride=2), nn.ReLU(),
                                nn.Conv2d(channels, channels, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                nn.Flatten())  # global pooling: exports for any image size
            self.encoders.append(enc)
            feat += channels
        self.head = _Head(feat + d, action, hidden)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        *images, proprio = inputs
        feats = [enc(img.permute(0, 3, 1, 2).to(torch.float32) / 255.0) for enc, img in zip(self.encoders, images)]
        return self.head(torch.cat(feats + [(proprio - self.mean) / self.std], dim=1))
