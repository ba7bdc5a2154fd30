"""Evaluate a registry policy on held-out simulator seeds without corrections: its ONNX in
onnxruntime (what the control node runs) acting on the simulated robot at full speed through the
control node's step (robot_rl.sim.control_loop: safety layer, action scaling, the sim robot's
command checks), plus PNG strips of the first few episodes for the session report
and how each episode ended in the task's own outcome categories (robot_rl.sim.outcomes; Task.outcomes)."""
from __future__ import annotations

import pathlib
import time
from typing import Any, Callable, Optional

import numpy as np

from robot_rl.log import get_logger
from robot_rl.robot import DEFAULT_ROBOT

log = get_logger("robot_rl.session")


def _strip(frames: list[np.ndarray], path: pathlib.Path, n: int = 8) -> None:
    import cv2
    picks = np.linspace(0, len(frames) - 1, min(n, len(frames))).round().astype(int)
    cv2.imwrite(str(path), np.hstack([frames[i] for i in picks])[..., ::-1])


def evaluate_policy(path: "pathlib.Path | Callable[[dict], np.ndarray]", task: str, seeds: list[int],
                    robot: str = DEFAULT_ROBOT, cameras: str = "front,wrist", image_size: int = 128,
                    rate_hz: float = 10.0, strips_dir: Optional[pathlib.Path] = None,
                    strips: int = 3, gym_env: str = "") -> dict[str, Any]:
    """Episodes end as the task says (its step limit, as the simulated operator ends them on ROS).
    `path`: a registry .onnx, or any callable obs -> action (with a `version` attribute or not).
    `robot`: a builtin robot's name or a description YAML's path. `gym_env`: an adapted Gymnasium env's
    mapping to evaluate on instead of the builtin simulator (task, robot, cameras and size are its)."""
    import collections

    from robot_rl import sim
    from robot_rl.policy.runtime import PolicyRuntime
    from robot_rl.sim.control_loop import SimControlLoop
    from robot_rl.sim.outcomes import tracker_for

    policy = PolicyRuntime.from_file(path) if isinstance(path, (str, pathlib.Path)) else path
    version = getattr(policy, "version", "callable")
    cams = [c for c in cameras.split(",") if c]
    if gym_env:
        from robot_rl.sim.gym_env import GymRobotEnv
        env: Any = GymRobotEnv(gym_env)
    else:
        env = sim.make(task, robot=robot, cameras=cams, image_size=[image_size, image_size], control_hz=rate_hz)
    loop = SimControlLoop(env, policy)
    clamps: collections.Counter[str] = collections.Counter()
    if strips_dir is not None:
        strips_dir.mkdir(parents=True, exist_ok=True)
    success, steps, strip_paths, outcomes = [], [], [], []
    t0, last = time.monotonic(), time.monotonic()
    try:
        for k, seed in enumerate(seeds):
            obs, info = loop.reset(int(seed))
            frames: list[np.ndarray] = []
            tracker, done = tracker_for(env), False
            while not done:
                if strips_dir is not None and k < strips and cams:
                    frames.append(np.vstack([obs[c] for c in cams]))
                _, obs, _, term, trunc, info = loop.step(obs)
                done = term or trunc
                if tracker is not None:
                    tracker.step(info)
            assert loop.core is not None
            clamps.update(loop.core.safety.counts)
            success.append(bool(info["success"]))
            row = tracker.result(success[-1]) if tracker is not None else None
            if row is not None:
                outcomes.append({"seed": int(seed), **row})
            steps.append(int(env.steps))
            if frames:
                frames.append(np.vstack([obs[c] for c in cams]))
                p = strips_dir / f"seed{seed}_{'success' if success[-1] else 'failure'}.png"
                _strip(frames, p)
                strip_paths.append(str(p))
            if time.monotonic() - last >= 2.0 or k == len(seeds) - 1:
                last = time.monotonic()
                log.info("eval %s: %d/%d episodes, success %d", version, k + 1, len(seeds), sum(success))
    finally:
        env.close()
    return {"version": version, "path": str(path) if isinstance(path, (str, pathlib.Path)) else "", "seeds": [int(s) for s in seeds], "success": success,
            "steps": steps, "success_rate": float(np.mean(success)) if success else float("nan"),
            "strips": strip_paths, "seconds": round(time.monotonic() - t0, 1), "clamps": dict(clamps),
            "outcomes": outcomes}
