"""What the learner exports for the control node: one torch module with the ONNX calling convention
of robot_rl.policy (inputs: each camera's uint8 [B, H, W, 3] in metadata order, then proprio
float32 [B, D]; output: the action in the robot's units), built from the learner's encoder and
deterministic actor. A residual policy is composed with its frozen base into one graph that also
outputs `base_action`, so the control node records what the base proposed. Auxiliary heads whose
prediction the policy reads (robot_rl.learn.aux.AuxInputEncoder) are inside the encoder. With the
gripper variant's discrete critic (robot_rl.learn.sac_gripper) the last dimension is its choice."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from robot_rl.learn.residual import combine
from robot_rl.policy.spec import ActionSpec


class DeployedPolicy(nn.Module):
    def __init__(self, encoder: nn.Module, actor: nn.Module, action: ActionSpec, obs_names: Sequence[str],
                 base: Optional[nn.Module] = None, base_obs_names: Sequence[str] = (), residual_scale: float = 0.0,
                 gripper: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.encoder, self.actor, self.base, self.gripper = encoder, actor, base, gripper
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
            if self.gripper is not None:
                a = torch.cat([a, self.gripper(features)[0][:, None]], dim=-1)
            return self.mid + self.half_range * a
        base = self.base(*[obs[n] for n in self.base_obs_names])          # robot units, within bounds
        base_n = (base - self.mid) / self.half_range
        r, _ = self.actor(torch.cat([features, base_n], dim=-1), deterministic=True)
        if self.gripper is None:
            return combine(base, r, self.residual_scale, self.low, self.high), base
        # the last dimension is the gripper critic's: the base's command where it keeps it
        motion = combine(base[:, :-1], r, self.residual_scale, self.low[:-1], self.high[:-1])
        grip, chosen = self.gripper(features, base_n[:, -1])
        grip = torch.where(chosen, self.mid[-1] + self.half_range[-1] * grip, base[:, -1])
        return torch.cat([motion, grip[:, None]], dim=-1), base
