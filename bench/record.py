"""Recording benchmark: the whole graph in separate processes. The sim robot (real time, proprio at
100 Hz, the scripted operator driving), two 640x480 cameras at 30 fps (camera nodes replaying
frames the simulator rendered, looped, reliable), the control node (teleop-only, 100 Hz) and the
recorder (lossless zstd images; episodes end on time, not on the operator's events). Prints, per stream, frames received vs published and drops; CPU
per node; and the time from each episode's end to its commit.

    python bench/record.py [--episodes 3] [--episode-s 10]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile
import threading
import time


from robot_rl.graph import GraphConfig, GraphRunner, NodeSpec
from robot_rl.store import EpisodeStore, StepSpec, StoreSpec, StoreWriter, StreamSpec

CLK = os.sysconf("SC_CLK_TCK")


def rendered_frames(path: pathlib.Path, frames: int = 30) -> None:
    """A store of 640x480 frames the simulator renders while the expert works (realistic content)."""
    from robot_rl.sim.env import RobotEnv, SimConfig
    from robot_rl.sim.experts import make_expert

    env = RobotEnv(SimConfig(task="pick_cube", cameras=[]))
    expert = make_expert(env)
    obs, info = env.reset(seed=0)
    spec = StoreSpec(streams=[StreamSpec(name="front_rgb", kind="rgb", shape=[480, 640, 3], dtype="uint8", rate_hz=30)],
                     steps=StepSpec())
    w = StoreWriter(path, spec)
    w.begin_episode(task="bench source")
    for i in range(frames):
        w.append("front_rgb", env.render_camera("front", (480, 640)), sensor_ns=i * 33_333_333)
        obs, _, _, _, info = env.step(expert.act(obs, info))
    w.end_episode()
    w.close()
    env.close()


def cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except FileNotFoundError:
        return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=3)
    ap.add_argument("--episode-s", type=float, default=10.0)
    args = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench_record_"))
    print(f"rendering source frames into {tmp / 'src.zarr'} ...", flush=True)
    rendered_frames(tmp / "src.zarr")
    report = tmp / "recorder.json"
    cam = {"backend": "replay", "store": str(tmp / "src.zarr"), "stream": "front_rgb", "loop": True, "reliable": True}
    graph = GraphConfig(name="bench_record", nodes=[
        NodeSpec(name="sim", module="sim_robot", parameters={"mode": "realtime", "control_hz": 100.0,
                                                             "physics_hz": 500.0, "cameras": "", "operator": "expert"}),
        NodeSpec(name="cam_front", module="camera_node", parameters={**cam, "camera": "front"}),
        NodeSpec(name="cam_wrist", module="camera_node", parameters={**cam, "camera": "wrist"}),
        NodeSpec(name="control", module="control_node", parameters={"policy": "", "rate_hz": 100.0}),
        NodeSpec(name="recorder", module="recorder_node", parameters={
            "store": str(tmp / "out.zarr"), "cameras": "front,wrist", "image_width": 640, "image_height": 480,
            "camera_rate_hz": 30.0, "proprio_rate_hz": 100.0, "teleop_rate_hz": 100.0, "camera_qos": "reliable",
            "episodes": args.episodes, "max_episode_s": args.episode_s, "reset_wait_s": 1.0,
            "report_path": str(report), "task": "bench", "end_on_events": False, "control_rate_hz": 100.0}),
    ])
    log = open(tmp / "graph.log", "w")
    runner = GraphRunner(graph, out=log)
    t = threading.Thread(target=runner.run, daemon=True)
    t0 = time.monotonic()
    t.start()
    time.sleep(2.0)
    pids = {c.spec.name: c.proc.pid for c in runner.children if c.proc}
    start_cpu = {n: cpu_s(p) for n, p in pids.items()}
    last_cpu = dict(start_cpu)
    while t.is_alive():
        for n, p in pids.items():
            v = cpu_s(p)
            if v == v:  # not NaN: still running
                last_cpu[n] = v
        time.sleep(0.2)
    wall = time.monotonic() - t0 - 2.0
    rep = json.loads(report.read_text())
    out = EpisodeStore(tmp / "out.zarr")
    print(f"\n{len(rep['episodes'])} episodes of {args.episode_s:g} s, wall {wall:.1f} s (2 vCPU)")
    st = rep["status"]["streams"]
    for name, v in st.items():
        recorded = sum(e["samples"][name] for e in rep["episodes"])
        print(f"  {name:10s} received {v['total']:6d}  recorded {recorded:6d}  drops (stamp gaps) {v['drops']}  "
              f"refused {v['rejected']}")
    for name in ("front_rgb", "wrist_rgb"):
        for e in out.episodes():
            s = out.stamps(e, name, "receive")
            fps = (len(s) - 1) / ((s[-1] - s[0]) / 1e9)
            print(f"  episode {e.index} {name}: {len(s)} frames, {fps:.2f} fps")
    lat = [e["commit_latency_s"] for e in rep["episodes"]]
    print(f"  episode end -> committed: {', '.join(f'{x:.2f}' for x in lat)} s (max {max(lat):.2f})")
    print(f"  writer dropped samples: {rep['status']['dropped_samples']}, steps recorded per episode: "
          f"{[e['steps'] for e in rep['episodes']]}")
    print("  CPU per node (% of one core over the run):")
    for n in pids:
        print(f"    {n:10s} {100 * (last_cpu[n] - start_cpu[n]) / wall:5.1f} %")
    print(f"  store: {sum(f.stat().st_size for f in (tmp / 'out.zarr').rglob('*') if f.is_file()) / 1e6:.1f} MB on disk")


if __name__ == "__main__":
    sys.exit(main())
