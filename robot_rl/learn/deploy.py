"""What the learner exports for the control node: one torch module with the ONNX calling convention
of robot_rl.policy (inputs: each camera's uint8 [B, H, W, 3] in metadata order, then proprio
float32 [B, D]; output: the action in the robot's units), built from the learner's encoder and
deterministic actor. A residual policy is composed with its frozen base into one graph that also
outputs `base_action`, so the control node records what the base proposed. Auxiliary heads whose
prediction the policy reads (robot_rl.learn.aux.AuxInputEncoder) are inside the encoder."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from robot_rl.learn.residual import combine
from robot_rl.policy.spec import ActionSpec


class DeployedPolicy(nn.Module):
    def __init__(self, encoder: nn.Module, actor: nn.Module, action: ActionSpec, obs_names: Sequence[str],
                 base: Optional[nn.Module] = None, base_obs_names: Sequence[str] = (), residual_scale: float = 0.0) -> None:
        super().__init__()
        self.encoder, self.actor, self.base = encoder, actor, base
        self.obs_names, self.base_obs_names = list(obs_names), list(base_obs_names)
        self.residual_scale = float(residual_scale)
        low = torch.tensor(action.low, dtype=torch.float32)
        high = torch.tensor(action.high, dtype=torch.float32)
        self.register_buffer("low", low)
        self.register_buffer("high", high)
        self.register_buffer("mid", (high + low) / 2)
        self.register_buffer("half_range", (high - low) / 2)

    def forward(self, *inputs: torch.Tensor):
        obs = dict(zip(self.obs_names, inputs))
        features = self.encoder(obs)
        if self.base is None:
            a, _ = self.actor(features, deterministic=True)
            return self.mid + self.half_range * a
        base = self.base(*[obs[n] for n in self.base_obs_names])          # robot units, within bounds
        r, _ = self.actor(torch.cat([features, (base - self.mid) / self.half_range], dim=-1), deterministic=True)
        return combine(base, r, self.residual_scale, self.low, self.high), base
