"""How right the learner's grasp labels are (robot_rl.tasks.grasp), against the simulator's truth.

`grasp_offsets` labels the steps of a successful episode with where the gripper closed for the last
time: where the cube was, if nothing moved it before. This replays each successful pick_cube
episode of a store in the simulator (the sim is deterministic given the seed in the episode's notes
and the recorded commands) and measures, at every step up to that last close, the horizontal
distance between the labelled grasp position and where the cube really was at that step. Two
labellings: every step (what grasp_offsets did first) and the final attempt only (what it does
now: steps before the re-open after the previous close are left unlabelled).

    python bench/learning.py rlpd ... --keep-stores DIR     # keeps each seed's store
    python bench/grasp_labels.py DIR/seed0.zarr [--skip-first 10]

--skip-first skips the scripted demonstrations at the head of the store (they grasp once, at the
cube's centre). Prints per labelling: labelled steps, median / p90 error, the share over 3 cm.
"""
from __future__ import annotations

import argparse
import pathlib

import numpy as np


def replay_errors(store_path: pathlib.Path, skip_first: int) -> dict[str, list[float]]:
    from robot_rl import sim
    from robot_rl.store import EpisodeStore
    from robot_rl.robot.features import ProprioLayout
    from robot_rl.tasks.grasp import grasp_offsets, gripper_closes

    store = EpisodeStore.open(store_path)
    env = sim.make("pick_cube", image_size=[32, 32], control_hz=10.0)
    errors: dict[str, list[float]] = {"every step": [], "final attempt": []}
    episodes = 0
    for ep in store.episodes(status="complete", success=True):
        if ep.index < skip_first:
            continue
        steps = store.read_steps(ep, ["obs", "executed_action"])
        obs, action = steps["obs"], steps["executed_action"]
        if not np.isfinite(action).all():
            continue   # held steps: the replay would not follow the recording
        offsets = grasp_offsets(obs, action, success=True)
        known = np.isfinite(offsets).all(axis=1)
        if not known.any():
            continue
        ee = obs[:, ProprioLayout.of_dim(obs.shape[1]).ee_pos]
        grasp = ee[known][0] + offsets[known][0, :3]
        last_close = int(gripper_closes(action)[-1])
        _, info = env.reset(seed=int(ep.notes.split()[-1]))   # "sim seed N" (robot_rl.sim.rollout)
        cubes = [info["state"]["cube_pos"].copy()]
        for a in action[:last_close]:
            _, _, _, _, info = env.step(a)
            cubes.append(info["state"]["cube_pos"].copy())
        if np.abs(env.ee_pose()[0] - ee[last_close]).max() > 1e-4:
            raise SystemExit(f"episode {ep.index}: the replay left the recording; is this a pick_cube sim store?")
        miss = 100 * np.linalg.norm(np.asarray(cubes[:last_close + 1])[:, :2] - grasp[:2], axis=1)
        errors["every step"].extend(miss)
        errors["final attempt"].extend(miss[known[:last_close + 1]])
        episodes += 1
    env.close()
    print(f"{store_path}: {episodes} successful episodes replayed")
    return errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stores", type=pathlib.Path, nargs="+")
    ap.add_argument("--skip-first", type=int, default=10, help="episodes at the store's head to skip (the demos)")
    args = ap.parse_args()
    for path in args.stores:
        for name, e in replay_errors(path, args.skip_first).items():
            e = np.asarray(e)
            if len(e):
                print(f"  {name:14s}: {len(e):5d} labelled steps, label - true cube {np.median(e):.2f} cm median, "
                      f"{np.percentile(e, 90):.2f} cm p90, {np.mean(e > 3):.0%} over 3 cm")


if __name__ == "__main__":
    main()
