"""How well an image encoder learns where the cube is from N demonstrations (issue #7, (a)).

(a)'s policies mostly fail by stopping a few centimetres beside the cube. This measures the
supervised half of that problem alone: an encoder (robot_rl.policy.models.ImageEncoder, frames
pooled to 64x64, DrQ shifts as the learner uses them) plus a small head learn the offset from the
gripper to the cube on the frames of N scripted demonstrations (before the lift), and are scored on
the expert's frames of 20 held-out layouts, binned by how far the gripper is from the cube. Inputs:
which cameras, whether proprio is read, and whether the offset is in the world's or the gripper's
(yaw) axes (what the grasp head's `cameras` and `options.frame` choose in the learner); the DrQ
shift the training frames get (`--pads`: the learner's `sac.augment_pad`) and the render's
multisampling (`--offsamples`).

    python bench/localization.py --demos 10 40 --inputs wrist:gripper front,wrist front,wrist,proprio
    python bench/localization.py --demos 10 40 --inputs front,wrist:gripper --pads 2 4 6 0
    python bench/localization.py --demos 10 --inputs front,wrist:gripper --offsamples 0 4 --seeds 0 1 2

Prints one line per (demos, inputs): median horizontal error on held-out frames per distance bin
and that of always predicting the training mean.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

BINS_CM = [(0, 2), (2, 5), (5, 10), (10, 40)]


def collect(env, seeds, make_expert):
    """Frames (pooled to 64x64), proprio and the cube - gripper offset on the expert's way to the grasp."""
    from robot_rl.policy.models import pool_frames
    frames: dict[str, list] = {"front": [], "wrist": []}
    proprio, offset = [], []
    for i, s in enumerate(seeds):
        obs, info = env.reset(seed=int(s))
        expert = make_expert(env, seed=i)
        expert.reset()
        cube = info["state"]["cube_pos"].copy()
        while True:
            for c in frames:
                frames[c].append(obs[c])
            proprio.append(obs["proprio"])
            offset.append(cube - obs["proprio"][env.layout.ee_pos])
            obs, _, term, trunc, info = env.step(expert.act(obs, info))
            if term or trunc or info["state"]["cube_pos"][2] > 0.03:   # lifted: the cube moves from here on
                break
    out = {c: pool_frames(torch.from_numpy(np.stack(v)), 2) for c, v in frames.items()}
    out["proprio"] = torch.from_numpy(np.stack(proprio)).float()
    out["offset"] = torch.from_numpy(np.stack(offset)).float()
    return out


def to_gripper(offset: torch.Tensor, proprio: torch.Tensor) -> torch.Tensor:
    """World-axes offsets into the gripper's yaw frame (the proprio's yaw column), as the grasp head turns them."""
    from robot_rl.robot.features import ProprioLayout
    from robot_rl.tasks.grasp_head import turn_xy
    return turn_xy(offset, -proprio[:, ProprioLayout.of_dim(proprio.shape[1]).ee_yaw])


def run(train, test, inputs: str, steps: int, seed: int, pad: int) -> str:
    from robot_rl.learn.augment import random_shift
    from robot_rl.learn.nets import mlp
    from robot_rl.policy.models import ImageEncoder

    names, _, frame = inputs.partition(":")
    parts = names.split(",")
    cams = [p for p in parts if p in ("front", "wrist")]
    gripper = frame == "gripper"
    torch.manual_seed(seed)
    enc = nn.ModuleDict({c: ImageEncoder((64, 64), 16, 64, 1) for c in cams})
    mean, std = train["proprio"].mean(0), train["proprio"].std(0).clamp_min(1e-3)
    head = mlp(64 * len(cams) + (train["proprio"].shape[1] if "proprio" in parts else 0), 3, [256])
    opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=3e-4)

    def features(d, idx, augment):
        f = [enc[c](random_shift(d[c][idx], pad) if augment else d[c][idx]) for c in cams]
        if "proprio" in parts:
            f.append((d["proprio"][idx] - mean) / std)
        return torch.cat(f, 1)

    def target(d, idx):
        return (to_gripper(d["offset"][idx], d["proprio"][idx]) if gripper else d["offset"][idx]) / 0.05
    n = len(train["offset"])
    for _ in range(steps):
        idx = torch.randint(0, n, (128,))
        loss = ((head(features(train, idx, True)) - target(train, idx)) ** 2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        idx = torch.arange(len(test["offset"]))
        err = 5.0 * (head(features(test, idx, False)) - target(test, idx))[:, :2].norm(dim=1)     # cm
        mean_err = 5.0 * (target(test, idx) - target(train, torch.arange(n)).mean(0))[:, :2].norm(dim=1)
    far = 100 * test["offset"][:, :2].norm(dim=1)
    cells = []
    for lo, hi in BINS_CM:
        m = (far >= lo) & (far < hi)
        cells.append(f"{lo}-{hi} cm: {float(err[m].median()):.1f} (mean {float(mean_err[m].median()):.1f})"
                     if m.any() else f"{lo}-{hi} cm: -")
    return " | ".join(cells)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demos", type=int, nargs="+", default=[10, 40])
    ap.add_argument("--inputs", nargs="+", default=["wrist:gripper", "wrist:world", "front,wrist:world",
                                                    "front,wrist,proprio:world"],
                    help="cameras (front, wrist) and proprio, comma-separated, then :world or :gripper axes")
    ap.add_argument("--pads", type=int, nargs="+", default=[4], help="DrQ shifts (pixels of the 64x64 frames) to compare")
    ap.add_argument("--steps", type=int, default=1500, help="gradient steps (the learner's actor pretraining: 1500)")
    ap.add_argument("--held-out", type=int, default=20)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="initialisation seeds of encoder and head")
    ap.add_argument("--offsamples", type=int, nargs="+", default=[None],
                    help="render with this many multisamples (the scene's default: none) and compare")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    from robot_rl import sim
    from robot_rl.sim.experts import make_expert
    torch.set_num_threads(args.threads)
    for samples in args.offsamples:
        env = sim.make("pick_cube", image_size=[128, 128], control_hz=10.0)
        if samples is not None:   # read when the renderer is made, at the first frame
            env.model.vis.quality.offsamples = samples
        test = collect(env, 100_000 + np.arange(args.held_out), make_expert)
        print(f"held-out: {args.held_out} layouts, {len(test['offset'])} expert frames"
              + ("" if samples is None else f", rendered with {samples} multisamples")
              + "; median horizontal error of the cube's position relative to the gripper (cm) by the gripper's "
                "distance from it", flush=True)
        for n in args.demos:
            train = collect(env, 10_000 + np.arange(n), make_expert)
            for inputs in args.inputs:
                for pad in args.pads:
                    for seed in args.seeds:
                        t0 = time.monotonic()
                        line = run(train, test, inputs, args.steps, seed, pad)
                        what = f"{inputs} pad {pad} seed {seed}"
                        print(f"{n:3d} demos ({len(train['offset'])} frames), {what:34s} {line}  "
                              f"[{time.monotonic() - t0:.0f} s]", flush=True)
        env.close()


if __name__ == "__main__":
    main()
