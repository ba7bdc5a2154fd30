"""Export speed: `robot-rl data export-mcap` (per episode) and `export-lerobot` (all episodes) on a
store of rendered frames: two 640x480 cameras at 30 Hz, joints and the end-effector pose at 30 Hz,
one step per frame. Prints episodes per second, frames per second and MB per second (of the file
written, and of the store's raw frames read).

    python bench/store_export.py [--episodes 4] [--seconds 10]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from sim_frames import render_frames  # noqa: E402

from robot_rl.store import EpisodeStore, StepSpec, StoreSpec, StoreWriter, StreamSpec  # noqa: E402
from robot_rl.store.info import dir_size  # noqa: E402
from robot_rl.store.lerobot import export_lerobot  # noqa: E402
from robot_rl.store.mcap_export import POSE_FIELDS, export_mcap  # noqa: E402
from robot_rl.store.schema import RobotDescription  # noqa: E402

JOINTS = ["j1", "j2", "j3", "j4", "j5", "j6"]


def make_store(path: pathlib.Path, frames: dict, episodes: int, seconds: float) -> int:
    h, w = frames["scene_rgb"].shape[1:3]
    spec = StoreSpec(streams=[StreamSpec(name=f"{c}_rgb", kind="rgb", shape=[h, w, 3], dtype="uint8", rate_hz=30)
                              for c in ("scene", "wrist")]
                     + [StreamSpec(name="joints", shape=[12], rate_hz=30,
                                   fields=[f"q_{j}" for j in JOINTS] + [f"qd_{j}" for j in JOINTS]),
                        StreamSpec(name="ee_pose", shape=[7], rate_hz=30, fields=POSE_FIELDS)],
                     steps=StepSpec(obs_dim=17, action_dim=5),
                     robot=RobotDescription(name="sim", joint_names=JOINTS, control_rate_hz=30))
    rng = np.random.default_rng(0)
    n = int(seconds * 30)
    with StoreWriter(path, spec) as wr:
        for e in range(episodes):
            wr.begin_episode(task="bench")
            for i in range(n):
                t = 10**18 + (e * n + i) * 33_333_333
                k = (e * 17 + i) % len(frames["scene_rgb"])
                idx = {f"{c}_rgb": wr.append(f"{c}_rgb", frames[f"{c}_rgb"][k], sensor_ns=t) for c in ("scene", "wrist")}
                idx["joints"] = wr.append("joints", rng.normal(size=12), sensor_ns=t)
                idx["ee_pose"] = wr.append("ee_pose", [0.4, 0, 0.2, 0, 0, 0, 1], sensor_ns=t)
                wr.append_step(rng.normal(size=17), rng.uniform(-1, 1, 5), sample_index=idx, t_ns=t,
                               intervention=i % 50 < 20)
            wr.end_episode(success=True)
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each episode (default 10)")
    args = ap.parse_args()
    frames = render_frames()
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        n = make_store(tmp / "s.zarr", frames, args.episodes, args.seconds)
        store = EpisodeStore.open(tmp / "s.zarr")
        raw_mb = args.episodes * n * 2 * frames["scene_rgb"][0].nbytes / 1e6
        for raw in (False, True):
            t0, out_bytes = time.monotonic(), 0
            for e in range(args.episodes):
                out_bytes += export_mcap(store, e, tmp / f"e{e}.mcap", raw_images=raw)["bytes"]
            dt = time.monotonic() - t0
            print(json.dumps({"export": "mcap" + (" raw images" if raw else " jpeg"), "episodes": args.episodes,
                              "frames_per_episode": n, "seconds": dt, "episodes_per_s": args.episodes / dt,
                              "frames_per_s": args.episodes * n * 2 / dt, "out_mb": out_bytes / 1e6,
                              "out_mb_per_s": out_bytes / 1e6 / dt, "raw_frames_mb_per_s": raw_mb / dt}), flush=True)
        t0 = time.monotonic()
        res = export_lerobot(store, tmp / "lerobot", fps=30)
        dt = time.monotonic() - t0
        print(json.dumps({"export": "lerobot (h264 crf 18)", "episodes": res["episodes"], "frames_per_episode": n,
                          "seconds": dt, "episodes_per_s": res["episodes"] / dt, "frames_per_s": res["frames"] * 2 / dt,
                          "out_mb": dir_size(tmp / "lerobot") / 1e6, "out_mb_per_s": dir_size(tmp / "lerobot") / 1e6 / dt,
                          "raw_frames_mb_per_s": raw_mb / dt}), flush=True)


if __name__ == "__main__":
    main()
