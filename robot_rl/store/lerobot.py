"""LeRobot v3.0 datasets in and out: `robot-rl data export-lerobot` and `import-lerobot`.

A LeRobot v3.0 dataset (docs/DATA_FORMAT.md, "LeRobot"):

    meta/info.json                    codebase_version "v3.0", fps, features, totals, path templates
    meta/tasks.parquet                task (index) -> task_index
    meta/stats.json                   per feature: min, max, mean, std, count, q01..q99
    meta/episodes/chunk-000/file-000.parquet   one row per episode: length, tasks, where its rows
                                      and videos are (data/*, videos/<key>/*, dataset_from/to_index)
    data/chunk-000/file-EEE.parquet   one row per frame
    videos/<key>/chunk-000/file-EEE.mp4

One store step is one LeRobot frame, at `timestamp` = frame_index / fps (LeRobot's loader finds a
frame's video picture by that time), so the store's steps are taken as evenly spaced at the
control rate. What LeRobot has no column for travels in `robot_rl.*` columns, so a store -> LeRobot
-> store round trip keeps stamps, interventions, holds and sample references exactly:
`robot_rl.t_ns` (the step's stamp), `robot_rl.sensor_ns.<camera>` (the capture stamp of the frame the
step used, -1 where it used none), `robot_rl.hold`, `robot_rl.policy_version`, and per episode
`robot_rl/status`, `robot_rl/success`, `robot_rl/notes`. Frames go through a lossy video codec
(H.264 by default): they come back within its tolerance, not bit for bit.

Each episode gets its own data file and video file (file index = episode index within a chunk of
1000), which the v3.0 layout allows; LeRobot's own writer packs several episodes per file.
"""
from __future__ import annotations

import json
import pathlib
import shutil
import time
from typing import Any, Callable, Optional

import numpy as np

from robot_rl.store.reader import EpisodeStore
from robot_rl.store.schema import RobotDescription, StepSpec, StoreError, StoreSpec, StreamSpec
from robot_rl.store.writer import StoreWriter

CODEBASE_VERSION = "v3.0"
CHUNK_SIZE = 1000
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"
IMAGE_PREFIX = "observation.images."
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
VIDEO_CODECS = {"h264": ("libx264", "h264"), "av1": ("libsvtav1", "av1")}


def _where(ep: int) -> tuple[int, int]:
    return ep // CHUNK_SIZE, ep % CHUNK_SIZE


def _stats(x: np.ndarray) -> dict[str, list]:
    """LeRobot's per-feature statistics over axis 0 (frames)."""
    x = np.asarray(x, dtype=np.float64)
    out = {"min": x.min(0), "max": x.max(0), "mean": x.mean(0), "std": x.std(0), "count": np.array([len(x)])}
    out.update({f"q{round(q * 100):02d}": np.quantile(x, q, axis=0) for q in QUANTILES})
    return {k: np.asarray(v).tolist() for k, v in out.items()}


def _image_stats(frames: list[np.ndarray]) -> dict[str, list]:
    """Per-channel statistics of [0, 1] pixels, shaped [3, 1, 1] as LeRobot keeps them (a
    subsample of at most 64 frames: statistics for normalization, not an exact census)."""
    pick = np.linspace(0, len(frames) - 1, min(len(frames), 64)).round().astype(int)
    px = np.concatenate([frames[i].reshape(-1, 3) for i in pick]).astype(np.float64) / 255.0
    s = _stats(px)
    s["count"] = [len(frames)]
    return {k: (np.asarray(v)[:, None, None].tolist() if k != "count" else v) for k, v in s.items()}


def _encode(frames: list[np.ndarray], path: pathlib.Path, fps: int, codec: str, crf: int) -> None:
    import av
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    if h % 2 or w % 2:
        raise StoreError(f"{path.name}: {w}x{h} frames; yuv420p video needs even width and height")
    with av.open(str(path), "w") as out:
        stream = out.add_stream(VIDEO_CODECS[codec][0], rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf)} if codec == "h264" else {"crf": str(crf), "preset": "8"}
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _decode(path: pathlib.Path, start_s: float, end_s: float, fps: int) -> list[np.ndarray]:
    """The RGB frames of [start_s, end_s) of a video file, by presentation time."""
    import av
    frames = []
    with av.open(str(path)) as src:
        stream = src.streams.video[0]
        for frame in src.decode(stream):
            t = float(frame.pts * stream.time_base) if frame.pts is not None else len(frames) / fps
            if t < start_s - 0.5 / fps:
                continue
            if t >= end_s - 0.5 / fps:
                break
            frames.append(frame.to_ndarray(format="rgb24"))
    return frames


def export_lerobot(store: EpisodeStore, out: pathlib.Path, episodes: Optional[list[int]] = None,
                   fps: Optional[int] = None, codec: str = "h264", crf: int = 18,
                   progress: Optional[Callable[[int, int], None]] = None) -> dict:
    """Write the store's episodes (all committed ones by default) as a LeRobot v3.0 dataset at `out`
    (which must not exist). Returns a summary."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = pathlib.Path(out)
    if out.exists():
        raise StoreError(f"{out}: exists; export into a new directory")
    if codec not in VIDEO_CODECS:
        raise StoreError(f"codec must be one of {', '.join(VIDEO_CODECS)}, got {codec!r}")
    spec = store.spec
    eps = [store.episode(i) for i in episodes] if episodes is not None else store.episodes()
    if not eps:
        raise StoreError(f"{store.path}: no episodes to export")
    rate = fps or round(spec.robot.control_rate_hz or 0)
    if not rate or rate <= 0:
        raise StoreError(f"{store.path}: the store names no control rate; pass --fps")
    cams = [s for s in spec.streams if s.kind == "rgb"]
    adim, odim = spec.steps.action_dim, spec.steps.obs_dim
    tmp = out.parent / f".{out.name}.exporting-{time.time_ns()}"
    tasks: dict[str, int] = {}
    rows, ep_rows, states, actions = 0, [], [], []
    frames_stats: dict[str, list[np.ndarray]] = {c.name: [] for c in cams}
    t0 = time.monotonic()
    try:
        for done, ep in enumerate(eps, 1):
            n = ep.num_steps
            if n == 0:   # nothing to show; LeRobot's episode indices stay contiguous
                continue
            k = len(ep_rows)
            steps = store.read_steps(ep)
            task_index = tasks.setdefault(ep.task, len(tasks))
            chunk, file = _where(k)
            cols = {
                "observation.state": pa.array(list(steps["obs"].astype(np.float32)), pa.list_(pa.float32(), odim)),
                "action": pa.array(list(steps["executed_action"].astype(np.float32)), pa.list_(pa.float32(), adim)),
                "action.policy": pa.array(list(steps["action"].astype(np.float32)), pa.list_(pa.float32(), adim)),
                "action.human": pa.array(list(steps["human_action"].astype(np.float32)), pa.list_(pa.float32(), adim)),
                "next.reward": pa.array(steps["reward"].astype(np.float32)),
                "next.done": pa.array(steps["done"].astype(bool)),
                "intervention": pa.array(steps["intervention"].astype(bool)),
                "robot_rl.t_ns": pa.array(steps["t_ns"].astype(np.int64)),
                "robot_rl.hold": pa.array(steps["hold"].astype(bool)),
                "robot_rl.policy_version": pa.array(steps["policy_version"].astype(np.int64)),
                "timestamp": pa.array((np.arange(n) / rate).astype(np.float32)),
                "frame_index": pa.array(np.arange(n, dtype=np.int64)),
                "episode_index": pa.array(np.full(n, k, np.int64)),
                "index": pa.array(np.arange(rows, rows + n, dtype=np.int64)),
                "task_index": pa.array(np.full(n, task_index, np.int64)),
            }
            row = {"episode_index": k, "tasks": [ep.task], "length": n, "data/chunk_index": chunk,
                   "data/file_index": file, "dataset_from_index": rows, "dataset_to_index": rows + n,
                   "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0,
                   "robot_rl/status": ep.status, "robot_rl/success": -1 if ep.success is None else int(ep.success),
                   "robot_rl/notes": ep.notes, "robot_rl/episode": ep.index}
            for cam in cams:
                idx = steps["sample_index"][cam.name]
                used = idx >= 0
                if not used.any():
                    raise StoreError(f"episode {ep.index}: no step used a {cam.name} frame; nothing to put in its video")
                data = store.read_samples(cam.name, idx[used])
                stamps = store.stamps(ep, cam.name)[idx[used] - ep.streams[cam.name][0]]
                # a step that used no frame shows the frame before it (the first one at the start)
                pos = np.maximum(np.cumsum(used) - 1, 0)
                frames = [data[p] for p in pos]
                key = IMAGE_PREFIX + cam.name
                _encode(frames, tmp / VIDEO_PATH.format(video_key=key, chunk_index=chunk, file_index=file), rate,
                        codec, crf)
                sensor = np.full(n, -1, np.int64)
                sensor[used] = stamps
                cols[f"robot_rl.sensor_ns.{cam.name}"] = pa.array(sensor)
                row.update({f"videos/{key}/chunk_index": chunk, f"videos/{key}/file_index": file,
                            f"videos/{key}/from_timestamp": 0.0, f"videos/{key}/to_timestamp": n / rate})
                frames_stats[cam.name].extend(frames[:: max(1, n // 16)])
            path = tmp / DATA_PATH.format(chunk_index=chunk, file_index=file)
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table(cols), path)
            states.append(steps["obs"])
            actions.append(steps["executed_action"])
            ep_rows.append(row)
            rows += n
            if progress:
                progress(done, len(eps))
        if not ep_rows:
            raise StoreError(f"{store.path}: the episodes chosen have no steps")
        _write_meta(tmp, spec, rate, codec, cams, ep_rows, tasks, rows, states, actions, frames_stats)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"episodes": len(ep_rows), "frames": rows, "fps": rate, "cameras": [c.name for c in cams],
            "tasks": len(tasks), "seconds": time.monotonic() - t0,
            "bytes": sum(p.stat().st_size for p in out.rglob("*") if p.is_file())}


def _write_meta(root: pathlib.Path, spec: StoreSpec, fps: int, codec: str, cams: list[StreamSpec], ep_rows: list[dict],
                tasks: dict[str, int], rows: int, states: list, actions: list, frames: dict) -> None:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    adim, odim = spec.steps.action_dim, spec.steps.obs_dim
    scalar = lambda dt: {"dtype": dt, "shape": [1], "names": None}  # noqa: E731
    features = {
        "observation.state": {"dtype": "float32", "shape": [odim], "names": None},
        "action": {"dtype": "float32", "shape": [adim], "names": None},
        "action.policy": {"dtype": "float32", "shape": [adim], "names": None},
        "action.human": {"dtype": "float32", "shape": [adim], "names": None},
        "next.reward": scalar("float32"), "next.done": scalar("bool"), "intervention": scalar("bool"),
        "robot_rl.t_ns": scalar("int64"), "robot_rl.hold": scalar("bool"), "robot_rl.policy_version": scalar("int64"),
    }
    for cam in cams:
        h, w = cam.shape[:2]
        features[IMAGE_PREFIX + cam.name] = {
            "dtype": "video", "shape": [h, w, 3], "names": ["height", "width", "channels"],
            "info": {"video.height": h, "video.width": w, "video.codec": VIDEO_CODECS[codec][1],
                     "video.pix_fmt": "yuv420p", "video.is_depth_map": False, "video.fps": fps,
                     "video.channels": 3, "has_audio": False}}
        features[f"robot_rl.sensor_ns.{cam.name}"] = scalar("int64")
    for key in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
        features[key] = scalar("float32" if key == "timestamp" else "int64")
    info = {"codebase_version": CODEBASE_VERSION, "robot_type": spec.robot.name or None, "fps": fps,
            "total_episodes": len(ep_rows), "total_frames": rows, "total_tasks": len(tasks),
            "chunks_size": CHUNK_SIZE, "data_files_size_in_mb": 100, "video_files_size_in_mb": 200,
            "splits": {"train": f"0:{len(ep_rows)}"}, "data_path": DATA_PATH,
            "video_path": VIDEO_PATH if cams else None, "features": features}
    (root / "meta").mkdir(parents=True, exist_ok=True)
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=2))
    pd.DataFrame({"task_index": list(tasks.values())}, index=pd.Index(list(tasks), name="task")).to_parquet(
        root / "meta" / "tasks.parquet")
    stats = {"observation.state": _stats(np.concatenate(states)), "action": _stats(np.concatenate(actions))}
    stats.update({IMAGE_PREFIX + c: _image_stats(f) for c, f in frames.items() if f})
    (root / "meta" / "stats.json").write_text(json.dumps(stats, indent=2))
    path = root / EPISODES_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(ep_rows), path)


# --- import ------------------------------------------------------------------------------------
def _read_table(root: pathlib.Path, pattern: str):
    import pyarrow as pa
    import pyarrow.parquet as pq
    files = sorted(root.glob(pattern))
    if not files:
        raise StoreError(f"{root}: no {pattern}")
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")


def import_lerobot(src: pathlib.Path, dest: pathlib.Path, image_codec: str = "zstd",
                   progress: Optional[Callable[[int, int], None]] = None) -> dict:
    """A LeRobot v3.0 dataset -> a new store at `dest`: cameras become rgb streams, observation.state
    the step observation, action the executed action. Steps are human steps (demonstrations) unless
    the dataset has an `intervention` column; robot_rl.* columns restore what an export kept."""
    import pyarrow.compute as pc

    src, dest = pathlib.Path(src), pathlib.Path(dest)
    if (dest / "zarr.json").exists():
        raise StoreError(f"{dest}: a store already exists there; import into a new path")
    try:
        info = json.loads((src / "meta" / "info.json").read_text())
    except FileNotFoundError:
        raise StoreError(f"{src}: not a LeRobot dataset (no meta/info.json)") from None
    except json.JSONDecodeError as exc:
        raise StoreError(f"{src}: meta/info.json is not valid JSON ({exc})") from None
    if info.get("codebase_version") != CODEBASE_VERSION:
        raise StoreError(f"{src}: LeRobot dataset version {info.get('codebase_version')!r}; this imports "
                         f"{CODEBASE_VERSION} (convert older ones with LeRobot's convert_dataset_v21_to_v30)")
    feats, fps = info["features"], int(info["fps"])
    for key in ("observation.state", "action"):
        if key not in feats or len(feats[key]["shape"]) != 1:
            raise StoreError(f"{src}: needs a vector feature {key!r} (features: {', '.join(feats)})")
    videos = [k for k, f in feats.items() if f.get("dtype") == "video"]
    if any(f.get("dtype") == "image" for f in feats.values()):
        raise StoreError(f"{src}: image features (PNG frames) are not imported yet; only video features")
    names = {k: k[len(IMAGE_PREFIX):] if k.startswith(IMAGE_PREFIX) else k.replace(".", "_") for k in videos}
    episodes = _read_table(src, "meta/episodes/*/*.parquet").to_pylist()
    tasks = _read_table(src, "meta/tasks.parquet").to_pylist()
    task_of = {int(t["task_index"]): str(t.get("task", t.get("__index_level_0__", ""))) for t in tasks}
    odim, adim = int(feats["observation.state"]["shape"][0]), int(feats["action"]["shape"][0])
    spec = StoreSpec(streams=[StreamSpec(name=names[k], kind="rgb", shape=[int(feats[k]["shape"][0]),
                                                                            int(feats[k]["shape"][1]), 3],
                                         dtype="uint8", rate_hz=float(fps), units="uint8 sRGB", codec=image_codec)
                              for k in videos],
                     steps=StepSpec(obs_dim=odim, action_dim=adim),
                     robot=RobotDescription(name=info.get("robot_type") or "lerobot", control_rate_hz=float(fps)))
    t_base, frames_total = time.time_ns(), 0
    files: dict[str, Any] = {}   # a data file read once, though LeRobot's writer puts many episodes in one
    with StoreWriter(dest, spec) as writer:
        for k, ep in enumerate(sorted(episodes, key=lambda e: e["episode_index"])):
            e = int(ep["episode_index"])
            name = DATA_PATH.format(chunk_index=ep["data/chunk_index"], file_index=ep["data/file_index"])
            if name not in files:
                files.clear()   # episodes come in file order: keep one file in memory
                files[name] = _read_table(src, name)
            table = files[name]
            table = table.filter(pc.equal(table["episode_index"], e)).sort_by("frame_index")
            col = {name: table[name].to_numpy(zero_copy_only=False) for name in table.column_names}
            n = table.num_rows
            if n != int(ep["length"]):
                raise StoreError(f"{src}: episode {e} has {n} frames in its data file, its metadata says {ep['length']}")
            t = col["robot_rl.t_ns"].astype(np.int64) if "robot_rl.t_ns" in col else \
                t_base + np.round(col["timestamp"].astype(np.float64) * 1e9).astype(np.int64)
            t_base = int(t[-1]) + 10**9
            pictures = {}
            for key in videos:
                path = src / info["video_path"].format(video_key=key, chunk_index=ep[f"videos/{key}/chunk_index"],
                                                       file_index=ep[f"videos/{key}/file_index"])
                start = float(ep[f"videos/{key}/from_timestamp"])
                pictures[key] = _decode(path, start, float(ep[f"videos/{key}/to_timestamp"]), fps)
                if len(pictures[key]) != n:
                    raise StoreError(f"{src}: episode {e}: {len(pictures[key])} frames in {path.name}, {n} rows")
            intervention = col["intervention"].astype(bool) if "intervention" in col else np.ones(n, bool)
            action = np.stack(col["action"]).astype(np.float32)
            human = np.stack(col["action.human"]).astype(np.float32) if "action.human" in col else \
                np.where(intervention[:, None], action, np.nan).astype(np.float32)
            policy = np.stack(col["action.policy"]).astype(np.float32) if "action.policy" in col else action
            writer.begin_episode(task=task_of.get(int(col["task_index"][0]), ""), notes=ep.get("robot_rl/notes") or
                                 f"imported from LeRobot dataset {src.name}, episode {e}")
            last: dict[str, tuple[int, int]] = {}
            for i in range(n):
                idx = {}
                for key in videos:
                    stamp_col = f"robot_rl.sensor_ns.{names[key]}"
                    stamp = int(col[stamp_col][i]) if stamp_col in col else int(t[i])
                    if stamp < 0:
                        idx[names[key]] = -1
                    elif key in last and last[key][0] == stamp:   # the same frame as the step before
                        idx[names[key]] = last[key][1]
                    else:
                        j = writer.append(names[key], pictures[key][i], sensor_ns=stamp, receive_ns=stamp)
                        last[key] = (stamp, j)
                        idx[names[key]] = j
                writer.append_step(np.stack(col["observation.state"][i:i + 1])[0], policy[i], executed_action=action[i],
                                   human_action=None if np.isnan(human[i]).all() else human[i],
                                   intervention=bool(intervention[i]),
                                   reward=float(col["next.reward"][i]) if "next.reward" in col else 0.0,
                                   done=bool(col["next.done"][i]) if "next.done" in col else i == n - 1,
                                   hold=bool(col["robot_rl.hold"][i]) if "robot_rl.hold" in col else False,
                                   policy_version=int(col["robot_rl.policy_version"][i]) if "robot_rl.policy_version"
                                   in col else 0, sample_index=idx, t_ns=int(t[i]))
            success = ep.get("robot_rl/success", -1)
            writer.end_episode(status=ep.get("robot_rl/status") or "complete",
                               success=None if success is None or success < 0 else bool(success))
            frames_total += n
            if progress:
                progress(k + 1, len(episodes))
    return {"episodes": len(episodes), "frames": frames_total, "cameras": [names[k] for k in videos], "fps": fps}
