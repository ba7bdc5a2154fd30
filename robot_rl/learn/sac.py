"""SAC with a LayerNorm critic ensemble and automatic temperature, on n-step targets (as RLPD and
SERL use it). One `update(batch)` is one gradient step of critic, actor and temperature.

batch (torch float32): obs [B, D], action [B, A] (the executed action: the human's where they
intervened), ret [B] (n-step discounted reward sum), discount [B] (gamma^k, 0 after a terminal),
next_obs [B, D] (the bootstrap observation). The target takes the min over `target_subset` random
ensemble members (REDQ; 2 of 2 is clipped double-Q).
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Optional

import torch

from robot_rl.learn.nets import CriticEnsemble, SquashedGaussianActor


@dataclasses.dataclass
class SACConfig:
    hidden: list[int] = dataclasses.field(default_factory=lambda: [256, 256])
    ensemble: int = 2
    target_subset: int = 2
    lr: float = 3e-4
    tau: float = 0.005
    init_temperature: float = 0.1
    target_entropy: Optional[float] = None   # default: -action_dim

    def validate(self) -> None:
        if not 2 <= self.target_subset <= self.ensemble:
            raise ValueError("target_subset must be in [2, ensemble]")
        if self.lr <= 0 or not 0 < self.tau <= 1 or self.init_temperature <= 0:
            raise ValueError("lr > 0, tau in (0, 1], init_temperature > 0")


class SAC:
    def __init__(self, obs_dim: int, action_dim: int, config: Optional[SACConfig] = None, seed: int = 0) -> None:
        self.cfg = c = config or SACConfig()
        c.validate()
        torch.manual_seed(seed)
        self.actor = SquashedGaussianActor(obs_dim, action_dim, c.hidden)
        self.critic = CriticEnsemble(obs_dim, action_dim, c.ensemble, c.hidden)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.tensor(float(torch.log(torch.tensor(c.init_temperature))), requires_grad=True)
        self.target_entropy = -float(action_dim) if c.target_entropy is None else c.target_entropy
        self.opt_actor = torch.optim.Adam(self.actor.parameters(), lr=c.lr)
        self.opt_critic = torch.optim.Adam(self.critic.parameters(), lr=c.lr)
        self.opt_alpha = torch.optim.Adam([self.log_alpha], lr=c.lr)
        self.updates = 0

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.exp()

    def update(self, batch: dict[str, torch.Tensor], update_actor: bool = True) -> dict[str, float]:
        """One gradient step. update_actor=False: critic only (the residual mode's critic warm-up)."""
        c = self.cfg
        obs, act = batch["obs"], batch["action"]
        with torch.no_grad():
            next_a, next_logp = self.actor(batch["next_obs"])
            q_next = self.critic_target(batch["next_obs"], next_a)
            pick = torch.randperm(c.ensemble)[:c.target_subset]
            v_next = q_next[pick].min(0).values - self.alpha * next_logp
            target = batch["ret"] + batch["discount"] * v_next
        q = self.critic(obs, act)
        critic_loss = ((q - target[None]) ** 2).mean()
        self.opt_critic.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.opt_critic.step()
        metrics = {"critic_loss": critic_loss.item(), "q_mean": q.detach().mean().item(), "alpha": self.alpha.item()}
        if update_actor:
            a, logp = self.actor(obs)
            q_pi = self.critic(obs, a).mean(0)
            actor_loss = (self.alpha.detach() * logp - q_pi).mean()
            self.opt_actor.zero_grad(set_to_none=True)
            actor_loss.backward()
            self.opt_actor.step()
            alpha_loss = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()
            self.opt_alpha.zero_grad(set_to_none=True)
            alpha_loss.backward()
            self.opt_alpha.step()
            metrics.update(actor_loss=actor_loss.item(), entropy=-logp.detach().mean().item())
        with torch.no_grad():
            for p, tp in zip(self.critic.parameters(), self.critic_target.parameters()):
                tp.lerp_(p, c.tau)
        self.updates += 1
        return metrics

    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        with torch.no_grad():
            return self.actor(obs, deterministic)[0]
