"""From store batches to learner tensors, and the names a trained policy's inputs get.

The store names camera streams `<camera>_rgb`; policies name their inputs after the camera
(`front`, `wrist`: the control node's /camera/<camera>/image_raw) plus `proprio`. Actions are
learned normalized to [-1, 1] within the action spec's bounds."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from robot_rl.policy.spec import ActionSpec, ObsSpec, RobotRef
from robot_rl.store.reader import EpisodeStore
from robot_rl.robot.features import names_for


def camera_name(stream: str) -> str:
    return stream[:-4] if stream.endswith("_rgb") else stream


def image_streams(store: EpisodeStore, cameras: Optional[str]) -> list[str]:
    """`cameras`: "auto" (every rgb stream), "" (none: state only) or comma-separated stream or
    camera names ("front" finds front_rgb)."""
    spec = store.spec
    have = [s.name for s in spec.streams if s.is_image and s.kind == "rgb"]
    if cameras is None or cameras == "auto":
        return have
    out = []
    for c in (x.strip() for x in cameras.split(",") if x.strip()):
        name = c if c in have else f"{c}_rgb"
        if name not in have:
            raise ValueError(f"{store.path}: no rgb stream {c!r} (rgb streams: {', '.join(have) or 'none'})")
        out.append(name)
    return out


def obs_specs(store: EpisodeStore, streams: list[str]) -> list[ObsSpec]:
    """The policy's inputs in ONNX order: cameras, then proprio."""
    spec = store.spec
    cams = [ObsSpec(camera_name(s), list(spec.stream(s).shape), "uint8") for s in streams]
    return cams + [ObsSpec("proprio", [spec.steps.obs_dim])]


def robot_ref(store: EpisodeStore) -> RobotRef:
    """The robot and command mode the store's steps were recorded on (what exports name)."""
    r = store.spec.robot
    return RobotRef(r.name, r.description_sha256, r.command_mode) if r is not None else RobotRef()


def action_spec(store: EpisodeStore) -> ActionSpec:
    """The control node's action as the store's steps hold it: normalized deltas in [-1, 1], named
    for the command mode and joints the store was recorded with (robot_rl.robot.features); a store
    that does not say (an import) gets a0..aN."""
    n, r = store.spec.steps.action_dim, store.spec.robot
    names = names_for(r.command_mode, r.joint_names) if r is not None and r.command_mode else []
    if len(names) != n:
        names = [f"a{i}" for i in range(n)]
    return ActionSpec(names, [-1.0] * n, [1.0] * n)


def proprio_stats(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    obs = np.asarray(obs, np.float64)
    return obs.mean(0).astype(np.float32), np.maximum(obs.std(0), 1e-3).astype(np.float32)


class BatchConverter:
    """Sampler batch (numpy) -> torch: obs/next_obs dicts keyed by policy input names, actions
    normalized to [-1, 1] and clipped (a human can push a device past the policy's range)."""

    def __init__(self, streams: list[str], action: ActionSpec) -> None:
        self.streams = streams
        low, high = np.asarray(action.low, np.float32), np.asarray(action.high, np.float32)
        self.mid, self.half = (high + low) / 2, np.maximum((high - low) / 2, 1e-9)

    def normalize(self, action: np.ndarray) -> np.ndarray:
        return np.clip((np.asarray(action, np.float32) - self.mid) / self.half, -1.0, 1.0)

    def obs(self, proprio: np.ndarray, images: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        out = {"proprio": torch.from_numpy(np.ascontiguousarray(proprio, np.float32))}
        for s in self.streams:
            out[camera_name(s)] = torch.from_numpy(np.ascontiguousarray(images[s]))
        return out

    def __call__(self, b: dict[str, Any]) -> dict[str, Any]:
        return {"obs": self.obs(b["obs"], b["images"]), "next_obs": self.obs(b["next_obs"], b["next_images"]),
                "action": torch.from_numpy(self.normalize(b["action"])),
                "ret": torch.from_numpy(np.asarray(b["ret"], np.float32)),
                "discount": torch.from_numpy(np.asarray(b["discount"], np.float32)),
                "intervention": torch.from_numpy(np.asarray(b["intervention"], bool)),
                "labels": {k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in b.get("labels", {}).items()}}

