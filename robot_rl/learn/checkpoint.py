"""Learner checkpoints in one safetensors file (no pickle): every network's weights, every
optimizer's tensors and the torch RNG state as tensors; optimizer hyper-parameters, counters and
the sampler's RNG state as JSON in the file's metadata. Written to a temporary file, fsynced and
renamed, so a kill during a save leaves the previous checkpoint whole. Loading it into a freshly
built agent continues training exactly on the CPU (the resume test compares weights bit for bit);
tensors are saved from any device and loaded onto the agent's (on CUDA the GPU's random state is
not saved, so a resumed run there is not bit-identical)."""
from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from robot_rl.learn.sac import SAC
from robot_rl.durable_file import fsync_dir

META_KEY = "robot_rl.learner"


def save_learner_state(path: str | pathlib.Path, agent: SAC, extra: dict[str, Any]) -> None:
    path = pathlib.Path(path)
    tensors: dict[str, torch.Tensor] = {}
    for name, module in agent.modules().items():
        for k, v in module.state_dict().items():
            tensors[f"model.{name}.{k}"] = v.detach().cpu().clone().contiguous()
    tensors["model.log_alpha"] = agent.log_alpha.detach().cpu().clone().reshape(1)
    groups = {}
    for name, opt in agent.optimizers().items():
        sd = opt.state_dict()
        for idx, state in sd["state"].items():
            for k, v in state.items():
                tensors[f"opt.{name}.{idx}.{k}"] = torch.as_tensor(v).detach().cpu().clone().contiguous()
        groups[name] = sd["param_groups"]
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {"updates": agent.updates, "optimizer_groups": groups, **extra}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(meta)})
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)   # the rename itself survives a power cut


def load_learner_state(path: str | pathlib.Path, agent: SAC) -> dict[str, Any]:
    """Load weights, optimizer state and RNG into `agent` (built with the same config); returns the
    extra state saved with it."""
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads((f.metadata() or {})[META_KEY])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    for name, module in agent.modules().items():
        prefix = f"model.{name}."
        module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    with torch.no_grad():
        agent.log_alpha.copy_(tensors["model.log_alpha"][0])
    for name, opt in agent.optimizers().items():
        prefix = f"opt.{name}."
        state: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in tensors.items():
            if k.startswith(prefix):
                idx, key = k[len(prefix):].split(".", 1)
                state.setdefault(int(idx), {})[key] = v
        opt.load_state_dict({"state": state, "param_groups": meta["optimizer_groups"][name]})
    torch.set_rng_state(tensors["rng.torch"])
    agent.updates = int(meta["updates"])
    return meta
