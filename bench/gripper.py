"""How fast each simulated hand closes and opens, for its description's `gripper.max_rate`.

    .venv/bin/python bench/gripper.py                      # the builtin robots (arm6, arm7, panda, jaco)
    .venv-gym-hil/bin/python bench/gripper.py --gym-hil    # gym-hil's Panda and Robotiq 2F-85

From open, the fingers get a full close command held for --steps (8) control steps, then a full open
one; the opening (1 open .. 0 closed, measured at the fingers) is printed after each step. A
safety layer's gripper rate limit slower than the fingers only delays every grasp (docs/ROBOTS.md):
the figures to read are how many steps the fingers take on their own to go 90% of the way, and,
for the builtin robots, how many they take with the command ramped at the description's
`gripper.max_rate` (the safety layer's limit): where the second is larger, the limit delays every
grasp. A limit of 2 x the command rate (Hz) command units per second lets a full close through in
one step. The builtin robots step the simulator directly (robot_rl.sim, no safety layer in
between). gym-hil runs in its own environment (docs/ENVS.md), so that mode imports gym-hil only:
its gripper reading is the command, not the fingers, so the fingers' joint is read from its MuJoCo
data.
"""
from __future__ import annotations

import argparse

import numpy as np


def steps_to_90(opening: list[float]) -> int | None:
    """The first step at which the fingers are 90% of the way closed (from open) or open (from
    closed); None: not within the steps run."""
    target = 0.0 if opening[0] > 0.5 else 1.0
    for k, o in enumerate(opening[1:], 1):
        if abs(o - target) <= 0.1:
            return k
    return None


def trace(step, opening, commands) -> list[float]:
    """The opening before and after each of `commands` (one gripper command a step)."""
    seq = [opening()]
    for g in commands:
        step(g)
        seq.append(opening())
    return seq


def builtin(robots: list[str], steps: int):
    from robot_rl import sim
    for robot in robots:
        env = sim.make(robot=robot)
        env.reset(seed=0)
        hz = env.description.command.rate_hz
        rate = env.description.gripper.max_rate
        step = lambda g: env.step(np.array([0, 0, 0, 0, g]))   # noqa: E731
        opening = lambda: float(env.gripper_opening())        # noqa: E731
        runs = {"close": trace(step, opening, [-1.0] * steps), "open": trace(step, opening, [1.0] * steps)}
        # the same close with the command ramped as the safety layer's limit ramps it
        env.reset(seed=0)
        ramp = [max(-1.0, 1.0 - rate / hz * k) for k in range(1, steps + 1)]
        runs[f"close, {rate:g}/s limit"] = trace(step, opening, ramp)
        yield robot, hz, runs


def gym_hil(steps: int):
    import importlib

    import gymnasium as gym
    importlib.import_module("gym_hil")   # registers its envs
    env = gym.make("gym_hil/PandaPickCubeBase-v0", image_obs=False)
    env.reset(seed=0)
    model, data = env.unwrapped._model, env.unwrapped._data
    joint = model.joint("right_driver_joint")
    hi = float(model.jnt_range[joint.id][1])
    def opening():
        return 1.0 - float(data.qpos[model.jnt_qposadr[joint.id]]) / hi
    step = lambda g: env.step(np.array([0, 0, 0, 0, 0, 0, g], np.float32))   # noqa: E731
    # its grasp: +1 closes fully, -1 opens
    runs = {"close": trace(step, opening, [1.0] * steps), "open": trace(step, opening, [-1.0] * steps)}
    yield "gym_hil_panda", 1.0 / env.unwrapped.control_dt, runs   # its max_rate: robot_rl/envs/gym_hil/panda.yaml


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--robots", default="arm6,arm7,panda,jaco", help="builtin robots, comma-separated")
    p.add_argument("--gym-hil", action="store_true", help="gym-hil's Panda instead (run with .venv-gym-hil's python)")
    p.add_argument("--steps", type=int, default=8, help="control steps each command is held")
    a = p.parse_args()
    rows = gym_hil(a.steps) if a.gym_hil else builtin(a.robots.split(","), a.steps)
    for robot, hz, runs in rows:
        for name, seq in runs.items():
            print(f"{robot:14s} {name:20s} at {hz:g} Hz: " + " ".join(f"{o:.2f}" for o in seq)
                  + f"   90% in {steps_to_90(seq)} steps")


if __name__ == "__main__":
    main()
