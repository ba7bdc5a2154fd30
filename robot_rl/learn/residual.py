"""Residual policy on a frozen base (as ResFiT): the residual actor sees the observation features
and the base action, its mean output starts at zero, and the executed action is

    clip(base + scale * half_range * residual, low, high)       residual in [-1, 1]

written in the action's own units, so with the residual at zero the result is the base action bit
for bit (no normalize/denormalize round trip). The learner uses it with low=-1, high=1."""
from __future__ import annotations

import torch


def combine(base: torch.Tensor, residual: torch.Tensor, scale: float, low: torch.Tensor,
            high: torch.Tensor) -> torch.Tensor:
    return torch.minimum(torch.maximum(base + (scale * 0.5) * (high - low) * residual, low), high)
