"""SAC with a discrete gripper critic (as HIL-SERL's grasp critic): the last action dimension, a
gripper's command (-1 closed .. 1 open, robot_rl.robot.features), is not the actor's. A critic of
its own rates closing and opening, Q(s, closed) and Q(s, open), and the command is its choice; the
actor and the continuous critic act on the dimensions before it.

A gripper command is a decision more than a quantity: closing a few centimetres beside the object
and lifting loses the episode, and a Gaussian actor's or a residual's continuous nudge on the
command can move it but not decide it.

Residual mode: the base policy's command stands unless the critic rates the other one at least
`gripper_margin` higher; then the command is that one (fully closed or fully open). So at the
start, the critic untrained, the policy is the base's, and the critic takes over the grip where
its data say the base's choice is worse. Mode sac: the command is the critic's better choice.

Its losses, on the critic's features of obs and next_obs (detached: the encoder is the critic's
and the auxiliary heads'):
- n-step TD on the choice that was executed (the batch's action, the human's where they drove),
  with the target ensemble's min at the choice the policy would make at next_obs;
- with `bc_weight` > 0, DQfD's large-margin loss on the human steps: the human's choice rated at
  least `IMITATION_MARGIN` above the other, so corrections (reopening after a close beside the
  object) teach the choice directly, as the BC term does the actor.
"""
from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import nn

from robot_rl.learn.nets import CriticEnsemble
from robot_rl.learn.sac import SAC

# DQfD's margin: the human's choice is rated this much above the other (in return units: a success
# is worth 1); above `gripper_margin`, so a choice the humans make consistently can override the base
IMITATION_MARGIN = 0.2
CLOSED, OPEN = 0, 1   # the discrete critic's columns


class GripperChoice(nn.Module):
    """The discrete critic's decision, exportable to ONNX: features [B, F] (and the base's command
    [B], normalized, in residual mode) -> (the command [B] normalized, whether it is the critic's
    rather than the base's [B])."""

    def __init__(self, critic: CriticEnsemble, margin: float) -> None:
        super().__init__()
        self.critic, self.margin = critic, float(margin)

    def forward(self, features: torch.Tensor, base: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        q = self.critic(features).mean(0)
        best = torch.where(q[:, OPEN] > q[:, CLOSED], 1.0, -1.0)
        if base is None:
            return best, torch.ones_like(best, dtype=torch.bool)
        base_open = base > 0
        q_base = torch.where(base_open, q[:, OPEN], q[:, CLOSED])
        q_other = torch.where(base_open, q[:, CLOSED], q[:, OPEN])
        override = q_other > q_base + self.margin
        return torch.where(override, -torch.where(base_open, 1.0, -1.0), base), override


class GripperSAC(SAC):
    discrete_tail = 1

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        c = self.cfg
        self.gripper_critic = CriticEnsemble(self.encoder.out_dim, 0, c.ensemble, c.hidden, values=2).to(self.device)
        out = self.gripper_critic.net[-1]   # both choices rated 0 at the start: the base's command stands
        torch.nn.init.zeros_(out.weight)
        torch.nn.init.zeros_(out.bias)
        self.gripper_target = copy.deepcopy(self.gripper_critic).requires_grad_(False)
        self.gripper = GripperChoice(self.gripper_critic, c.gripper_margin)
        self.opt_gripper = torch.optim.Adam(self.gripper_critic.parameters(), lr=c.lr)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {**super().modules(), "gripper_critic": self.gripper_critic, "gripper_target": self.gripper_target}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {**super().optimizers(), "gripper": self.opt_gripper}

    def policy(self, features: torch.Tensor, base_action: Optional[torch.Tensor] = None,
               deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        motion, logp = super().policy(features, base_action, deterministic)
        with torch.no_grad():
            grip, _ = self.gripper(features, None if base_action is None else base_action[:, -1])
        return torch.cat([motion, grip[:, None]], dim=-1), logp

    def discrete_update(self, features: torch.Tensor, next_features: torch.Tensor, batch: dict) -> dict[str, float]:
        """One step of the gripper critic: TD on the executed choice (+ the imitation margin)."""
        with torch.no_grad():
            next_base = batch.get("next_base_action")
            g_next, _ = self.gripper(next_features, None if next_base is None else next_base[:, -1])
            q_next = self.gripper_target(next_features)                         # [E, B, 2]
            pick = torch.randperm(self.cfg.ensemble)[:self.cfg.target_subset]
            v_next = q_next[pick].gather(-1, self._column(g_next, q_next[pick])).squeeze(-1).min(0).values
            target = batch["ret"] + batch["discount"] * v_next
        q = self.gripper_critic(features)                                       # [E, B, 2]
        taken = self._column(batch["action"][:, -1], q)
        q_taken = q.gather(-1, taken).squeeze(-1)
        loss = ((q_taken - target[None]) ** 2).mean()
        metrics = {"gripper_loss": loss.item()}
        human = batch.get("intervention")
        if self.cfg.bc_weight > 0 and human is not None and bool(human.any()):
            imitation = self._imitation(q, taken, human)
            loss = loss + self.cfg.bc_weight * imitation
            metrics["gripper_imitation"] = imitation.item()
        self._step(self.opt_gripper, loss)
        with torch.no_grad():
            for p, tp in zip(self.gripper_critic.parameters(), self.gripper_target.parameters()):
                tp.lerp_(p, self.cfg.tau)
            metrics["gripper_q_gap"] = (q[..., OPEN] - q[..., CLOSED]).abs().mean().item()
            base = batch.get("base_action")
            if base is not None:   # the share of the batch's states where it would override the base
                metrics["gripper_override"] = self.gripper(features, base[:, -1])[1].float().mean().item()
        return metrics

    def pretrain_actor(self, batch: dict) -> float:
        """Actor pretraining's BC step, and the same for the gripper critic: the margin loss on
        every row (pretraining batches are people's steps), on the encoder's features."""
        loss = super().pretrain_actor(batch)
        with torch.no_grad():
            features = self.encoder(self._augment(batch["obs"]))
        q = self.gripper_critic(features)
        taken = self._column(batch["action"][:, -1], q)
        self._step(self.opt_gripper, self._imitation(q, taken, torch.ones_like(taken[0, :, 0], dtype=torch.bool)))
        return loss

    @staticmethod
    def _imitation(q: torch.Tensor, taken: torch.Tensor, human: torch.Tensor) -> torch.Tensor:
        """DQfD's large-margin loss over the human rows: the person's choice at least
        IMITATION_MARGIN above the other, mean over members and rows."""
        q_taken, q_other = q.gather(-1, taken).squeeze(-1), q.gather(-1, 1 - taken).squeeze(-1)
        margin = torch.relu(q_other + IMITATION_MARGIN - q_taken).mean(0)   # [B]
        return (margin * human).sum() / human.sum()

    @staticmethod
    def _column(command: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """The critic's column of each command (open where > 0), shaped to gather from q [E, B, 2]."""
        col = (command > 0).long()
        return col[None, :, None].expand(q.shape[0], -1, 1)
