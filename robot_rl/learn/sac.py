"""SAC with a LayerNorm critic ensemble, automatic temperature and a shared observation encoder, on
n-step targets (as RLPD and SERL use it); optionally a residual actor on a frozen base policy.

One `update(batch)` is one gradient step of its losses, each a method of its own (as SERL's
loss_fns): `critic_loss` (which also trains the encoder), the registered auxiliary heads'
`aux_loss` (added to the critic's: they shape the encoder), `actor_loss` and `temperature_loss`.

batch (torch): obs and next_obs, dicts {"proprio": float32 [B, D], camera: uint8 [B, H, W, 3]};
action [B, A] (the executed action, normalized to [-1, 1]: the human's where they intervened);
ret [B] (n-step discounted reward sum); discount [B] (gamma^k, 0 after a terminal); intervention [B];
labels {name: float32 [B, w]} (a task's labelers, NaN where unknown). Residual mode adds base_action
and next_base_action [B, A] (the frozen base's normalized actions on obs and next_obs). The target
takes the min over `target_subset` random ensemble members (REDQ; 2 of 2 is clipped double-Q).
Images get DrQ random shifts (`augment_pad`) before the encoder sees them.

The encoder is trained by the critic; the actor reads its features with gradients stopped
(HIL-SERL, DrQ), so the actor's Q-maximization cannot bend the representation.

`bc_weight` > 0 adds a behaviour-cloning term to the actor loss on the batch's human steps: the
squared distance of the deterministic action to the human's, kept only where the critic rates the
human's action at least as high as the policy's (`bc_q_filter`, the Q filter of IBRL / Nair et al.
2018), so corrections pull the actor directly and bad corrections do not. `bc_encoder` lets that
imitation term (unfiltered) train the encoder too: with a sparse reward and no successes yet the
critic alone leaves the features blind to what the demonstrations looked at.

`pretrain_actor(batch)` is one behaviour-cloning step of the actor, the encoder and the auxiliary
heads toward the batch's actions (the learner's `actor_pretrain_updates`, as IBRL and
demo-initialised RLPD do): RL starts from the demonstrations' behaviour. Its optimizer is its own,
so the RL optimizers' state is as if it never ran.

Auxiliary heads (robot_rl.learn.aux, a task's): each learns its label from the features of its
cameras, with the critic and in pretraining, from the RL batch or (its config's `batch` > 0) from
a batch of its own labelled steps passed to update() as aux_batches[name]. With `input: true` the
features end with its prediction (AuxInputEncoder), which actor and critic read and the export
carries. `actor_images: false` leaves the actor only proprio (or the `actor_proprio` columns,
negative from the end) and those predictions: an actor that reads image features can tell a few
demonstrations' layouts apart and imitate each one's path; one that reads only an estimate of where
the object is must move toward it. The critic reads everything.
"""
from __future__ import annotations

import copy
from typing import Mapping, Optional

import torch

from robot_rl.learn.augment import random_shift
from robot_rl.learn.aux import AuxHead, AuxInputEncoder, HeadFactory
from robot_rl.learn.config import AuxConfig, SACConfig
from robot_rl.learn.encoder import ObsEncoder
from robot_rl.learn.nets import ColumnsActor, CriticEnsemble, SquashedGaussianActor
from robot_rl.learn.residual import combine


class SAC:
    def __init__(self, encoder: ObsEncoder, action_dim: int, config: Optional[SACConfig] = None, seed: int = 0,
                 aux: Optional[Mapping[str, AuxConfig]] = None, make_head: Optional[HeadFactory] = None,
                 device: torch.device | str = "cpu") -> None:
        """aux: the auxiliary heads to run, by name, and make_head(name, feature columns) the task's
        factory that builds them (robot_rl.tasks.base.Task.aux_head). device: where every network,
        the temperature and the optimizers' state live (batches must be there too)."""
        self.cfg = c = config or SACConfig()
        c.validate()
        torch.manual_seed(seed)
        self.residual = c.residual_scale > 0
        self.aux_cfg = dict(aux or {})
        if self.aux_cfg and make_head is None:
            raise ValueError("auxiliary heads need their task's make_head")
        self.heads: dict[str, AuxHead] = {}
        for name, acfg in self.aux_cfg.items():
            acfg.validate()
            self.heads[name] = make_head(name, encoder.columns(acfg.cameras or None, proprio=False))
        inputs = {k: h for k, h in self.heads.items() if self.aux_cfg[k].input}
        self.image_encoder = encoder
        if inputs:
            encoder = AuxInputEncoder(encoder, inputs)
        self.encoder = encoder
        # heads outside the encoder (an input head is inside it: saved and optimized with it)
        self.apart = {k: h for k, h in self.heads.items() if k not in inputs}
        self.actor: torch.nn.Module
        if c.actor_images:
            self.actor = SquashedGaussianActor(encoder.out_dim + (action_dim if self.residual else 0), action_dim,
                                               c.hidden, zero_init_mean=self.residual)
        else:   # proprio's columns (all or actor_proprio's) and the input heads' predictions
            if not inputs:
                raise ValueError("actor_images: false leaves the actor proprio and the auxiliary heads' "
                                 "predictions: it needs a head with input: true")
            proprio = self.image_encoder.columns([], proprio=True)
            try:
                proprio = [proprio[i] for i in c.actor_proprio] if c.actor_proprio else proprio
            except IndexError:
                raise ValueError(f"actor_proprio {c.actor_proprio}: the proprio vector has {len(proprio)} "
                                 "columns") from None
            self.actor = ColumnsActor(proprio + encoder.input_columns(), action_dim, c.hidden)
        self.critic = CriticEnsemble(encoder.out_dim, action_dim, c.ensemble, c.hidden)
        self.device = torch.device(device)
        for m in (self.encoder, self.actor, self.critic, *self.apart.values()):
            m.to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.tensor(float(torch.log(torch.tensor(c.init_temperature))), device=self.device,
                                      requires_grad=True)
        self.target_entropy = -float(action_dim) if c.target_entropy is None else c.target_entropy
        self.opt_actor = torch.optim.Adam(self.actor.parameters(), lr=c.lr)
        self.opt_critic = torch.optim.Adam([*self.critic.parameters(), *self.encoder.parameters(),
                                            *[p for h in self.apart.values() for p in h.parameters()]], lr=c.lr)
        self.opt_alpha = torch.optim.Adam([self.log_alpha], lr=c.lr)
        self.updates = 0
        self.pretrain_updates = 0
        self.pretrain_metrics: dict[str, float] = {}   # the aux heads' last pretraining metrics, for the log
        self._opt_pretrain: Optional[torch.optim.Optimizer] = None
        self.ones = torch.ones(action_dim, device=self.device)

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.exp()

    def modules(self) -> dict[str, torch.nn.Module]:
        """Everything a checkpoint holds, by name."""
        return {"encoder": self.encoder, "actor": self.actor, "critic": self.critic,
                "critic_target": self.critic_target, **{f"aux_{k}": h for k, h in self.apart.items()}}

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

    def q_value(self, features: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The critic ensemble [E, B]."""
        return self.critic(features, action)

    # --- the losses ---------------------------------------------------------------------------------
    def critic_loss(self, obs: dict, next_obs: dict, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """n-step TD error of every ensemble member; returns (loss, the features of obs, Q [E, B])."""
        c = self.cfg
        with torch.no_grad():
            # the online encoder for the next observation, as DrQ-v2 (no target encoder: one image pass less)
            next_f = self.encoder(next_obs)
            next_a, next_logp = self.policy(next_f, batch.get("next_base_action"))
            q_next = self.critic_target(next_f, next_a)
            pick = torch.randperm(c.ensemble)[:c.target_subset]
            v_next = q_next[pick].min(0).values - self.alpha * next_logp
            target = batch["ret"] + batch["discount"] * v_next
        features = self.encoder(obs)
        q = self.q_value(features, batch["action"])
        return ((q - target[None]) ** 2).mean(), features, q

    def aux_loss(self, name: str, features: torch.Tensor, batch: dict,
                 own_batch: Optional[dict] = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Head `name`'s weighted loss and metrics (`<name>_loss`, `<name>_<metric>`), on the RL
        batch's features or on its own batch (through its cameras' image passes only)."""
        head, acfg = self.heads[name], self.aux_cfg[name]
        if own_batch is not None:
            cameras = acfg.cameras or self.image_encoder.cameras
            obs = {k: v for k, v in own_batch["obs"].items() if k == "proprio" or k in cameras}
            features, batch = self.image_encoder(self._augment(obs), cameras), own_batch
        loss, metrics = head.loss(features, batch)
        return acfg.weight * loss, {f"{name}_loss": loss.item(), **{f"{name}_{k}": v for k, v in metrics.items()}}

    def actor_loss(self, features: torch.Tensor, batch: dict, q_data: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        """SAC's actor loss on detached features (+ the BC term); returns (loss, log-prob, metrics)."""
        a, logp = self.policy(features, batch.get("base_action"))
        loss = (self.alpha.detach() * logp - self.critic(features, a).mean(0)).mean()
        metrics: dict[str, float] = {}
        if self.cfg.bc_weight > 0 and "intervention" in batch:
            bc_loss, kept = self._bc_loss(features, batch, q_data)
            loss = loss + self.cfg.bc_weight * bc_loss
            metrics.update(bc_loss=bc_loss.item(), bc_kept=kept, bc_weight=self.cfg.bc_weight)
        return loss, logp, metrics

    def temperature_loss(self, logp: torch.Tensor) -> torch.Tensor:
        return -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()

    @staticmethod
    def _step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def update(self, batch: dict, update_actor: bool = True,
               aux_batches: Optional[Mapping[str, dict]] = None) -> dict[str, float]:
        """One gradient step. update_actor=False: critic (and encoder, heads) only, the residual
        mode's critic warm-up. aux_batches: heads that learn from a batch of their own, by name."""
        c = self.cfg
        obs, next_obs = self._augment(batch["obs"]), self._augment(batch["next_obs"])
        critic_loss, features, q = self.critic_loss(obs, next_obs, batch)
        metrics = {"critic_loss": critic_loss.item(), "q_mean": q.detach().mean().item(), "alpha": self.alpha.item()}
        encoder_loss = critic_loss
        for name in self.heads:
            loss, m = self.aux_loss(name, features, batch, (aux_batches or {}).get(name))
            encoder_loss = encoder_loss + loss
            metrics.update(m)
        if update_actor and c.bc_weight > 0 and c.bc_encoder and "intervention" in batch:
            # imitation shapes the features as well (the actor's own step takes it on detached features)
            bc_enc, _ = self._bc_loss(features, batch, q.detach().mean(0), q_filter=False)
            encoder_loss = encoder_loss + c.bc_weight * bc_enc
        self._step(self.opt_critic, encoder_loss)
        if update_actor:
            actor_loss, logp, m = self.actor_loss(features.detach(), batch, q.detach().mean(0))
            self._step(self.opt_actor, actor_loss)
            self._step(self.opt_alpha, self.temperature_loss(logp))
            metrics.update(m, actor_loss=actor_loss.item(), entropy=-logp.detach().mean().item())
        with torch.no_grad():
            for p, tp in zip(self.critic.parameters(), self.critic_target.parameters()):
                tp.lerp_(p, c.tau)
        self.updates += 1
        return metrics

    def pretrain_actor(self, batch: dict) -> float:
        """One BC step on every row of the batch (encoder + actor's deterministic action toward
        batch["action"], + the auxiliary heads' losses); returns the BC loss (summed squared error,
        mean over rows)."""
        if self.residual:
            raise ValueError("actor pretraining is for a policy learned from scratch, not a residual on a base")
        if self._opt_pretrain is None:
            self._opt_pretrain = torch.optim.Adam([*self.actor.parameters(), *self.encoder.parameters(),
                                                   *[p for h in self.apart.values() for p in h.parameters()]],
                                                  lr=self.cfg.lr)
        features = self.encoder(self._augment(batch["obs"]))
        a_det, _ = self.policy(features, deterministic=True)
        loss = ((a_det - batch["action"]) ** 2).sum(-1).mean()
        total = loss
        for name in self.heads:
            aux, self.pretrain_metrics = self.aux_loss(name, features, batch)
            total = total + aux
        self._step(self._opt_pretrain, total)
        self.pretrain_updates += 1
        return loss.item()

    def _bc_loss(self, features: torch.Tensor, batch: dict, q_data: torch.Tensor,
                 q_filter: Optional[bool] = None) -> tuple[torch.Tensor, float]:
        """Mean squared distance of the deterministic action to the human's over the human steps the
        filter keeps; the share kept (nan when the batch has none)."""
        human = batch["intervention"]
        if not bool(human.any()):
            return features.new_zeros(()), float("nan")
        a_det, _ = self.policy(features, batch.get("base_action"), deterministic=True)
        keep = human
        if self.cfg.bc_q_filter if q_filter is None else q_filter:
            with torch.no_grad():
                keep = human & (q_data >= self.critic(features, a_det).mean(0))
        err = ((a_det - batch["action"]) ** 2).sum(-1)
        return (err * keep).sum() / human.sum(), float(keep.sum() / human.sum())

    def predict(self, name: str, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Auxiliary head `name`'s prediction on raw observations (no gradient)."""
        with torch.no_grad():
            return self.heads[name](self.image_encoder(obs), obs["proprio"])

    def act(self, obs: dict[str, torch.Tensor], base_action: Optional[torch.Tensor] = None,
            deterministic: bool = False) -> torch.Tensor:
        with torch.no_grad():
            return self.policy(self.encoder(obs), base_action, deterministic)[0]
