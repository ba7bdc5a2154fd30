"""Learning curve of a finished `robot-rl session`: every k-th policy version the learner exported
during the HIL stage (and the final one), evaluated like the session's eval stage (registry ONNX
in onnxruntime, held-out seeds, no corrections), against the HIL environment steps it had seen
and the wall-clock minutes since the HIL stage began; the intervention rate over the episodes.

    python bench/session_curve.py runs/session --every 3 --episodes 20

Prints a line per version; writes <session>/curve.json and curve.png. Run a longer session first
for a longer curve: robot-rl session --out runs/long --hil-episodes 240.
"""
from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("session", type=pathlib.Path)
    ap.add_argument("--every", type=int, default=3, help="evaluate every k-th version (default 3; the last always)")
    ap.add_argument("--episodes", type=int, default=20, help="held-out seeds per version (default 20)")
    args = ap.parse_args()

    from robot_rl import config
    from robot_rl.policy.registry import PolicyRegistry
    from robot_rl.session import DEMO_NOTES, SessionConfig, episodes_with
    from robot_rl.session.evaluate import evaluate_policy
    from robot_rl.session.report import hil_episode_table

    root = args.session
    cfg = config.load(SessionConfig, root / "session.yaml", [f"out={root}"])
    reg = PolicyRegistry(cfg.registry)
    versions = reg.versions(cfg.name)
    picks = sorted(set(versions[args.every - 1::args.every]) | {versions[-1]})
    demo_steps = sum(e.num_steps for e in episodes_with(cfg.store, DEMO_NOTES))
    hil = hil_episode_table(cfg)
    ev_path = root / "eval.json"
    ev = json.loads(ev_path.read_text()) if ev_path.exists() else {}
    seeds = [cfg.seed + 100_000 + i for i in range(args.episodes)]
    first_ns = None
    rows = []
    if "base" in ev and ev["base"]["seeds"] == seeds:
        rows.append({"version": ev["base"]["version"], "env_steps": 0, "wall_min": 0.0,
                     "success": ev["base"]["success_rate"]})
    for v in picks:
        doc = json.loads((reg.root / cfg.name / f"{v}.json").read_text())
        first_ns = first_ns or json.loads((reg.root / cfg.name / f"{versions[0]}.json").read_text())["created_ns"]
        res = evaluate_policy(reg.root / cfg.name / f"{v}.onnx", cfg.task, seeds, cfg.robot, cfg.cameras,
                              cfg.image_size, cfg.rate_hz)
        env_steps = int(doc["metrics"]["transitions"]) - demo_steps
        rows.append({"version": f"{cfg.name}/{v}", "env_steps": env_steps, "updates": doc["metrics"]["updates"],
                     "wall_min": (doc["created_ns"] - first_ns) / 60e9, "success": res["success_rate"]})
        print(f"{cfg.name}/{v}: {env_steps} HIL env steps, {doc['metrics']['updates']} updates, "
              f"{rows[-1]['wall_min']:.1f} min after the first export: success {res['success_rate']:.0%} "
              f"on {len(seeds)} held-out seeds", flush=True)
    (root / "curve.json").write_text(json.dumps({"rows": rows, "hil": hil, "seeds": seeds}, indent=1))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from robot_rl.learn.plots import rolling
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    axes[0].plot([r["env_steps"] for r in rows], [r["success"] for r in rows], marker="o")
    axes[0].set_xlabel("HIL environment steps")
    axes[1].plot([r["wall_min"] for r in rows], [r["success"] for r in rows], marker="o")
    axes[1].set_xlabel("minutes after the first export")
    for ax in axes[:2]:
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel(f"success, {len(seeds)} held-out seeds, no corrections")
    steps = np.cumsum([h["steps"] for h in hil])
    axes[2].plot(steps, rolling([h["intervention_rate"] for h in hil], 10), label="intervention rate (last 10)")
    axes[2].plot(steps, rolling([h["success"] for h in hil], 10), label="success with corrections (last 10)")
    axes[2].set_xlabel("HIL environment steps")
    axes[2].set_ylim(-0.05, 1.05)
    axes[2].legend(fontsize=8)
    fig.suptitle(f"robot-rl session {root}: {cfg.task}, pixels + proprio at {cfg.rate_hz:g} Hz, through ROS 2")
    fig.tight_layout()
    fig.savefig(root / "curve.png", dpi=80)
    print(f"wrote {root / 'curve.json'} and {root / 'curve.png'}")


if __name__ == "__main__":
    main()
