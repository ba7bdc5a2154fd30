"""The simulated human's judges on fixed policies: how often each one takes over a policy, and how
many of the corrected episodes succeed.

    python bench/corrector.py runs/session/policies/session_base/v0001.onnx \
        runs/session/policies/session/v0011.onnx --episodes 20
    python bench/corrector.py runs/panda/policies/session/v0028.onnx --robot panda --judges progress

For each registry ONNX policy, on the same held-out seeds: the policy alone (no human), then with
the simulated human under each judge (robot_rl.sim.corrector: "plan" takes over when the policy
leaves the scripted expert's route, "progress" only when the task stops advancing). The policy's
action goes to the human, and what the human commands to the simulator, as in a session, but
without the control node's safety layer. "Needless takeovers": episodes the human took over that
the policy finishes alone on the same seed (of those it finishes alone), a judge's false alarms;
"set off by": how many takeovers each of the judge's triggers started (off_plan, stall, regress).
Prints a table; writes JSON with --json.
"""
from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np


def run(policy, env, seeds, judge: str | None, settings: dict | None = None) -> dict:
    from robot_rl.sim.corrector import CorrectorConfig, SimulatedHuman
    success, steps, took_over, takeovers, episode_takeovers, triggers = [], 0, 0, 0, [], {}
    for seed in seeds:
        obs, info = env.reset(seed=int(seed))
        human = SimulatedHuman(env, CorrectorConfig(judge=judge, **(settings or {})), seed=int(seed)) if judge else None
        done, was = False, False
        while not done:
            action = np.clip(np.asarray(policy(obs), dtype=np.float64), -1, 1)
            intervening = False
            if human is not None:
                action, intervening = human.act(action, obs, info)
            took_over += intervening
            takeovers += intervening and not was
            was = intervening
            steps += 1
            obs, _, term, trunc, info = env.step(action)
            done = term or trunc
        success.append(bool(info["success"]))
        for k, n in (human.triggers.items() if human else ()):
            triggers[k] = triggers.get(k, 0) + n
        episode_takeovers.append(takeovers - sum(episode_takeovers))
    return {"judge": judge or "alone", "success_rate": float(np.mean(success)), "steps": steps,
            "intervention_rate": took_over / steps, "takeovers_per_episode": takeovers / len(seeds),
            "success": success, "episode_takeovers": episode_takeovers, "triggers": triggers}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("policies", type=pathlib.Path, nargs="+", help="registry .onnx files")
    ap.add_argument("--task", default="pick_cube")
    ap.add_argument("--robot", default=None, help="builtin name or description YAML (default: the builtin default)")
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=500_000, help="held-out seeds first..first+episodes-1")
    ap.add_argument("--json", type=pathlib.Path, default=None)
    ap.add_argument("--judges", nargs="+", default=["plan", "progress"], choices=["plan", "progress"])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a CorrectorConfig field for every judge (robot_rl.sim.corrector), e.g. stall_steps=8")
    args = ap.parse_args()
    settings = {}
    for item in args.set:
        key, _, value = item.partition("=")
        settings[key] = float(value) if "." in value else int(value)

    from robot_rl import sim
    from robot_rl import robot
    from robot_rl.control.core import robot_control
    from robot_rl.policy.runtime import PolicyRuntime

    name = args.robot or robot.DEFAULT_ROBOT
    _, to_command = robot_control(robot.load(name), 10.0)   # the env's action scaling = the control node's, as in eval
    env = sim.make(args.task, name, cameras=["front", "wrist"], image_size=[128, 128], control_hz=10.0,
                   max_pos_step=float(to_command.scale[0]), max_yaw_step=float(to_command.scale[3]))
    seeds = list(range(args.first_seed, args.first_seed + args.episodes))
    rows = []
    print(f"{'policy':<48} {'human':<9} {'success':>8} {'intervention steps':>19} {'takeovers/episode':>18} "
          f"{'needless takeovers':>19}  set off by")
    for path in args.policies:
        policy = PolicyRuntime.from_file(path)
        alone = None
        for judge in (None, *args.judges):
            r = {"policy": str(path), **run(policy, env, seeds, judge, settings)}
            if judge is None:
                alone = r["success"]
            else:   # episodes taken over that the policy finishes alone on the same seed: false alarms
                r["needless_takeovers"] = sum(bool(n) and a for n, a in zip(r["episode_takeovers"], alone))
            rows.append(r)
            needless = f"{r['needless_takeovers']} of {sum(alone)}" if judge else "-"
            print(f"{str(path)[-48:]:<48} {r['judge']:<9} {r['success_rate']:>8.0%} {r['intervention_rate']:>19.0%} "
                  f"{r['takeovers_per_episode']:>18.2f} {needless:>19}  "
                  + " ".join(f"{k} {n}" for k, n in sorted(r["triggers"].items())), flush=True)
    env.close()
    if args.json:
        args.json.write_text(json.dumps({"seeds": seeds, "settings": settings, "rows": rows}, indent=1))
        print(f"results: {args.json}")


if __name__ == "__main__":
    main()
