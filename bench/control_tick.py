"""One control tick in process, without ROS: `ControlCore.tick` (watchdog, policy, output check,
command, safety layer, step record) against the policy call alone, for an exported MLP policy in
onnxruntime at 500 Hz limits. The difference is what the core adds per tick on the control node's
hot path; compare it before and after a change to robot_rl/control/ (same machine, one run).

    python bench/control_tick.py [--ticks 20000] [--repeat 7] [--hidden 256]
"""
from __future__ import annotations

import argparse
import pathlib
import tempfile
import time

import numpy as np
import torch

from robot_rl import robot
from robot_rl.control.core import ControlCore, robot_control
from robot_rl.control.safety import SafetyLayer
from robot_rl.control.watchdog import Watchdog
from robot_rl.policy import ActionSpec, ObsSpec, PolicyMetadata
from robot_rl.policy.export import export
from robot_rl.policy.models import MLPPolicy
from robot_rl.policy.registry import PolicyRegistry
from robot_rl.policy.runtime import PolicyRuntime


def per_call_us(fn, n: int, repeat: int) -> tuple[float, float]:
    """(best, median) microseconds per call over `repeat` runs of n calls."""
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for k in range(n):
            fn(k)
        runs.append((time.perf_counter_ns() - t0) / n / 1e3)
    return min(runs), sorted(runs)[len(runs) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ticks", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--hidden", type=int, default=256, help="MLP width (two layers)")
    args = ap.parse_args()
    proprio, action = ObsSpec("proprio", [17]), ActionSpec(["dx", "dy", "dz", "dyaw", "gripper"], [-1.0] * 5, [1.0] * 5)
    torch.manual_seed(0)
    meta = PolicyMetadata(name="bench", obs=[proprio], action=action)
    with tempfile.TemporaryDirectory() as tmp:
        reg = PolicyRegistry(pathlib.Path(tmp) / "policies")
        path = reg.publish(export(MLPPolicy(proprio, action, hidden=(args.hidden, args.hidden)), meta)[0], meta)
        rt = PolicyRuntime.from_file(path)
    safety_cfg, to_command = robot_control(robot.load(robot.DEFAULT_ROBOT), 500.0)
    core = ControlCore(rt, SafetyLayer(safety_cfg, 1 / 500), Watchdog({"proprio": 1.0}, 0.0), to_command)
    obs = {"proprio": np.random.default_rng(0).normal(size=17).astype(np.float32)}
    state = np.array([0.4, 0.0, 0.2, 0.0])

    def tick(k: int) -> None:
        core.watchdog.update("proprio", k)
        core.tick(k, obs, state)

    tick_best, tick_med = per_call_us(tick, args.ticks, args.repeat)
    pol_best, pol_med = per_call_us(lambda k: rt(obs), args.ticks, args.repeat)
    print(f"tick {tick_best:.1f} us (median {tick_med:.1f}); policy alone {pol_best:.1f} us (median {pol_med:.1f}); "
          f"the core adds {tick_best - pol_best:.1f} us per tick (best of {args.repeat} x {args.ticks})")


if __name__ == "__main__":
    main()
