"""Networks for the learner: MLPs with LayerNorm (the critic ensemble's stabilizer in RLPD / SERL),
a squashed-Gaussian actor and a critic ensemble evaluated in one batched pass."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn


def mlp(in_dim: int, out_dim: int, hidden: Sequence[int], layer_norm: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = in_dim
    for h in hidden:
        layers += [nn.Linear(d, h)] + ([nn.LayerNorm(h)] if layer_norm else []) + [nn.ReLU()]
        d = h
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class SquashedGaussianActor(nn.Module):
    """obs -> tanh(Normal(mu, sigma)) in [-1, 1]^A with the log-probability of the squashed sample."""

    LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0

    def __init__(self, obs_dim: int, action_dim: int, hidden: Sequence[int] = (256, 256),
                 zero_init_mean: bool = False) -> None:
        super().__init__()
        self.net = mlp(obs_dim, 2 * action_dim, hidden)
        if zero_init_mean:   # a residual: the deterministic action starts at exactly 0
            out = self.net[-1]
            nn.init.zeros_(out.weight[:action_dim])
            nn.init.zeros_(out.bias[:action_dim])

    def forward(self, obs: torch.Tensor, deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_std = self.net(obs).chunk(2, dim=-1)
        log_std = self.LOG_STD_MIN + 0.5 * (self.LOG_STD_MAX - self.LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        if deterministic:
            return torch.tanh(mu), torch.zeros(obs.shape[0], device=obs.device)
        std = log_std.exp()
        u = mu + std * torch.randn_like(mu)
        a = torch.tanh(u)
        # log N(u; mu, std) - sum log(1 - tanh(u)^2), the latter written stably
        logp = (-0.5 * ((u - mu) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        logp = logp - (2 * (math.log(2) - u - nn.functional.softplus(-2 * u))).sum(-1)
        return a, logp


class ColumnsActor(nn.Module):
    """A SquashedGaussianActor that reads only some of the feature columns it is given (same calling
    convention): e.g. proprio and the auxiliary heads' predictions, not the image features
    (sac.actor_images)."""

    def __init__(self, columns: Sequence[int], action_dim: int, hidden: Sequence[int] = (256, 256)) -> None:
        super().__init__()
        self.register_buffer("columns", torch.as_tensor(list(columns), dtype=torch.long))
        self.actor = SquashedGaussianActor(len(columns), action_dim, hidden)

    def forward(self, features: torch.Tensor, deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        return self.actor(features.index_select(-1, self.columns), deterministic)


class EnsembleLinear(nn.Module):
    """E independent Linear layers applied in one batched matmul: [E, B, in] -> [E, B, out].
    Initialized like nn.Linear, member by member."""

    def __init__(self, ensemble: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)
        self.weight = nn.Parameter(torch.empty(ensemble, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(ensemble, 1, out_dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleLayerNorm(nn.Module):
    def __init__(self, ensemble: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ensemble, 1, dim))
        self.bias = nn.Parameter(torch.zeros(ensemble, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.layer_norm(x, x.shape[-1:]) * self.weight + self.bias


class CriticEnsemble(nn.Module):
    """E independent Q(obs, action) networks (LayerNorm MLPs), evaluated together: each layer is
    one batched matmul over the members, faster than member by member (docs/BENCHMARKS.md).
    forward returns [E, B]."""

    def __init__(self, obs_dim: int, action_dim: int, ensemble: int = 2, hidden: Sequence[int] = (256, 256)) -> None:
        super().__init__()
        if ensemble < 2:
            raise ValueError("the critic ensemble needs at least 2 members (the target takes a min)")
        self.ensemble = ensemble
        layers: list[nn.Module] = []
        d = obs_dim + action_dim
        for h in hidden:
            layers += [EnsembleLinear(ensemble, d, h), EnsembleLayerNorm(ensemble, h), nn.ReLU()]
            d = h
        layers.append(EnsembleLinear(ensemble, d, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, action], dim=-1)
        return self.net(x.unsqueeze(0).expand(self.ensemble, -1, -1)).squeeze(-1)
