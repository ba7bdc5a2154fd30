"""How a simulated pick_cube episode ended, by how far it got, not only whether it succeeded: where a
policy fails is what says what to fix (locating the cube, closing on it, lifting it).

    tracker = EpisodeOutcome(env)          # after env.reset
    ... tracker.step(info) after every env.step ...
    row = tracker.result(info["success"])  # None for a task without a cube
    failure_summary(rows)                  # 'never reached the cube 13 (closest 9.0 cm, ...), ...'
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from robot_rl.tasks.pick_cube import CUBE_HALF

OUTCOMES = ("success", "never reached the cube", "reached, never closed on it", "closed, never lifted it",
            "lifted, then lost it")
REACH_M = 0.03        # the gripper within 3 cm of the cube's centre: reached
LIFT_M = 0.01         # the cube 1 cm off the table: lifted


class EpisodeOutcome:
    """Follows one episode: whether the gripper reached the cube, closed near it, lifted it, and its
    closest approach (3D and horizontally)."""

    def __init__(self, env) -> None:
        self.env = env
        self.reached = self.closed = False
        self.lifted, self.closest, self.closest_xy = 0.0, np.inf, np.inf
        self.tracked = False

    def step(self, info: dict) -> None:
        state = info.get("state", {})
        if "cube_pos" not in state:
            return
        self.tracked = True
        cube, ee = state["cube_pos"], self.env.ee_pose()[0]
        distance = float(np.linalg.norm(cube - ee))
        self.closest = min(self.closest, distance)
        self.closest_xy = min(self.closest_xy, float(np.linalg.norm(cube[:2] - ee[:2])))
        near = distance < REACH_M
        self.reached |= near
        self.closed |= near and self.env.gripper_opening() < 0.5
        self.lifted = max(self.lifted, float(cube[2]) - CUBE_HALF)

    def result(self, success: bool) -> Optional[dict[str, Any]]:
        """{"outcome", "closest_cm", "closest_xy_cm"}; None if no step saw a cube."""
        if not self.tracked:
            return None
        k = (0 if success else 1 if not self.reached else 2 if not self.closed else 3 if self.lifted < LIFT_M else 4)
        return {"outcome": OUTCOMES[k], "closest_cm": round(100 * self.closest, 1),
                "closest_xy_cm": round(100 * self.closest_xy, 1)}


def failure_summary(rows: list[dict]) -> str:
    """'never reached the cube 13 (closest 4.1 cm, 2.5 cm across, medians), ...' over the failures;
    '' when there are none."""
    parts = []
    for name in OUTCOMES[1:]:
        hits = [o for o in rows if o["outcome"] == name]
        if hits:
            parts.append(f"{name} {len(hits)}" + (
                f" (closest {np.median([o['closest_cm'] for o in hits]):.1f} cm, "
                f"{np.median([o['closest_xy_cm'] for o in hits]):.1f} cm across, medians)" if name == OUTCOMES[1] else ""))
    return ", ".join(parts)
