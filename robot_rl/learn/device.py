"""Where the learner computes: `learner.device: auto | cpu | cuda | cuda:N`, and batches moved there.

auto takes CUDA when torch sees a GPU, else the CPU. Batches are assembled on the CPU (the sampler
reads the store); on CUDA they are copied from pinned memory without blocking, so the copy of the
next batch overlaps the current update (robot_rl.learn.learner prefetches it on a thread).
"""
from __future__ import annotations

from typing import Any

import torch

from robot_rl.learn.config import check_device


def resolve(spec: str) -> torch.device:
    """The torch device for a config's `device`; a clear error for a GPU torch cannot use."""
    check_device(spec)
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {spec}: this torch ({torch.__version__}) sees no CUDA GPU "
                             "(a CPU build, or no driver); use device: cpu or auto, or install a CUDA "
                             "build of torch (docs/TWO_HOSTS.md)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {spec}: torch sees {torch.cuda.device_count()} GPU(s)")
    return device


def describe(device: torch.device) -> str:
    """One line for logs and `robot-rl doctor`."""
    if device.type == "cuda":
        i = device.index if device.index is not None else torch.cuda.current_device()
        p = torch.cuda.get_device_properties(i)
        return f"cuda:{i} ({p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, CUDA {torch.version.cuda})"
    return f"cpu (torch {torch.__version__}, {torch.get_num_threads()} threads)"


def to_device(tree: Any, device: torch.device) -> Any:
    """Every tensor of a (nested dict of) batch on `device`; on CUDA through pinned memory,
    non-blocking. Tensors already there are returned as they are."""
    if isinstance(tree, dict):
        return {k: to_device(v, device) for k, v in tree.items()}
    if isinstance(tree, torch.Tensor) and tree.device != device:
        if device.type == "cuda":
            return tree.pin_memory().to(device, non_blocking=True)
        return tree.to(device)
    return tree
