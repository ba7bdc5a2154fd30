"""The session's evaluation acts through the control node's safety layer and action scaling
(robot_rl.control.core.ee_safety), so what it measures is what the robot's loop would let a policy
do: here a gripper flipped every step is rate-limited."""
from __future__ import annotations

import numpy as np
import pytest

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


def test_selection_picks_the_best_export_and_the_newest_on_a_tie():
    from robot_rl.session import select
    versions = [f"v{i:04d}" for i in range(1, 8)]
    assert select.candidates(versions, "s", 3) == ["s/v0005", "s/v0006", "s/v0007"]
    assert select.candidates(versions[:2], "s", 4) == ["s/v0001", "s/v0002"]
    assert select.candidates(versions, "s", 0) == []
    # the best, wherever it is; the newest among equals
    assert select.choose([{"ref": "a", "success_rate": 0.2}, {"ref": "b", "success_rate": 0.6},
                          {"ref": "c", "success_rate": 0.4}]) == "b"
    assert select.choose([{"ref": "a", "success_rate": 0.5}, {"ref": "b", "success_rate": 0.5},
                          {"ref": "c", "success_rate": 0.1}]) == "b"
    assert select.choose([{"ref": "a", "success_rate": 0.0}, {"ref": "b", "success_rate": 0.0}]) == "b"
    with pytest.raises(ValueError):
        select.choose([])
    # validation seeds never meet the demonstration, HIL or held-out evaluation seeds of a session
    from robot_rl.session import SessionConfig
    cfg = SessionConfig(seed=3)
    val = set(select.validation_seeds(cfg.seed, 50))
    held_out = {cfg.seed + 100_000 + i for i in range(cfg.eval_episodes)}
    demos_and_hil = set(range(cfg.seed, cfg.seed + 1000 + 10_000))
    assert len(val) == 50 and not val & held_out and not val & demos_and_hil
