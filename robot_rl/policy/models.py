"""Torch policies whose exported graph carries everything: observation normalization, uint8 image
scaling and action scaling are inside the model, so the ONNX file alone maps raw observations to
robot actions."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from robot_rl.policy.spec import ActionSpec, ObsSpec


def normalize_proprio(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(x - mean) / std, clipped to +-10 as SB3's VecNormalize does: an outlier reading, or a joint
    that barely moved in the data (std ~ 0), cannot drive the network far outside what it learned."""
    return torch.clamp((x - mean) / std, -10.0, 10.0)


class _Head(nn.Module):
    """features -> `chunk` actions [B, chunk, A] within the action bounds."""

    def __init__(self, in_dim: int, action: ActionSpec, hidden: Sequence[int], chunk: int = 1) -> None:
        super().__init__()
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        self.chunk, self.action_dim = int(chunk), action.dim
        layers: list[nn.Module] = []
        d = in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        layers.append(nn.Linear(d, action.dim * self.chunk))
        self.mlp = nn.Sequential(*layers)
        low, high = torch.tensor(action.low, dtype=torch.float32), torch.tensor(action.high, dtype=torch.float32)
        self.register_buffer("act_mid", (high + low) / 2)
        self.register_buffer("act_half", (high - low) / 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.tanh(self.mlp(x)).view(x.shape[0], self.chunk, self.action_dim)
        return self.act_mid + self.act_half * y


class ChunkedPolicy(nn.Module):
    """A policy whose head predicts `chunk` actions: forward() is the first of them ([B, A], what a
    residual base or any single-action caller uses), forward_chunk() all of them ([B, K, A])."""

    def forward_chunk(self, *inputs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.forward_chunk(*inputs)[:, 0]


class ChunkOutputs(nn.Module):
    """Export view of a chunked policy: outputs `action` (the first of the chunk) and
    `action_chunk` (all of them), so the runtime can ensemble while anything that reads `action`
    still works."""

    def __init__(self, policy: ChunkedPolicy) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        chunk = self.policy.forward_chunk(*inputs)
        return chunk[:, 0], chunk


class MLPPolicy(ChunkedPolicy):
    """proprio float32 [B, D] -> action [B, A] within the action bounds (or `chunk` of them)."""

    def __init__(self, obs: ObsSpec, action: ActionSpec, hidden: Sequence[int] = (256, 256),
                 mean: Optional[np.ndarray] = None, std: Optional[np.ndarray] = None, chunk: int = 1) -> None:
        super().__init__()
        d = obs.shape[0]
        self.obs_names = [obs.name]
        self.register_buffer("mean", torch.as_tensor(np.zeros(d) if mean is None else mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(np.ones(d) if std is None else std, dtype=torch.float32))
        self.head = _Head(d, action, hidden, chunk)

    def forward_chunk(self, proprio: torch.Tensor) -> torch.Tensor:
        return self.head(normalize_proprio(proprio, self.mean, self.std))


def pool_frames(images: torch.Tensor, k: int) -> torch.Tensor:
    """uint8 [B, H, W, 3] -> uint8 [B, H/k, W/k, 3]: k x k means, rounded (half to even, as ONNX
    Round). Learners store frames pooled this way; an exported encoder pools full camera frames
    in its graph with the same arithmetic, so both see identical pixels."""
    x = nn.functional.avg_pool2d(images.permute(0, 3, 1, 2).to(torch.float32), k)
    return torch.round(x).to(torch.uint8).permute(0, 2, 3, 1)


class ImageEncoder(nn.Module):
    """One camera: uint8 [B, H, W, 3] -> [B, feature_dim], LayerNorm + tanh bounded (DrQ-v2 / SERL
    style). Frames are average-pooled by `downsample` first: on two CPU cores 64x64 costs ~4x less
    than 128x128. Takes the camera's full frames (`image_hw`) or frames already pooled (learners
    keep pooled frames in RAM: 4x less memory and conversion work per batch)."""

    def __init__(self, image_hw: Sequence[int], channels: int = 16, feature_dim: int = 64, downsample: int = 2) -> None:
        super().__init__()
        if downsample < 1 or image_hw[0] % downsample or image_hw[1] % downsample:
            raise ValueError(f"downsample {downsample} must divide the image size {list(image_hw)}")
        self.image_hw, self.downsample = tuple(int(v) for v in image_hw), int(downsample)
        c = channels
        # in-place ReLUs: the activation maps are the largest tensors here, and memory-bound on CPU
        self.conv = nn.Sequential(nn.Conv2d(3, c, 3, stride=2), nn.ReLU(inplace=True), nn.Conv2d(c, c, 3, stride=2),
                                  nn.ReLU(inplace=True), nn.Conv2d(c, c, 3, stride=2), nn.ReLU(inplace=True),
                                  nn.Flatten())
        with torch.no_grad():
            flat = self.conv(torch.zeros(1, 3, self.image_hw[0] // downsample, self.image_hw[1] // downsample)).shape[1]
        self.head = nn.Sequential(nn.Linear(flat, feature_dim), nn.LayerNorm(feature_dim), nn.Tanh())
        self.feature_dim = feature_dim

    @property
    def pooled_hw(self) -> tuple[int, int]:
        return self.image_hw[0] // self.downsample, self.image_hw[1] // self.downsample

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.downsample > 1 and tuple(images.shape[1:3]) == self.image_hw:   # full frames: pool in the graph
            images = pool_frames(images, self.downsample)
        x = images.permute(0, 3, 1, 2).to(torch.float32) * (1.0 / 255.0)
        return self.head(self.conv(x))


class CNNPolicy(ChunkedPolicy):
    """uint8 images [B, H, W, 3] per camera + proprio [B, D] -> action [B, A] (or `chunk` of them)."""

    def __init__(self, cameras: list[ObsSpec], proprio: ObsSpec, action: ActionSpec, hidden: Sequence[int] = (256,),
                 mean: Optional[np.ndarray] = None, std: Optional[np.ndarray] = None, channels: int = 16,
                 feature_dim: int = 64, downsample: int = 2, chunk: int = 1) -> None:
        super().__init__()
        self.obs_names = [c.name for c in cameras] + [proprio.name]
        d = proprio.shape[0]
        self.register_buffer("mean", torch.as_tensor(np.zeros(d) if mean is None else mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(np.ones(d) if std is None else std, dtype=torch.float32))
        self.encoders = nn.ModuleList(ImageEncoder(cam.shape[:2], channels, feature_dim, downsample) for cam in cameras)
        self.head = _Head(len(cameras) * feature_dim + d, action, hidden, chunk)

    def forward_chunk(self, *inputs: torch.Tensor) -> torch.Tensor:
        *images, proprio = inputs
        feats = [enc(img) for enc, img in zip(self.encoders, images)]
        return self.head(torch.cat(feats + [normalize_proprio(proprio, self.mean, self.std)], dim=1))
