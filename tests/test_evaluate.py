"""The session's evaluation acts through the control node's safety layer and action scaling
(robot_rl.control.core.ee_safety), so what it measures is what the robot's loop would let a policy
do: here a gripper flipped every step is rate-limited."""
from __future__ import annotations

import numpy as np

from robot_rl.control.core import ee_safety
from robot_rl.session.evaluate import evaluate_policy


class Flipper:
    """Pushes +x and flips the gripper between closed and open at every step."""
    version = "test/flipper"

    def __init__(self) -> None:
        self.k = 0

    def __call__(self, obs: dict) -> np.ndarray:
        self.k += 1
        return np.array([1.0, 0.0, 0.0, 0.0, 1.0 if self.k % 2 else -1.0])


def test_evaluation_clamps_as_the_control_node_does():
    policy = Flipper()
    res = evaluate_policy(policy, "pick_cube", [7], cameras="front", image_size=32)
    steps = res["steps"][0]
    assert res["version"] == "test/flipper" and res["success"] == [False] and steps == policy.k
    # +1 first (the reference), then -1 is held to 1 - 0.4 = 0.6, from where +1 is within reach: every
    # second command is clamped
    assert res["clamps"]["gripper"] == steps // 2
    # the same limits as the control node's at 10 Hz: 3 cm and 0.15 rad per tick, 0.4 gripper units
    cfg, to_command = ee_safety(10.0)
    np.testing.assert_allclose(cfg.max_step, [0.03, 0.03, 0.03, 0.15])
    np.testing.assert_allclose(to_command.scale, [0.03, 0.03, 0.03, 0.15])
    assert cfg.gripper_max_rate * 0.1 == 0.4
