"""Bring existing data in: a Diffusion Policy / UMI ReplayBuffer zarr becomes demonstrations.

A ReplayBuffer is `data/<key>` arrays of equal length N plus `meta/episode_ends` (cumulative
ends). We map each `data` key to a stream (uint8 [N, H, W, 3] -> an rgb camera, [N, d] -> a vector),
`data/action` to the steps' action (also the executed and the human action: each step is marked
an intervention, a person's demonstration step, as BC and RLPD's demo half read them), the other
low-dimensional keys, concatenated in sorted key order, to the observation vector, and one step per
sample that refers to that sample of every stream. Timestamps come from `data/timestamp` (seconds) when present;
otherwise they are frame_index / fps, and the episode notes say so.
"""
from __future__ import annotations

import pathlib
import time
from typing import Callable, Optional

import numpy as np
import zarr

from robot_rl.store.schema import StepSpec, StoreError, StoreSpec, StreamSpec, RobotDescription
from robot_rl.store.writer import StoreWriter

_SAFE = str.maketrans({c: "_" for c in "-. /"})


def _codec_hint(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    if "codec" in text.lower() or "imagecodecs" in text.lower():
        text += " (UMI stores images with imagecodecs' JPEG-XL: `pip install imagecodecs` and " \
                "`imagecodecs.numcodecs.register_codecs()` before importing)"
    return text


def _stream_name(key: str) -> str:
    name = key.translate(_SAFE).lower()
    return name if name[:1].isalpha() else "s_" + name


def _open_replay_buffer(src: pathlib.Path) -> tuple[zarr.Group, dict[str, zarr.Array], np.ndarray]:
    try:
        root = zarr.open_group(str(src), mode="r")
        data = root["data"]
        ends = np.asarray(root["meta/episode_ends"][:], dtype=np.int64)
    except (KeyError, FileNotFoundError) as exc:
        raise StoreError(f"{src}: not a ReplayBuffer zarr (needs data/* and meta/episode_ends): {exc}") from None
    except Exception as exc:  # e.g. a codec this environment lacks
        raise StoreError(f"{src}: cannot read it: {_codec_hint(exc)}") from None
    try:
        arrays = {k: v for k, v in data.arrays()}
    except Exception as exc:
        raise StoreError(f"{src}: cannot read data/: {_codec_hint(exc)}") from None
    if not arrays:
        raise StoreError(f"{src}: data/ holds no arrays")
    lengths = {k: a.shape[0] for k, a in arrays.items()}
    n = max(lengths.values())
    if len(set(lengths.values())) != 1:
        raise StoreError(f"{src}: data arrays differ in length: {lengths}")
    if len(ends) and (np.any(np.diff(ends) <= 0) or ends[0] <= 0 or ends[-1] > n):
        raise StoreError(f"{src}: meta/episode_ends {ends[:5]}... is not increasing within 1..{n}")
    return root, arrays, ends


def import_replay_buffer(src: str | pathlib.Path, dest: str | pathlib.Path, fps: float = 10.0, task: str = "",
                         action_key: str = "action", image_codec: str = "zstd", jpeg_quality: int = 90,
                         progress: Optional[Callable[[int, int], None]] = None) -> dict:
    src, dest = pathlib.Path(src), pathlib.Path(dest)
    if (dest / "zarr.json").exists():
        raise StoreError(f"{dest}: a store already exists there; import into a new path")
    if fps <= 0:
        raise StoreError(f"--fps must be > 0, got {fps}")
    _, arrays, ends = _open_replay_buffer(src)
    if action_key not in arrays:
        raise StoreError(f"{src}: no data/{action_key} (keys: {', '.join(sorted(arrays))}); pass --action-key")
    stamps_key = "timestamp" if "timestamp" in arrays and arrays["timestamp"].ndim == 1 else None
    streams, obs_keys = [], []
    for key in sorted(arrays):
        a = arrays[key]
        if key == stamps_key:
            continue
        name = _stream_name(key)
        if a.ndim == 4 and a.dtype == np.uint8 and a.shape[-1] == 3:
            streams.append(StreamSpec(name=name, kind="rgb", shape=list(a.shape[1:]), dtype="uint8",
                                      rate_hz=fps, units="uint8 sRGB", codec=image_codec,
                                      level=jpeg_quality if image_codec == "jpeg" else 3))
        elif a.ndim in (1, 2) and a.dtype.kind in "biuf":
            shape = [1] if a.ndim == 1 else [int(a.shape[1])]
            streams.append(StreamSpec(name=name, kind="vector", shape=shape, dtype=str(a.dtype), rate_hz=fps))
            if key != action_key:
                obs_keys.append(key)
        else:
            raise StoreError(f"{src}: data/{key} has shape {a.shape} and dtype {a.dtype}, which is neither an "
                             "RGB image [N,H,W,3] uint8 nor a vector [N] / [N,d]")
    names = {key: _stream_name(key) for key in arrays}
    act = arrays[action_key]
    obs_dim = sum(1 if arrays[k].ndim == 1 else arrays[k].shape[1] for k in obs_keys)
    action_dim = 1 if act.ndim == 1 else act.shape[1]
    spec = StoreSpec(streams=streams, steps=StepSpec(obs_dim=obs_dim, action_dim=action_dim),
                     robot=RobotDescription(name="imported", control_rate_hz=fps))
    note = f"imported from {src.name}" + ("" if stamps_key else f"; timestamps synthetic (frame_index / {fps:g} fps)")
    starts = np.r_[0, ends[:-1]]
    t_base = time.time_ns()
    with StoreWriter(dest, spec) as writer:
        for e, (a, b) in enumerate(zip(starts, ends)):
            a, b = int(a), int(b)
            try:
                block = {k: v[a:b] for k, v in arrays.items()}
            except Exception as exc:
                raise StoreError(f"{src}: cannot read episode {e} (rows {a}..{b - 1}): {_codec_hint(exc)}; "
                                 f"the {e} episodes before it are imported and committed") from None
            if stamps_key:
                t = np.round(np.asarray(block[stamps_key], dtype=np.float64) * 1e9).astype(np.int64)
            else:
                t = t_base + np.round(np.arange(a, b) / fps * 1e9).astype(np.int64)
            writer.begin_episode(task=task, notes=note)
            for i in range(b - a):
                idx = {}
                for key, v in block.items():
                    if key == stamps_key:
                        continue
                    sample = v[i] if v.ndim != 1 else v[i:i + 1]
                    idx[names[key]] = writer.append(names[key], sample, sensor_ns=int(t[i]), receive_ns=int(t[i]))
                obs = np.concatenate([np.atleast_1d(block[k][i]).astype(np.float32) for k in obs_keys]) \
                    if obs_keys else np.zeros(0, np.float32)
                act = np.atleast_1d(block[action_key][i])
                # demonstrations: a person's steps, so `robot-rl bc` and RLPD's demo half take them
                writer.append_step(obs, act, human_action=act, intervention=True, sample_index=idx, t_ns=int(t[i]),
                                   done=i == b - a - 1)
            writer.end_episode(status="complete")
            if progress:
                progress(e + 1, len(ends))
        stats = writer.stats
    return {"episodes": len(ends), "samples": int(ends[-1]) if len(ends) else 0, "streams": [s.name for s in streams],
            "obs_keys": obs_keys, "synthetic_timestamps": stamps_key is None, "dropped": stats.dropped}
