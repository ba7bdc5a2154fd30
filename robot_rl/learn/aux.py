"""Auxiliary losses a task gives the learner, run without knowing what they mean.

A task (robot_rl.tasks.base.Task) registers labelers (episode -> named per-step columns, which the
sampler carries as batch["labels"][name], NaN where unknown) and auxiliary heads: modules on the
encoder's features that learn from one of those columns. The learner config names the heads to
run and how (`aux: {name: AuxConfig}`); SAC adds each head's weighted loss to the critic's (so it
shapes the shared encoder) and to actor pretraining's, and with `input: true` appends the head's
prediction, gradient stopped, to the features actor and critic read (AuxInputEncoder), which makes
the head part of the exported policy.

    class MyHead(AuxHead):
        def __init__(self, columns, proprio_dim, hidden, options):
            super().__init__(label="my_label", out_dim=3)
            ...
        def forward(self, features, proprio): ...            # the prediction [B, out_dim]
        def loss(self, features, batch): ...                 # (loss, {"err": ...}) on the known rows
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import torch
from torch import nn


class AuxHead(nn.Module):
    """One auxiliary target on an ObsEncoder's features. `label`: the labeler column it learns;
    `out_dim`: the width of its prediction. Subclasses define forward(features, proprio) (the
    prediction, exportable to ONNX) and loss(features, batch) -> (scalar loss over the rows whose
    label is known, zero when none; metrics by name, NaN when none)."""

    def __init__(self, label: str, out_dim: int) -> None:
        super().__init__()
        self.label, self.out_dim = label, int(out_dim)

    def known(self, batch: dict) -> torch.Tensor:
        """The rows [B] of the batch whose label is known (finite)."""
        target = batch.get("labels", {}).get(self.label)
        if target is None:
            raise ValueError(f"the batch carries no label {self.label!r}: the task's labelers make it")
        return torch.isfinite(target).all(-1)

    def forward(self, features: torch.Tensor, proprio: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, features: torch.Tensor, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError


# (head name, its feature columns) -> the head: what the learner gets from its task
HeadFactory = Callable[[str, Sequence[int]], AuxHead]


class AuxInputEncoder(nn.Module):
    """An ObsEncoder whose features end with some heads' predictions (gradient stopped: only their
    own targets train them), so actor and critic read them. Exported with the policy."""

    def __init__(self, encoder: nn.Module, heads: Mapping[str, AuxHead]) -> None:
        super().__init__()
        self.encoder, self.heads = encoder, nn.ModuleDict(dict(heads))
        self.cameras = encoder.cameras
        self.out_dim = encoder.out_dim + sum(h.out_dim for h in self.heads.values())

    @property
    def mean(self) -> torch.Tensor:
        return self.encoder.mean

    @property
    def std(self) -> torch.Tensor:
        return self.encoder.std

    def input_columns(self) -> list[int]:
        """The feature columns the heads' predictions fill (the last ones)."""
        return list(range(self.encoder.out_dim, self.out_dim))

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        f = self.encoder(obs)
        return torch.cat([f, *[h(f, obs["proprio"]).detach() for h in self.heads.values()]], dim=-1)
