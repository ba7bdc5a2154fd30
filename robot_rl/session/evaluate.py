"""Evaluate a registry policy on held-out simulator seeds without corrections: its ONNX in
onnxruntime (what the control node runs) acting in the Gymnasium env at full speed, plus PNG strips
of the first few episodes for the session report."""
from __future__ import annotations

import pathlib
import time
from typing import Any, Optional

import numpy as np

from robot_rl.log import get_logger

log = get_logger("robot_rl.session")


def _strip(frames: list[np.ndarray], path: pathlib.Path, n: int = 8) -> None:
    import cv2
    picks = np.linspace(0, len(frames) - 1, min(n, len(frames))).round().astype(int)
    cv2.imwrite(str(path), np.hstack([frames[i] for i in picks])[..., ::-1])


def evaluate_policy(path: pathlib.Path, task: str, seeds: list[int], robot: str = "arm6", cameras: str = "front,wrist",
                    image_size: int = 128, rate_hz: float = 10.0, strips_dir: Optional[pathlib.Path] = None,
                    strips: int = 3) -> dict[str, Any]:
    """Episodes end as the task says (its step limit, as the simulated operator ends them on ROS)."""
    from robot_rl import sim
    from robot_rl.policy.runtime import PolicyRuntime

    policy = PolicyRuntime.from_file(path)
    cams = [c for c in cameras.split(",") if c]
    env = sim.make(task, robot=robot, cameras=cams, image_size=[image_size, image_size], control_hz=rate_hz)
    if strips_dir is not None:
        strips_dir.mkdir(parents=True, exist_ok=True)
    success, steps, strip_paths = [], [], []
    t0, last = time.monotonic(), time.monotonic()
    try:
        for k, seed in enumerate(seeds):
            obs, info = env.reset(seed=int(seed))
            frames: list[np.ndarray] = []
            done = False
            while not done:
                if strips_dir is not None and k < strips and cams:
                    frames.append(np.vstack([obs[c] for c in cams]))
                obs, _, term, trunc, info = env.step(policy(obs))
                done = term or trunc
            success.append(bool(info["success"]))
            steps.append(int(env.steps))
            if frames:
                frames.append(np.vstack([obs[c] for c in cams]))
                p = strips_dir / f"seed{seed}_{'success' if success[-1] else 'failure'}.png"
                _strip(frames, p)
                strip_paths.append(str(p))
            if time.monotonic() - last >= 2.0 or k == len(seeds) - 1:
                last = time.monotonic()
                log.info("eval %s: %d/%d episodes, success %d", policy.version, k + 1, len(seeds), sum(success))
    finally:
        env.close()
    return {"version": policy.version, "path": str(path), "seeds": [int(s) for s in seeds], "success": success,
            "steps": steps, "success_rate": float(np.mean(success)) if success else float("nan"),
            "strips": strip_paths, "seconds": round(time.monotonic() - t0, 1)}
