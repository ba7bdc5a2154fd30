"""Residual policy on a frozen base (as ResFiT): the residual actor sees the observation and the base
action, its output layer starts at zero, and the executed action is clip(base + scale * residual).
With the residual at zero the combined policy is exactly the base."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from robot_rl.learn.nets import mlp


class ResidualActor(nn.Module):
    """[obs features, base action] -> residual in [-1, 1] (tanh), zero at initialization."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: Sequence[int] = (256, 256)) -> None:
        super().__init__()
        self.net = mlp(obs_dim + action_dim, action_dim, hidden)
        nn.init.zeros_(self.net[-1].weight)   # the output layer: the residual starts at exactly zero
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, obs: torch.Tensor, base_action: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(torch.cat([obs, base_action], dim=-1)))


class ResidualPolicy(nn.Module):
    """base (frozen, any callable obs -> action) + scale * residual, clipped to the action bounds."""

    def __init__(self, base: Callable[[torch.Tensor], torch.Tensor], residual: ResidualActor, scale: float,
                 low: Sequence[float], high: Sequence[float]) -> None:
        super().__init__()
        if not 0 < scale <= 1:
            raise ValueError(f"residual scale must be in (0, 1], got {scale}")
        self.base, self.residual, self.scale = base, residual, float(scale)
        self.register_buffer("low", torch.as_tensor(low, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(high, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(executed action, base action)."""
        with torch.no_grad():
            base = self.base(obs)
        return torch.clamp(base + self.scale * self.residual(obs, base), self.low, self.high), base
