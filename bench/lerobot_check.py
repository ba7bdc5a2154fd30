"""LeRobot interop, checked with LeRobot's own code, and recording cost against LeRobot's writer.

LeRobot pins a torch older than ours, so it lives in a virtual environment of its own that this
script makes (bench/.cache/lerobot-venv, `pip install lerobot==VERSION`; ignored by git) and runs
child scripts in. Three parts, each printing one JSON line and a summary:

  export  our store -> `robot-rl data export-lerobot` -> LeRobot's LeRobotDataset loads it and
          iterates every frame: states and actions must equal the store's, frames are scored by PSNR
  import  LeRobot's writer makes a dataset (LeRobotDataset.create / add_frame / save_episode)
          -> `import-lerobot` -> our store: states, actions, tasks and lengths equal, frames by PSNR
  record  the same episode, two 640x480 cameras at 30 fps + proprio for --seconds, paced in real
          time (a writer whose add/append call blocks falls behind real time; achieved_fps says how
          far it kept up),
          recorded by LeRobot's writer (its recording defaults: 4 image-writer threads per camera,
          AV1) and by our StoreWriter (zstd and jpeg): CPU seconds, time from the last frame to
          readable, bytes on disk, and LeRobot's over ours

    python bench/lerobot_check.py [--seconds 300] [--parts export,import,record] [--lerobot lerobot==0.4.4]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from sim_frames import render_frames  # noqa: E402

from robot_rl.store import EpisodeStore, StepSpec, StoreSpec, StoreWriter, StreamSpec  # noqa: E402
from robot_rl.store.info import dir_size  # noqa: E402
from robot_rl.store.lerobot import export_lerobot, import_lerobot  # noqa: E402
from robot_rl.store.schema import RobotDescription  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent
FPS = 30

CHILD_LOAD = r"""
import json, sys, time, numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset
root, ref = sys.argv[1], np.load(sys.argv[2])
t0 = time.monotonic()
ds = LeRobotDataset("robot_rl/export", root=root, video_backend="pyav")
cams = [k for k in ds.meta.video_keys]
bad, scores = 0, []
for i in range(len(ds)):
    item = ds[i]
    bad += not (np.array_equal(item["observation.state"].numpy(), ref["state"][i])
                and np.array_equal(item["action"].numpy(), ref["action"][i]))
    for cam in cams:
        img = (item[cam].numpy().transpose(1, 2, 0) * 255).round().clip(0, 255)
        mse = float(np.mean((img - ref[cam.split(".")[-1]][i].astype(np.float64)) ** 2))
        scores.append(99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse))
print(json.dumps({"frames": len(ds), "episodes": ds.meta.total_episodes, "cameras": cams, "state_action_mismatches": bad,
                  "psnr_mean": float(np.mean(scores)), "psnr_min": float(np.min(scores)),
                  "seconds": time.monotonic() - t0}))
"""

CHILD_CREATE = r"""
import json, sys, numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset
root, src = sys.argv[1], np.load(sys.argv[2])
h, w = src["front"].shape[1:3]
features = {"observation.state": {"dtype": "float32", "shape": (6,), "names": None},
            "action": {"dtype": "float32", "shape": (4,), "names": None},
            "observation.images.front": {"dtype": "video", "shape": (h, w, 3), "names": ["height", "width", "channels"]}}
ds = LeRobotDataset.create("robot_rl/made_by_lerobot", fps=10, features=features, root=root, robot_type="sim")
for e, (a, b) in enumerate(src["bounds"]):
    for i in range(a, b):
        ds.add_frame({"observation.state": src["state"][i], "action": src["action"][i],
                      "observation.images.front": src["front"][i], "task": str(src["tasks"][e])})
    ds.save_episode()
ds.finalize()
print(json.dumps({"episodes": len(src["bounds"])}))
"""

CHILD_RECORD = r"""
import json, resource, sys, time, numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset
root, src, seconds = sys.argv[1], np.load(sys.argv[2]), float(sys.argv[3])
h, w = src["scene"].shape[1:3]
features = {"observation.state": {"dtype": "float32", "shape": (14,), "names": None},
            "action": {"dtype": "float32", "shape": (7,), "names": None}}
for cam in ("scene", "wrist"):
    features[f"observation.images.{cam}"] = {"dtype": "video", "shape": (h, w, 3), "names": ["height", "width", "channels"]}
ds = LeRobotDataset.create("robot_rl/record_bench", fps=30, features=features, root=root, robot_type="sim",
                           image_writer_threads=4 * 2)
rng = np.random.default_rng(0)
cpu0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
n = int(seconds * 30)
for i in range(n):
    k = i % len(src["scene"])
    ds.add_frame({"observation.state": rng.normal(size=14).astype(np.float32),
                  "action": rng.normal(size=7).astype(np.float32),
                  "observation.images.scene": src["scene"][k], "observation.images.wrist": src["wrist"][k], "task": "bench"})
    time.sleep(max(0.0, (i + 1) / 30 - (time.monotonic() - t0)))
end = time.monotonic()
ds.save_episode()
ds.finalize()
readable = time.monotonic()
cpu1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
print(json.dumps({"frames": n, "cpu_s": cpu, "end_to_readable_s": readable - end, "record_wall_s": end - t0,
                  "achieved_fps": n / (end - t0)}))
"""


def ensure_venv(venv: pathlib.Path, requirement: str) -> pathlib.Path:
    py = venv / "bin" / "python"
    if not (venv / ".installed").exists():
        t0 = time.monotonic()
        print(f"making {venv} with {requirement} (once; several minutes: LeRobot brings its own torch)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", requirement], check=True)
        (venv / ".installed").write_text(requirement)
        print(f"  installed in {time.monotonic() - t0:.0f} s", flush=True)
    return py


def child(py: pathlib.Path, code: str, *args: str) -> dict:
    res = subprocess.run([str(py), "-c", code, *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"LeRobot child failed (exit {res.returncode}):\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def part_export(py: pathlib.Path, tmp: pathlib.Path, frames: dict) -> dict:
    """A store of 3 episodes (two 320x240 cameras, 10 Hz) -> export -> LeRobot loads every frame."""
    import cv2
    small = {c: np.stack([cv2.resize(f, (320, 240), interpolation=cv2.INTER_AREA) for f in frames[f"{c}_rgb"]])
             for c in ("scene", "wrist")}
    spec = StoreSpec(streams=[StreamSpec(name=c, kind="rgb", shape=[240, 320, 3], dtype="uint8", rate_hz=10)
                              for c in small], steps=StepSpec(obs_dim=9, action_dim=4),
                     robot=RobotDescription(name="sim", control_rate_hz=10))
    rng = np.random.default_rng(1)
    ref: dict[str, list] = {"state": [], "action": [], "scene": [], "wrist": []}
    store = tmp / "export_src.zarr"
    with StoreWriter(store, spec) as w:
        for e in range(3):
            w.begin_episode(task=["pick", "place", "pick"][e])
            for i in range(60):
                k = (e * 40 + i) % len(small["scene"])
                idx = {c: w.append(c, small[c][k], sensor_ns=10**18 + (e * 100 + i) * 10**8) for c in small}
                s, a = rng.normal(size=9).astype(np.float32), rng.uniform(-1, 1, 4).astype(np.float32)
                w.append_step(s, a, intervention=True, human_action=a, sample_index=idx, t_ns=10**18 + (e * 100 + i) * 10**8)
                ref["state"].append(s), ref["action"].append(a)
                for c in small:
                    ref[c].append(small[c][k])
            w.end_episode(success=True)
    out = tmp / "exported"
    summary = export_lerobot(EpisodeStore.open(store), out)
    np.savez(tmp / "ref.npz", **{k: np.stack(v) for k, v in ref.items()})
    res = child(py, CHILD_LOAD, str(out), str(tmp / "ref.npz"))
    res["export_s"], res["export_bytes"] = summary["seconds"], summary["bytes"]
    return res


def part_import(py: pathlib.Path, tmp: pathlib.Path, frames: dict) -> dict:
    """LeRobot's writer makes 2 episodes -> import-lerobot -> compare with what was written."""
    import cv2
    rng = np.random.default_rng(2)
    front = np.stack([cv2.resize(f, (320, 240), interpolation=cv2.INTER_AREA) for f in frames["scene_rgb"][:80]])
    src = {"front": front, "state": rng.normal(size=(80, 6)).astype(np.float32),
           "action": rng.uniform(-1, 1, (80, 4)).astype(np.float32), "bounds": np.array([[0, 35], [35, 80]]),
           "tasks": np.array(["open the drawer", "close the drawer"])}
    np.savez(tmp / "src.npz", **src)
    made = tmp / "made_by_lerobot"
    child(py, CHILD_CREATE, str(made), str(tmp / "src.npz"))
    t0 = time.monotonic()
    res = import_lerobot(made, tmp / "imported.zarr")
    store = EpisodeStore.open(tmp / "imported.zarr")
    bad, scores = 0, []
    for ep, (a, b), task in zip(store.episodes(), src["bounds"], src["tasks"]):
        steps = store.read_steps(ep)
        bad += ep.task != task or ep.num_steps != b - a or not np.array_equal(steps["obs"], src["state"][a:b]) \
            or not np.array_equal(steps["executed_action"], src["action"][a:b]) or not steps["intervention"].all()
        got = store.read_samples("front", steps["sample_index"]["front"])
        scores += [psnr(x, y) for x, y in zip(got, front[a:b])]
    return {"episodes": res["episodes"], "frames": res["frames"], "mismatched_episodes": int(bad),
            "psnr_mean": float(np.mean(scores)), "psnr_min": float(np.min(scores)), "import_s": time.monotonic() - t0}


def ours(tmp: pathlib.Path, frames: dict, seconds: float, codec: str) -> dict:
    h, w = frames["scene_rgb"].shape[1:3]
    spec = StoreSpec(streams=[StreamSpec(name=c, kind="rgb", shape=[h, w, 3], dtype="uint8", rate_hz=FPS, codec=codec,
                                         level=90 if codec == "jpeg" else 3) for c in ("scene", "wrist")],
                     steps=StepSpec(obs_dim=14, action_dim=7), robot=RobotDescription(name="sim", control_rate_hz=FPS))
    path = tmp / f"ours_{codec}.zarr"
    rng = np.random.default_rng(0)
    cpu0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    with StoreWriter(path, spec) as wr:
        wr.begin_episode(task="bench")
        n = int(seconds * FPS)
        for i in range(n):
            k = i % len(frames["scene_rgb"])
            t = time.time_ns()
            idx = {c: wr.append(c, frames[f"{c}_rgb"][k], sensor_ns=t) for c in ("scene", "wrist")}
            wr.append_step(rng.normal(size=14), rng.normal(size=7), sample_index=idx, t_ns=t)
            time.sleep(max(0.0, (i + 1) / FPS - (time.monotonic() - t0)))
        end = time.monotonic()
        wr.end_episode(success=True)   # returns once committed: readable
        readable = time.monotonic()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"frames": n, "cpu_s": cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime,
            "end_to_readable_s": readable - end, "record_wall_s": end - t0, "achieved_fps": n / (end - t0),
            "dropped": wr.stats.dropped, "bytes": dir_size(path)}


def part_record(py: pathlib.Path, tmp: pathlib.Path, frames: dict, seconds: float) -> dict:
    np.savez(tmp / "rec.npz", scene=frames["scene_rgb"], wrist=frames["wrist_rgb"])
    lerobot = child(py, CHILD_RECORD, str(tmp / "lerobot_rec"), str(tmp / "rec.npz"), str(seconds))
    lerobot["bytes"] = dir_size(tmp / "lerobot_rec")
    out = {"seconds": seconds, "lerobot": lerobot}
    for codec in ("zstd", "jpeg"):
        mine = ours(tmp, frames, seconds, codec)
        out[f"ours_{codec}"] = mine
        out[f"lerobot_over_ours_{codec}"] = {k: lerobot[k] / max(mine[k], 1e-9)
                                             for k in ("cpu_s", "end_to_readable_s", "bytes")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=300.0, help="length of the recorded episode (default 300)")
    ap.add_argument("--parts", default="export,import,record")
    ap.add_argument("--lerobot", default="lerobot==0.4.4", help="what pip installs into the venv (0.4.4: the newest "
                    "release for Python 3.11)")
    ap.add_argument("--venv", type=pathlib.Path, default=ROOT / ".cache" / "lerobot-venv")
    args = ap.parse_args()
    py = ensure_venv(args.venv, args.lerobot)
    version = subprocess.run([str(py), "-c", "import lerobot; print(lerobot.__version__)"], capture_output=True,
                             text=True).stdout.strip()
    frames = render_frames()
    with tempfile.TemporaryDirectory(dir=ROOT / ".cache") as d:
        tmp = pathlib.Path(d)
        for part in args.parts.split(","):
            t0 = time.monotonic()
            res = {"export": lambda: part_export(py, tmp, frames), "import": lambda: part_import(py, tmp, frames),
                   "record": lambda: part_record(py, tmp, frames, args.seconds)}[part]()
            res.update({"part": part, "lerobot_version": version, "wall_s": time.monotonic() - t0})
            print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
