"""SAC with a LayerNorm critic ensemble, automatic temperature and a shared observation encoder, on
n-step targets (as RLPD and SERL use it); optionally a residual actor on a frozen base policy.
One `update(batch)` is one gradient step of critic (+ encoder), actor and temperature.

batch (torch): obs and next_obs, dicts {"proprio": float32 [B, D], camera: uint8 [B, H, W, 3]};
action [B, A] (the executed action, normalized to [-1, 1]: the human's where they intervened);
ret [B] (n-step discounted reward sum); discount [B] (gamma^k, 0 after a terminal). Residual mode
adds base_action and next_base_action [B, A] (the frozen base's normalized actions on obs and
next_obs). The target takes the min over `target_subset` random ensemble members (REDQ; 2 of 2 is
clipped double-Q). Images get DrQ random shifts (`augment_pad`) before the encoder sees them.

`bc_weight` > 0 adds a behaviour-cloning term to the actor loss on the batch's human steps
(batch["intervention"]): the squared distance of the deterministic action to the human's, kept only
where the critic rates the human's action at least as high as the policy's (`bc_q_filter`, the Q
filter of IBRL / Nair et al. 2018), so corrections pull the actor directly instead of only through a
critic that must first learn to prefer them, and bad corrections do not.
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Optional

import torch

from robot_rl.learn.augment import random_shift
from robot_rl.learn.encoder import ObsEncoder
from robot_rl.learn.nets import CriticEnsemble, SquashedGaussianActor
from robot_rl.learn.residual import combine


@dataclasses.dataclass
class SACConfig:
    hidden: list[int] = dataclasses.field(default_factory=lambda: [256, 256])
    ensemble: int = 2
    target_subset: int = 2
    lr: float = 3e-4
    tau: float = 0.005
    init_temperature: float = 0.1
    target_entropy: Optional[float] = None   # default: -action_dim
    augment_pad: int = 4                     # DrQ shift in pixels (0: off)
    residual_scale: float = 0.0              # > 0: residual actor on a frozen base, scaled by this
    bc_weight: float = 0.0                   # > 0: actor also imitates human steps (see the module doc)
    bc_q_filter: bool = True                 # ... only where Q(s, human action) >= Q(s, policy action)

    def validate(self) -> None:
        if not 2 <= self.target_subset <= self.ensemble:
            raise ValueError("target_subset must be in [2, ensemble]")
        if self.lr <= 0 or not 0 < self.tau <= 1 or self.init_temperature <= 0:
            raise ValueError("lr > 0, tau in (0, 1], init_temperature > 0")
        if not 0 <= self.residual_scale <= 1 or self.augment_pad < 0:
            raise ValueError("residual_scale must be in [0, 1] and augment_pad >= 0")
        if self.bc_weight < 0:
            raise ValueError("bc_weight must be >= 0")


class SAC:
    def __init__(self, encoder: ObsEncoder, action_dim: int, config: Optional[SACConfig] = None, seed: int = 0) -> None:
        self.cfg = c = config or SACConfig()
        c.validate()
        torch.manual_seed(seed)
        self.residual = c.residual_scale > 0
        self.encoder = encoder
        self.actor = SquashedGaussianActor(encoder.out_dim + (action_dim if self.residual else 0), action_dim, c.hidden,
                                           zero_init_mean=self.residual)
        self.critic = CriticEnsemble(encoder.out_dim, action_dim, c.ensemble, c.hidden)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.tensor(float(torch.log(torch.tensor(c.init_temperature))), requires_grad=True)
        self.target_entropy = -float(action_dim) if c.target_entropy is None else c.target_entropy
        self.opt_actor = torch.optim.Adam(self.actor.parameters(), lr=c.lr)
        self.opt_critic = torch.optim.Adam([*self.critic.parameters(), *self.encoder.parameters()], lr=c.lr)
        self.opt_alpha = torch.optim.Adam([self.log_alpha], lr=c.lr)
        self.updates = 0
        self.ones = torch.ones(action_dim)

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.exp()

    def modules(self) -> dict[str, torch.nn.Module]:
        """Everything a checkpoint holds, by name."""
        return {"encoder": self.encoder, "actor": self.actor,
                "critic": self.critic, "critic_target": self.critic_target}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor": self.opt_actor, "critic": self.opt_critic, "alpha": self.opt_alpha}

    def _augment(self, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        pad = self.cfg.augment_pad
        return {k: (random_shift(v, pad) if v.dtype == torch.uint8 and pad else v) for k, v in obs.items()}

    def policy(self, features: torch.Tensor, base_action: Optional[torch.Tensor] = None,
               deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(normalized action, log-prob of the actor's sample). Residual mode: the actor's sample is
        the residual, and the action is the base plus the scaled residual."""
        if not self.residual:
            return self.actor(features, deterministic)
        assert base_action is not None, "residual mode needs the base policy's action"
        r, logp = self.actor(torch.cat([features, base_action], dim=-1), deterministic)
        return combine(base_action, r, self.cfg.residual_scale, -self.ones, self.ones), logp

    def update(self, batch: dict, update_actor: bool = True) -> dict[str, float]:
        """One gradient step. update_actor=False: critic only (the residual mode's critic warm-up)."""
        c = self.cfg
        obs, next_obs = self._augment(batch["obs"]), self._augment(batch["next_obs"])
        with torch.no_grad():
            # the online encoder for the next observation, as DrQ-v2 (no target encoder: one image pass less)
            next_f = self.encoder(next_obs)
            next_a, next_logp = self.policy(next_f, batch.get("next_base_action"))
            q_next = self.critic_target(next_f, next_a)
            pick = torch.randperm(c.ensemble)[:c.target_subset]
            v_next = q_next[pick].min(0).values - self.alpha * next_logp
            target = batch["ret"] + batch["discount"] * v_next
        features = self.encoder(obs)
        q = self.critic(features, batch["action"])
        critic_loss = ((q - target[None]) ** 2).mean()
        self.opt_critic.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.opt_critic.step()
        metrics = {"critic_loss": critic_loss.item(), "q_mean": q.detach().mean().item(), "alpha": self.alpha.item()}
        if update_actor:
            f = features.detach()   # no actor gradient into the encoder
            a, logp = self.policy(f, batch.get("base_action"))
            q_pi = self.critic(f, a).mean(0)
            actor_loss = (self.alpha.detach() * logp - q_pi).mean()
            if c.bc_weight > 0 and "intervention" in batch:
                bc_loss, kept = self._bc_loss(f, batch, q.detach().mean(0))
                actor_loss = actor_loss + c.bc_weight * bc_loss
                metrics.update(bc_loss=bc_loss.item(), bc_kept=kept)
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

    def _bc_loss(self, features: torch.Tensor, batch: dict, q_data: torch.Tensor) -> tuple[torch.Tensor, float]:
        """Mean squared distance of the deterministic action to the human's over the human steps the
        filter keeps; the share of human steps kept (nan when the batch has none)."""
        human = batch["intervention"]
        if not bool(human.any()):
            return features.new_zeros(()), float("nan")
        a_det, _ = self.policy(features, batch.get("base_action"), deterministic=True)
        keep = human
        if self.cfg.bc_q_filter:
            with torch.no_grad():
                keep = human & (q_data >= self.critic(features, a_det).mean(0))
        err = ((a_det - batch["action"]) ** 2).sum(-1)
        return (err * keep).sum() / human.sum(), float(keep.sum() / human.sum())

    def act(self, obs: dict[str, torch.Tensor], base_action: Optional[torch.Tensor] = None,
            deterministic: bool = False) -> torch.Tensor:
        with torch.no_grad():
            return self.policy(self.encoder(obs), base_action, deterministic)[0]
