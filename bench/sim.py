"""Simulator benchmark: physics steps/s, camera render fps (128x128 and 640x480), and the real-time
factor of the sim robot node (its own process, two 128x128 cameras) at 10 Hz and 30 Hz control.

Target on the 2-core machine: the sim node with two 128x128 cameras keeps real time at 30 Hz.

    python bench/sim.py [--node-seconds 20]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("MUJOCO_GL", "egl")  # before mujoco is imported: headless rendering

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from robot_rl import ros_env  # noqa: E402
from robot_rl.sim import make  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent


def physics_rate(task: str, seconds: float = 3.0) -> float:
    env = make(task, cameras=[])
    env.reset(seed=0)
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        mujoco.mj_step(env.model, env.data, nstep=500)
        n += 500
    return n / (time.perf_counter() - t0)


def control_rate(task: str, seconds: float = 3.0) -> float:
    """env.step() per second without cameras: IK + 50 physics steps at 10 Hz control."""
    env = make(task, cameras=[])
    env.reset(seed=0)
    n = 0
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    while time.perf_counter() - t0 < seconds:
        env.step(rng.uniform(-0.3, 0.3, 5))
        n += 1
    return n / (time.perf_counter() - t0)


def render_fps(size: tuple[int, int], frames: int = 100) -> float:
    env = make("pick_cube", cameras=[])
    env.reset(seed=0)
    env.render_camera("front", size)  # warm up: context and buffers
    t0 = time.perf_counter()
    for i in range(frames):
        env.render_camera("front" if i % 2 else "wrist", size)
    fps = frames / (time.perf_counter() - t0)
    env.close()
    return fps


def node_rtf(control_hz: float, seconds: float) -> dict:
    physics = 500.0 if 500 % control_hz == 0 else control_hz * np.ceil(500 / control_hz)
    with tempfile.TemporaryDirectory() as tmp:
        report = pathlib.Path(tmp) / "node.json"
        env = ros_env.ros_environment(domain_id=ros_env.random_domain_id())
        cmd = [sys.executable, "-m", "ros_nodes.sim_robot", "--ros-args", "-p", "mode:=realtime",
               "-p", f"control_hz:={control_hz}", "-p", f"physics_hz:={physics}", "-p", "cameras:=front,wrist",
               "-p", f"duration_s:={seconds}", "-p", f"report_path:={report}"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=seconds + 60)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        out = json.loads(report.read_text())
        return {"control_hz": control_hz, "physics_hz": physics, "seconds": seconds, "steps": out["steps"],
                "expected_steps": int(seconds * control_hz), "rtf": round(out["rtf"], 3),
                "step_ms": {k.replace("_us", ""): round(v / 1e3, 2) for k, v in out["step_time"].items()},
                "process_wall_s": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--node-seconds", type=float, default=20.0)
    args = ap.parse_args()
    res = {
        "physics_steps_per_s": {t: round(physics_rate(t)) for t in ("pick_cube", "peg_insert")},
        "env_steps_per_s_no_cameras_10hz": {t: round(control_rate(t), 1) for t in ("pick_cube", "peg_insert")},
        "render_fps_128x128": round(render_fps((128, 128)), 1),
        "render_fps_640x480": round(render_fps((480, 640), 40), 1),
        "node": [node_rtf(hz, args.node_seconds) for hz in (10.0, 30.0)],
    }
    print(json.dumps(res, indent=1))
    print("\nphysics steps/s: " + ", ".join(f"{k} {v:,}" for k, v in res["physics_steps_per_s"].items()))
    print(f"render: {res['render_fps_128x128']} fps at 128x128, {res['render_fps_640x480']} fps at 640x480")
    for n in res["node"]:
        print(f"sim node, two 128x128 cameras, {n['control_hz']:g} Hz control: real-time factor {n['rtf']:.3f} "
              f"({n['steps']} of {n['expected_steps']} steps in {n['seconds']:g} s)")


if __name__ == "__main__":
    main()
