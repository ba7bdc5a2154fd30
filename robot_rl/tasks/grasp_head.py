"""The grasp head: an auxiliary head (robot_rl.learn.aux) that learns from image features where a
successful episode grasped relative to the gripper and the yaw it still had to turn (the `grasp`
label, robot_rl.tasks.grasp), or, on another label of the same form, where it finished (peg_insert's
`goal`). A sparse reward says only that an episode succeeded; this asks the encoder directly where
the object is.

Options (the learner config's `aux: {grasp: {options: ...}}`):
- frame: world | gripper. The offset in the world's axes, or turned into the gripper's yaw frame,
  the one a wrist camera sees it in (what the loss compares; forward() answers in the world's).

The head reads only image features (the AuxConfig's cameras): the start pose names each of a few
demonstrations, which a head reading proprio would memorize instead of finding the object.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from robot_rl.learn.aux import AuxHead
from robot_rl.learn.nets import mlp
from robot_rl.robot.features import ProprioLayout
from robot_rl.tasks.grasp import GRASP_DIM

# output units: 5 cm for the offset, 0.5 rad for the yaw, so that a typical miss weighs about 1
UNITS = (0.05, 0.05, 0.05, 0.5)
FRAMES = ("world", "gripper")


class GraspHead(AuxHead):
    """features' image columns -> [dx, dy, dz, dyaw] in the world's axes, in UNITS (the scale actor
    and critic read it at with `input: true`; `si()` turns it into metres and radians)."""

    def __init__(self, columns: Sequence[int], proprio_dim: int, hidden: int, options: Mapping[str, Any],
                 label: str = "grasp") -> None:
        super().__init__(label=label, out_dim=GRASP_DIM)
        unknown = set(options) - {"frame"}
        if unknown:
            raise ValueError(f"aux.{label}.options: unknown {', '.join(sorted(unknown))} (known: frame)")
        frame = options.get("frame", "world")
        if frame not in FRAMES:
            raise ValueError(f"aux.{label}.options.frame must be world or gripper, got {frame!r}")
        if not columns:
            raise ValueError(f"the {label} head needs a camera: it reads image features only")
        self.register_buffer("columns", torch.as_tensor(list(columns), dtype=torch.long))
        self.register_buffer("units", torch.tensor(UNITS))
        self.net = mlp(len(columns), GRASP_DIM, [hidden])
        self.gripper_frame = frame == "gripper"
        self.yaw_column = ProprioLayout.of_dim(int(proprio_dim)).ee_yaw

    def own(self, features: torch.Tensor) -> torch.Tensor:
        """The prediction in the head's own axes and units (what the loss compares)."""
        return self.net(features.index_select(1, self.columns))

    def forward(self, features: torch.Tensor, proprio: torch.Tensor) -> torch.Tensor:
        g = self.own(features)
        return turn_xy(g, proprio[:, self.yaw_column]) if self.gripper_frame else g

    def si(self, prediction: torch.Tensor) -> torch.Tensor:
        """forward()'s answer in metres and radians."""
        return prediction * self.units

    def loss(self, features: torch.Tensor, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Squared error in UNITS, summed over xyz and yaw, mean over the labelled rows; and the
        RMS miss in cm (nan when the batch has no labelled row)."""
        known = self.known(batch)
        if not bool(known.any()):
            return features.new_zeros(()), {"err_cm": float("nan")}
        target = batch["labels"][self.label][known]
        if self.gripper_frame:   # the yaw difference is the same in both frames
            target = turn_xy(target, -batch["obs"]["proprio"][known][:, self.yaw_column])
        err = (self.own(features[known]) - target / self.units) ** 2
        cm = float(err[:, :3].detach().sum(-1).mean().sqrt()) * float(self.units[0]) * 100
        return err.sum(-1).mean(), {"err_cm": cm}


def turn_xy(v: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate the xy part (columns 0, 1) of [B, >= 3] vectors by angle [B] about z, the other
    columns unchanged (exports to ONNX: cos, sin, mul)."""
    c, s = torch.cos(angle), torch.sin(angle)
    xy = torch.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1]], dim=1)
    return torch.cat([xy, v[:, 2:]], dim=1)
