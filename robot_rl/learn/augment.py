"""DrQ random shift on uint8 images: pad by `pad` pixels (edge replicated), crop back at a random
offset per image. Stays uint8 end to end (no float32 copies of the replay's images)."""
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
    padded = torch.nn.functional.pad(images.permute(0, 3, 1, 2).float(), (pad, pad, pad, pad), mode="replicate")
    padded = padded.to(images.dtype).permute(0, 2, 3, 1)        # [B, H+2p, W+2p, C], exact uint8 values
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = (oy[:, None] + torch.arange(h)[None, :])             # [B, H]
    cols = (ox[:, None] + torch.arange(w)[None, :])             # [B, W]
    bi = torch.arange(b)[:, None, None]
    return padded[bi, rows[:, :, None], cols[:, None, :]]
