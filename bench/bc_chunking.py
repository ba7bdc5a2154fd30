"""Does action chunking help behavior cloning here? BC from scripted demonstrations on the simulator
(two cameras + proprio at 10 Hz, CNN), with one action per step and with chunks of K actions
executed as ACT's temporal ensemble; each policy is exported through the registry and evaluated
in onnxruntime through the control node's safety layer on held-out seeds (what a session's eval
stage does).

    python bench/bc_chunking.py --seeds 0 1 2 --chunks 1 4 8 --demos 10 --bc-steps 1000

Prints a line per policy and a summary; writes JSON and a PNG bar chart to --out.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import tempfile
import time

import numpy as np


def run_seed(args, seed: int, work: pathlib.Path) -> list[dict]:
    from robot_rl import sim
    from robot_rl.learn.bc import train_bc
    from robot_rl.learn.config import BCConfig
    from robot_rl.policy.export import export
    from robot_rl.policy.registry import PolicyRegistry
    from robot_rl.session.evaluate import evaluate_policy
    from robot_rl.sim.experts import make_expert
    from robot_rl.sim.rollout import rollout, sim_store_spec
    from robot_rl.store import EpisodeStore
    from robot_rl.store.writer import StoreWriter

    env = sim.make(args.task, image_size=[args.image_size, args.image_size], control_hz=10.0)
    store = work / f"seed{seed}.zarr"
    t0 = time.monotonic()
    with StoreWriter(store, sim_store_spec(env)) as w:
        demos = [rollout(env, w, 10_000 * (seed + 1) + i, operator=make_expert(env, seed=seed * 100 + i))
                 for i in range(args.demos)]
    env.close()
    print(f"[seed {seed}] {args.demos} demos ({sum(d['success'] for d in demos)} successes) in "
          f"{time.monotonic() - t0:.0f} s", flush=True)
    eval_seeds = [100_000 + 1000 * seed + i for i in range(args.eval_episodes)]
    out = []
    for chunk in args.chunks:
        t1 = time.monotonic()
        model, pcfg, report = train_bc(EpisodeStore.open(store), BCConfig(
            kind="cnn", steps=args.bc_steps, batch=64, seed=seed, chunk=chunk, chunk_decay=args.decay,
            threads=args.threads))
        meta = pcfg.metadata(f"bc{chunk}_seed{seed}")
        data, err = export(model, meta)
        path = PolicyRegistry(work / "policies").publish(data, meta)
        ev = evaluate_policy(path, args.task, eval_seeds, image_size=args.image_size)
        r = {"seed": seed, "chunk": chunk, "success": ev["success_rate"], "mean_steps": float(np.mean(ev["steps"])),
             "bc_loss_last": report["loss_last"], "train_s": report["seconds"],
             "wall_s": round(time.monotonic() - t1, 1), "parity": err}
        out.append(r)
        print(f"[seed {seed}] chunk {chunk}: success {r['success']:.0%} on {len(eval_seeds)} held-out seeds, "
              f"mean episode {r['mean_steps']:.0f} steps; BC loss {r['bc_loss_last']:.4f}, "
              f"trained in {r['train_s']:.0f} s", flush=True)
    return out


def plot(results: list[dict], args, path: pathlib.Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    width = 0.8 / len(args.seeds)
    x = np.arange(len(args.chunks))
    for i, seed in enumerate(args.seeds):
        ys = [next(r["success"] for r in results if r["seed"] == seed and r["chunk"] == c) for c in args.chunks]
        ax.bar(x + (i - (len(args.seeds) - 1) / 2) * width, ys, width, label=f"seed {seed}")
    means = [np.mean([r["success"] for r in results if r["chunk"] == c]) for c in args.chunks]
    ax.plot(x, means, "k_", markersize=30, mew=2, label="mean")
    ax.set_xticks(x, [f"chunk {c}" for c in args.chunks])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(f"success on {args.eval_episodes} held-out seeds")
    ax.set_title(f"BC on {args.task}, {args.demos} demos, {args.bc_steps} steps")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="pick_cube")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--chunks", type=int, nargs="+", default=[1, 4, 8], help="chunk sizes to compare (1: none)")
    ap.add_argument("--decay", type=float, default=0.01, help="temporal ensembling decay (ACT's m)")
    ap.add_argument("--demos", type=int, default=10)
    ap.add_argument("--bc-steps", type=int, default=1000)
    ap.add_argument("--eval-episodes", type=int, default=20)
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("bench/results"))
    ap.add_argument("--tag", default="", help="suffix of the result files: bc_chunking[_<tag>].{json,png}")
    args = ap.parse_args()
    if min(args.chunks) < 1:
        ap.error("chunk sizes must be >= 1")
    results = []
    stem = "bc_chunking" + (f"_{args.tag}" if args.tag else "")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        for seed in args.seeds:
            results += run_seed(args, seed, pathlib.Path(d))
            (args.out / f"{stem}.json").write_text(json.dumps({"args": vars(args) | {"out": str(args.out)},
                                                               "results": results}, indent=1))
    plot(results, args, args.out / f"{stem}.png")
    for c in args.chunks:
        rs = [r["success"] for r in results if r["chunk"] == c]
        print(f"chunk {c}: success {', '.join(f'{s:.0%}' for s in rs)} (mean {np.mean(rs):.0%})")
    print(f"results: {args.out / (stem + '.json')}, plot: {args.out / (stem + '.png')}")


if __name__ == "__main__":
    main()
