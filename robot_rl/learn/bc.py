"""Behavior cloning of a base policy from the steps where a person acted (teleop demonstrations and
interventions): MSE on the executed action, normalized to [-1, 1], with DrQ shifts on images.
The model is robot_rl.policy's MLP or CNN policy, so it checkpoints (safetensors), exports to ONNX
through the registry and runs in the control node like any policy.

    model, cfg, report = train_bc(EpisodeStore.open("data/demos.zarr"), BCConfig(kind="cnn"))
"""
from __future__ import annotations

import time
from typing import Callable, Optional

import numpy as np
import torch

from robot_rl.learn.augment import random_shift
from robot_rl.learn.config import BCConfig
from robot_rl.learn.data import action_spec, camera_name, image_streams, obs_specs, proprio_stats, robot_ref
from robot_rl.log import get_logger
from robot_rl.policy.checkpoint import PolicyConfig
from robot_rl.policy.models import pool_frames
from robot_rl.store.reader import EpisodeStore
from robot_rl.store.sampler import TransitionSampler
from robot_rl.store.schema import StoreError

log = get_logger(__name__)


def loss_summary(losses: list[float]) -> dict[str, float]:
    """Mean loss of the first and the last k steps (k = a fifth of them, 1..50): did training fit?"""
    k = max(1, min(50, len(losses) // 5))
    return {"loss_first": float(np.mean(losses[:k])), "loss_last": float(np.mean(losses[-k:]))}


def train_bc(store: EpisodeStore, cfg: BCConfig,
             progress: Optional[Callable[[int, int, float], None]] = None) -> tuple[torch.nn.Module, PolicyConfig, dict]:
    """(trained model in eval mode, its PolicyConfig, report). Raises StoreError without human steps."""
    cfg.validate()
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    streams = image_streams(store, cfg.cameras) if cfg.kind == "cnn" else []
    if cfg.kind == "cnn" and not streams:
        raise StoreError(f"{store.path}: a cnn policy needs an rgb stream; the store has none")
    pool = (lambda frames: pool_frames(torch.from_numpy(frames), cfg.downsample).numpy()) if cfg.downsample > 1 else None
    sampler = TransitionSampler(store, cameras=streams, seed=cfg.seed, frame_transform=pool)
    n_human = sampler.count("human")
    if n_human == 0:
        raise StoreError(f"{store.path}: no steps where a person acted (teleop demonstrations) to clone")
    obs = obs_specs(store, streams)
    act = action_spec(store)
    pcfg = PolicyConfig(kind=cfg.kind, proprio=obs[-1], cameras=obs[:-1], action=act, hidden=list(cfg.hidden),
                        control_hz=cfg.control_hz, downsample=cfg.downsample, chunk=cfg.chunk,
                        chunk_decay=cfg.chunk_decay, robot=robot_ref(store))
    model = pcfg.build()
    mean, std = proprio_stats(sampler.column("obs")[sampler.rows("human")])
    model.mean.copy_(torch.from_numpy(mean))
    model.std.copy_(torch.from_numpy(std))
    half = (torch.tensor(act.high) - torch.tensor(act.low)) / 2   # the loss is on actions normalized to [-1, 1]
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    model.train()
    t0, losses = time.monotonic(), []
    for step in range(1, cfg.steps + 1):
        b = sampler.sample(cfg.batch, rows="human")
        inputs = [random_shift(torch.from_numpy(b["images"][s]), cfg.augment_pad) for s in streams]
        inputs.append(torch.from_numpy(b["obs"]))
        if cfg.chunk == 1:
            target = torch.from_numpy(np.asarray(b["action"], np.float32))
            loss = (((model(*inputs) - target) / half) ** 2).mean()
        else:   # the person's next chunk actions, masked where the episode or the person's run ends
            chunk, ok = sampler.action_chunks(b["row"], cfg.chunk)
            err = ((model.forward_chunk(*inputs) - torch.from_numpy(chunk)) / half) ** 2
            mask = torch.from_numpy(ok).unsqueeze(-1).to(err.dtype)
            loss = (err * mask).sum() / (mask.sum() * err.shape[-1])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if progress is not None:
            progress(step, cfg.steps, losses[-1])
    model.eval()
    report = {"human_steps": n_human, "episodes": len(sampler.episodes), "steps": cfg.steps, **loss_summary(losses),
              "seconds": round(time.monotonic() - t0, 1), "cameras": [camera_name(s) for s in streams],
              "chunk": cfg.chunk}
    return model, pcfg, report


def train_and_publish(store_path, cfg: BCConfig, name: str, checkpoint, registry) -> dict:
    """Train on a store's human steps, write the torch checkpoint (the learner's residual base) and
    export the policy to the registry (parity-checked). Progress is logged every 2 s.
    Returns {"path": the registry .onnx, "parity", "report": train_bc's report}."""
    import pathlib

    from robot_rl.log import progress
    from robot_rl.policy.checkpoint import save_checkpoint
    from robot_rl.policy.export import export
    from robot_rl.policy.registry import PolicyRegistry

    report_step = progress(f"bc {cfg.kind} steps")
    model, pcfg, report = train_bc(EpisodeStore.open(store_path), cfg,
                                   lambda step, total, loss: report_step(step, total, f"loss {loss:.4f}"))
    checkpoint = pathlib.Path(checkpoint)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, pcfg, checkpoint)
    meta = pcfg.metadata(name)
    data, err = export(model, meta)
    path = PolicyRegistry(registry).publish(data, meta, metrics={"bc_loss": round(report["loss_last"], 5),
                                                                "human_steps": report["human_steps"]})
    return {"path": path, "parity": err, "report": report}
