"""Store write benchmark: two RGB 640x480 cameras at 30 fps, one 640x480 depth at 30 fps and
proprioception at 500 Hz, appended in real time (paced by the wall clock, as a recorder would)
for --duration seconds, then committed. Run once per colour codec.

Prints: frames dropped (target 0), writer CPU in cores (target <= 1), MB per minute and the colour
streams' size against raw (targets: lossless <= 1/2, lossy <= 1/10), and commit latency after the
last sample (target <= 1 s).

    python bench/store_write.py --duration 300 --codec zstd --codec jpeg
"""
from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from sim_frames import render_frames  # noqa: E402

from robot_rl.store import StepSpec, StoreSpec, StoreWriter, StreamSpec  # noqa: E402
from robot_rl.store.info import dir_size  # noqa: E402

H, W = 480, 640
JOINTS = 14  # position + velocity of a 7-dof arm


def spec_for(codec: str, level: int) -> StoreSpec:
    return StoreSpec(
        streams=[StreamSpec(name="scene_rgb", kind="rgb", shape=[H, W, 3], dtype="uint8", rate_hz=30, codec=codec, level=level),
                 StreamSpec(name="wrist_rgb", kind="rgb", shape=[H, W, 3], dtype="uint8", rate_hz=30, codec=codec, level=level),
                 StreamSpec(name="scene_depth", kind="depth", shape=[H, W], dtype="uint16", rate_hz=30, units="mm",
                            codec="zstd", level=3),
                 StreamSpec(name="joints", kind="vector", shape=[JOINTS], dtype="float32", rate_hz=500)],
        steps=StepSpec(obs_dim=JOINTS, action_dim=7))


def run(codec: str, level: int, duration: float, frames: dict, root: pathlib.Path) -> dict:
    path = root / f"bench_{codec}.zarr"
    shutil.rmtree(path, ignore_errors=True)
    writer = StoreWriter(path, spec_for(codec, level))
    n_frames = len(frames["scene_rgb"])
    counts = {"frames": 0, "joints": 0, "steps": 0, "late_ticks": 0}
    producer_cpu = [0.0]

    def produce() -> None:
        """A recorder's callbacks, paced by the wall clock: 30 Hz cameras, 500 Hz joints, 30 Hz steps."""
        t_cpu = time.thread_time()
        start = time.monotonic()
        next_cam, next_joint = 0, 0
        cam_idx = joint_idx = 0
        rng = np.random.default_rng(0)
        while True:
            now = time.monotonic() - start
            if now >= duration:
                break
            while next_joint * 0.002 <= now:
                q = np.concatenate([frames["qpos"][cam_idx % n_frames], np.zeros(JOINTS - 3)]).astype(np.float32)
                joint_idx = writer.append("joints", q + rng.normal(0, 1e-3, JOINTS).astype(np.float32),
                                          sensor_ns=time.time_ns())
                next_joint += 1
                counts["joints"] += 1
            if next_cam / 30.0 <= now:
                if now - next_cam / 30.0 > 1 / 30.0:
                    counts["late_ticks"] += 1
                k = next_cam % n_frames
                t = time.time_ns()
                a = writer.append("scene_rgb", frames["scene_rgb"][k], sensor_ns=t)
                b = writer.append("wrist_rgb", frames["wrist_rgb"][k], sensor_ns=t)
                c = writer.append("scene_depth", frames["scene_depth"][k], sensor_ns=t)
                writer.append_step(np.zeros(JOINTS, np.float32), np.zeros(7, np.float32),
                                   sample_index={"scene_rgb": a, "wrist_rgb": b, "scene_depth": c, "joints": joint_idx})
                next_cam += 1
                cam_idx += 1
                counts["frames"] += 3
                counts["steps"] += 1
            time.sleep(max(0.0, min(next_joint * 0.002, next_cam / 30.0) - (time.monotonic() - start)))
        producer_cpu[0] = time.thread_time() - t_cpu

    writer.begin_episode(task="bench")
    cpu0, wall0 = time.process_time(), time.monotonic()
    thread = threading.Thread(target=produce)
    thread.start()
    last_report = time.monotonic()
    while thread.is_alive():
        thread.join(timeout=1.0)
        if time.monotonic() - last_report >= 30:
            last_report = time.monotonic()
            s = writer.stats
            print(f"  [{codec}] {time.monotonic() - wall0:5.0f} s: {counts['frames']} frames, queue peak "
                  f"{s.queue_peak_mb:.0f} MB, blocked {s.blocked}, dropped {s.dropped}", flush=True)
    res = writer.end_episode(success=True)
    wall = time.monotonic() - wall0
    cpu = time.process_time() - cpu0
    stats = writer.stats
    writer.close()
    color_raw = 2 * res.samples["scene_rgb"] * H * W * 3
    color_disk = dir_size(path / "streams/scene_rgb") + dir_size(path / "streams/wrist_rgb")
    depth_raw = res.samples["scene_depth"] * H * W * 2
    depth_disk = dir_size(path / "streams/scene_depth")
    total_disk = dir_size(path)
    total_raw = stats.raw_mb * 1e6
    expected_frames = counts["frames"]
    stored_frames = res.samples["scene_rgb"] + res.samples["wrist_rgb"] + res.samples["scene_depth"]
    out = {
        "codec": codec if codec != "jpeg" else f"jpeg q{level}",
        "duration_s": round(wall, 1),
        "frames_appended": expected_frames, "frames_stored": stored_frames,
        "frames_dropped": stats.dropped + (expected_frames - stored_frames),
        "joint_samples": res.samples["joints"], "steps": res.steps,
        "late_camera_ticks": counts["late_ticks"],
        "writer_cpu_cores": round((cpu - producer_cpu[0]) / wall, 3),
        "producer_cpu_cores": round(producer_cpu[0] / wall, 3),
        "queue_peak_mb": round(stats.queue_peak_mb, 1), "blocked": stats.blocked,
        "mb_per_min_total": round(total_disk / 1e6 / (wall / 60), 1),
        "mb_per_min_raw": round(total_raw / 1e6 / (wall / 60), 1),
        "color_size_vs_raw": round(color_disk / color_raw, 4),
        "depth_size_vs_raw": round(depth_disk / depth_raw, 4),
        "commit_latency_s": round(res.latency_s, 3),
        "durable_records": stats.durable_records, "shard_writes": stats.shard_writes,
    }
    shutil.rmtree(path, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=300.0, help="seconds of recording per codec (default 300)")
    ap.add_argument("--codec", action="append", choices=["zstd", "lz4", "none", "jpeg"],
                    help="colour codec(s) to run (default: zstd and jpeg)")
    ap.add_argument("--jpeg-quality", type=int, default=90)
    ap.add_argument("--dir", type=pathlib.Path, default=None, help="where to write (default: a temp dir on this disk)")
    args = ap.parse_args()
    frames = render_frames(150)
    root = args.dir or pathlib.Path(tempfile.mkdtemp(prefix="store_bench_", dir=pathlib.Path.cwd()))
    root.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for codec in args.codec or ["zstd", "jpeg"]:
            print(f"recording {args.duration:g} s with colour codec {codec} ...", flush=True)
            r = run(codec, args.jpeg_quality if codec == "jpeg" else 3, args.duration, frames, root)
            results.append(r)
            print(json.dumps(r), flush=True)
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
    print("\ncodec          dropped  writer cores  MB/min (raw)   colour/raw  depth/raw  commit s")
    for r in results:
        print(f"{r['codec']:<14} {r['frames_dropped']:>7}  {r['writer_cpu_cores']:>12.2f}  "
              f"{r['mb_per_min_total']:>6.0f} ({r['mb_per_min_raw']:.0f})  {r['color_size_vs_raw']:>10.3f}  "
              f"{r['depth_size_vs_raw']:>9.3f}  {r['commit_latency_s']:>8.3f}")


if __name__ == "__main__":
    main()
