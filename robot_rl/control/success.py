"""A reward classifier on the robot: ends an episode as a success when the camera frames say so
(HIL-SERL's classifier wrapper, which sets done when the classifier fires), so a session on a real
robot needs no operator keypress and no simulator state to label successes.

The model is a registry export of kind "reward" (`robot-rl reward train`): camera frames in,
P(success) out. The detector fires once P >= threshold on `hold` consecutive frames (a single lucky
frame does not end an episode), then stays quiet until reset() (the next episode). ROS-free: the
control node runs it on its own thread beside the loop, never in it: one pass on two 128x128 cameras
costs 0.2 ms p50 here (bench/reward_classifier.py), a tenth of a 500 Hz tick, and a larger model
must not eat into the loop's budget.
"""
from __future__ import annotations

import pathlib
from typing import Optional

import numpy as np

from robot_rl.policy.spec import PolicyError


class SuccessDetector:
    def __init__(self, path: str | pathlib.Path, threshold: float = 0.0, hold: int = 3, sha256: str = "",
                 max_bytes: Optional[int] = None) -> None:
        from robot_rl.policy import registry
        from robot_rl.policy.ort import session

        if hold < 1:
            raise ValueError("hold must be >= 1 frame")
        data, self.meta = registry.load(path, sha256, max_bytes=max_bytes or registry.MAX_MODEL_BYTES)
        if self.meta.kind != "reward":
            raise PolicyError(f"{path}: {self.meta.name}/{self.meta.version} is a {self.meta.kind}, "
                              "not a reward classifier (robot-rl reward train makes one)")
        self.threshold = float(threshold or self.meta.metrics.get("threshold", 0.5))
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold:g}")
        self.sess = session(data)
        self.cameras = [o.name for o in self.meta.obs]
        self.shapes = {o.name: tuple(o.shape) for o in self.meta.obs}
        self.hold = hold
        self.version = f"{self.meta.name}/{self.meta.version}"
        self.reset()

    def reset(self) -> None:
        """A new episode: count from zero, and fire again."""
        self.streak = 0
        self.fired = False
        self.last_p = float("nan")

    def __call__(self, frames: dict[str, np.ndarray]) -> tuple[float, bool]:
        """(P(success) of these frames, True on the one call where the detector fires). Frames are
        uint8 [H, W, 3] per camera the model names; a missing or mis-shaped frame is an error."""
        feed = {}
        for cam in self.cameras:
            img = frames.get(cam)
            if img is None:
                raise PolicyError(f"reward classifier {self.version} needs camera {cam!r}; have {sorted(frames)}")
            if img.shape != self.shapes[cam] or img.dtype != np.uint8:
                raise PolicyError(f"reward classifier {self.version} needs {cam} frames {list(self.shapes[cam])} "
                                  f"uint8, got {list(img.shape)} {img.dtype}")
            feed[cam] = img[None]
        p = float(self.sess.run(["success"], feed)[0][0, 0])
        self.last_p = p
        if self.fired:
            return p, False
        self.streak = self.streak + 1 if p >= self.threshold else 0   # NaN counts as no
        if self.streak >= self.hold:
            self.fired = True
            return p, True
        return p, False
