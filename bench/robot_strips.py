"""Each robot doing pick_cube with the scripted expert through the control step: a PNG strip per
robot (front camera over wrist camera at the policies' 128x128, 8 moments of the episode) for docs/SIM.md, and per robot
the expert's success over seeds, steps, and the time to step and render.

    python bench/robot_strips.py                       # every builtin robot, strips to docs/img
    python bench/robot_strips.py --robots panda --seeds 20 --out /tmp/strips
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    from robot_rl import robot, sim
    from robot_rl.sim.control_loop import SimControlLoop
    from robot_rl.sim.experts import make_expert

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--robots", nargs="*", default=robot.builtin_names())
    p.add_argument("--task", default="pick_cube")
    p.add_argument("--seeds", type=int, default=10, help="expert episodes per robot for the success figure")
    p.add_argument("--out", type=pathlib.Path, default=REPO / "docs" / "img")
    args = p.parse_args()
    import cv2
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.robots:
        env = sim.make(args.task, robot=name, cameras=["front", "wrist"], image_size=[128, 128])
        loop = SimControlLoop(env)
        ok, steps, t_step = 0, [], []
        for seed in range(args.seeds):
            obs, info = loop.reset(seed)
            expert = make_expert(env, seed=seed)
            frames, done = [np.vstack([obs["front"], obs["wrist"]])], False
            while not done:
                t0 = time.perf_counter()
                _, obs, _, term, trunc, info = loop.step(obs, human_action=expert.act(obs, info))
                t_step.append(time.perf_counter() - t0)
                done = term or trunc
                frames.append(np.vstack([obs["front"], obs["wrist"]]))
            ok += bool(info["success"])
            steps.append(env.steps)
            if seed == 0:
                picks = np.linspace(0, len(frames) - 1, 8).round().astype(int)
                path = args.out / f"robot_{name}.png"
                cv2.imwrite(str(path), np.hstack([frames[i] for i in picks])[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
        env.close()
        print(f"{name}: expert {ok}/{args.seeds} on {args.task}, {np.mean(steps):.0f} steps per episode, "
              f"{1e3 * np.median(t_step):.1f} ms per step (physics + IK + two 128x128 cameras); strip {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
