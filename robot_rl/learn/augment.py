"""DrQ random shift on uint8 images: pad by `pad` pixels (edge replicated), crop back at a random
offset per image. Stays uint8 end to end (no float32 copies of the replay's images): the padding is
built from slices and each crop is a slice copy, which on CPU beats a gather over index tensors
(docs/BENCHMARKS.md)."""
from __future__ import annotations

from typing import Optional

import torch


def random_shift(images: torch.Tensor, pad: int = 4, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """images [B, H, W, C] uint8 -> the same shape, each shifted by its own (dy, dx) in [-pad, pad]."""
    if images.dim() != 4:
        raise ValueError(f"images must be [B, H, W, C], got {tuple(images.shape)}")
    if pad == 0:
        return images
    b, h, w, _ = images.shape
    rows = torch.cat([images[:, :1].expand(-1, pad, -1, -1), images, images[:, -1:].expand(-1, pad, -1, -1)], dim=1)
    padded = torch.cat([rows[:, :, :1].expand(-1, -1, pad, -1), rows, rows[:, :, -1:].expand(-1, -1, pad, -1)], dim=2)
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).tolist()
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator).tolist()
    out = torch.empty_like(images)
    for i in range(b):
        out[i] = padded[i, oy[i]:oy[i] + h, ox[i]:ox[i] + w]
    return out
