"""Where everything lives inside a store (schema v1), and opening a store safely.

    <store>/zarr.json                root group; attributes:
        robot_rl   {schema, schema_version, software_version, created_ns}
        spec       the StoreSpec: streams, steps, robot description, camera calibration
        commit     {episodes, steps, streams: {name: n}}: the committed extents; nothing past
                   them is visible to readers. Rewritten atomically, after the data is durable.
        recording  the episode in progress: {task, notes, start_ns, durable: {steps, streams}}, or null
    streams/<name>/data, sensor_ns, receive_ns
    steps/<column>                   one row per control step (STEP_VECTORS, STEP_SCALARS, sample_index)
    episodes/<column>                one row per committed episode
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import time
from typing import Any

import numpy as np
import zarr
import zarr.errors

from robot_rl import __version__
from robot_rl.store import codecs
from robot_rl.store.durable import DurableLocalStore, fsync_dir
from robot_rl.store.schema import (SCHEMA_NAME, SCHEMA_VERSION, StoreError, StoreSpec, spec_from_attrs,
                                   spec_to_attrs, validated)

STEP_VECTORS = ("obs", "action", "base_action", "human_action", "executed_action")
STEP_SCALARS = {"t_ns": "int64", "intervention": "bool", "reward": "float32", "done": "bool",
                "terminal": "bool", "policy_version": "int64", "hold": "bool"}
# step columns added to schema v1 after its first stores: a store without one reads it as its fill
# value (all False: unknown then), and a writer that opens such a store adds it
ADDED_STEP_SCALARS = ("hold",)
EPISODE_COLUMNS = ("status", "success", "start_ns", "end_ns", "steps", "streams", "task", "notes")
EPISODE_CHUNK = 1024


def step_vector_dim(spec: StoreSpec, column: str) -> int:
    return spec.steps.obs_dim if column == "obs" else spec.steps.action_dim


def create(path: pathlib.Path, spec: StoreSpec) -> None:
    """Create an empty store at `path` (which must not exist, or be an empty directory).

    The store is built in a hidden sibling directory and renamed into place, so a crash during
    creation never leaves a half-made store at `path`."""
    path = pathlib.Path(path)
    spec = validated(spec)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise StoreError(f"{path}: exists and is not empty; refusing to create a store there")
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.creating-*"):  # left by a creator that died
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = path.parent / f".{path.name}.creating-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    _build(tmp, spec)
    if path.exists():
        path.rmdir()  # empty (checked above)
    os.rename(tmp, path)
    fsync_dir(path.parent)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _build(path: pathlib.Path, spec: StoreSpec) -> None:
    store = DurableLocalStore(path)
    root = zarr.open_group(store, mode="w-", zarr_format=3)
    for s in spec.streams:
        g = root.create_group(f"streams/{s.name}")
        g.attrs.update({"kind": s.kind, "shape": list(s.shape), "dtype": s.dtype, "rate_hz": s.rate_hz,
                        "units": s.units, "fields": list(s.fields), "codec": s.codec, "level": s.level})
        c, sh = s.chunk_len, s.shard_len
        g.create_array("data", shape=(0, *s.shape), dtype=s.dtype, chunks=(c, *s.shape), shards=(sh, *s.shape),
                       fill_value=0, **codecs.array_codecs(s.codec, s.level, np.dtype(s.dtype).itemsize))
        for clock in ("sensor_ns", "receive_ns"):
            g.create_array(clock, shape=(0,), dtype="int64", chunks=(max(c, 1024),), shards=(max(sh, 16384),),
                           fill_value=0, **codecs.array_codecs("zstd", 3, 8))
    steps = root.create_group("steps")
    names = spec.stream_names
    steps.attrs.update({"obs_dim": spec.steps.obs_dim, "action_dim": spec.steps.action_dim,
                        "sample_index_streams": names})
    c, sh = spec.steps.chunk_steps, spec.steps.shard_len
    for col in STEP_VECTORS:
        dim = step_vector_dim(spec, col)
        steps.create_array(col, shape=(0, dim), dtype="float32", chunks=(c, max(dim, 1)),
                           shards=(sh, max(dim, 1)), fill_value=0, **codecs.array_codecs("zstd", 3, 4))
    for col in STEP_SCALARS:
        _create_step_scalar(steps, spec, col, rows=0)
    n = max(len(names), 1)
    steps.create_array("sample_index", shape=(0, len(names)), dtype="int64", chunks=(c, n), shards=(sh, n),
                       fill_value=-1, **codecs.array_codecs("zstd", 3, 8))
    eps = root.create_group("episodes")
    eps.attrs.update({"status_names": {"0": "complete", "1": "aborted", "2": "discarded"},
                      "success_names": {"-1": "unknown", "0": "failure", "1": "success"},
                      "streams_order": names})
    lossless = codecs.array_codecs("zstd", 3, 8)
    for col, dt in (("status", "int8"), ("success", "int8"), ("start_ns", "int64"), ("end_ns", "int64")):
        eps.create_array(col, shape=(0,), dtype=dt, chunks=(EPISODE_CHUNK,), fill_value=0, **lossless)
    eps.create_array("steps", shape=(0, 2), dtype="int64", chunks=(EPISODE_CHUNK, 2), fill_value=0, **lossless)
    eps.create_array("streams", shape=(0, len(names), 2), dtype="int64", chunks=(EPISODE_CHUNK, n, 2),
                     fill_value=0, **lossless)
    for col in ("task", "notes"):
        eps.create_array(col, shape=(0,), dtype=str, chunks=(EPISODE_CHUNK,))
    # The root attributes go last: a store without them is recognisably unfinished.
    root.attrs.update({
        "robot_rl": {"schema": SCHEMA_NAME, "schema_version": SCHEMA_VERSION,
                     "software_version": __version__, "created_ns": time.time_ns(),
                     # every chunk is written, fill value or not: an absent one is damage (store.chunks)
                     "complete_chunks": True},
        "spec": spec_to_attrs(spec),
        "commit": empty_commit(spec),
        "recording": None,
    })
    store.sync()


def _create_step_scalar(steps: zarr.Group, spec: StoreSpec, col: str, rows: int) -> zarr.Array:
    dt = STEP_SCALARS[col]
    c, sh = spec.steps.chunk_steps, spec.steps.shard_len
    return steps.create_array(col, shape=(rows,), dtype=dt, chunks=(c,), shards=(sh,), fill_value=0,
                              **codecs.array_codecs("zstd", 3, np.dtype(dt).itemsize))


def empty_commit(spec: StoreSpec) -> dict[str, Any]:
    return {"episodes": 0, "steps": 0, "streams": {n: 0 for n in spec.stream_names}}


def read_root_attrs(path: pathlib.Path) -> dict[str, Any]:
    """The root attributes, read straight from zarr.json (one atomic file) with clear errors."""
    path = pathlib.Path(path)
    if not path.exists():
        raise StoreError(f"{path}: no such store")
    meta = path / "zarr.json"
    if not path.is_dir() or not meta.is_file():
        raise StoreError(f"{path}: not a robot_rl episode store (no zarr.json)")
    try:
        doc = json.loads(meta.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: zarr.json is damaged ({exc.__class__.__name__}); the store may be truncated") from None
    attrs = doc.get("attributes") or {}
    info = attrs.get("robot_rl")
    if doc.get("node_type") != "group" or not isinstance(info, dict) or info.get("schema") != SCHEMA_NAME:
        raise StoreError(f"{path}: not a robot_rl episode store (a zarr without the {SCHEMA_NAME} attribute)")
    version = info.get("schema_version")
    if not isinstance(version, int):
        raise StoreError(f"{path}: schema_version is missing or not an integer")
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path}: store schema version {version} is newer than this robot_rl "
                         f"({__version__}) reads (version {SCHEMA_VERSION}); upgrade robot_rl")
    for key in ("spec", "commit"):
        if key not in attrs:
            raise StoreError(f"{path}: root attribute {key!r} is missing; the store is truncated")
    return attrs


class StoreLayout:
    """Open arrays of a store. `read_only=False` only for the writer and repair."""

    def __init__(self, path: pathlib.Path, read_only: bool = True) -> None:
        self.path = pathlib.Path(path)
        attrs = read_root_attrs(self.path)
        self.spec: StoreSpec = spec_from_attrs(attrs["spec"])
        self.store = DurableLocalStore(self.path, read_only=read_only)
        try:
            self.root = zarr.open_group(self.store, mode="r" if read_only else "r+", zarr_format=3)
            self.streams = {s.name: {k: self.root[f"streams/{s.name}/{k}"] for k in ("data", "sensor_ns", "receive_ns")}
                            for s in self.spec.streams}
            have = set(self.root["steps"].array_keys())
            # a column added after this store was made: read as all False, made by a writer
            self.missing_steps = [k for k in ADDED_STEP_SCALARS if k not in have]
            if self.missing_steps and not read_only:
                rows = self.root["steps/t_ns"].shape[0]   # every row on disk, a crashed episode's too
                for k in self.missing_steps:   # written out, so every chunk of it is on disk
                    col = _create_step_scalar(self.root["steps"], self.spec, k, rows)
                    if rows:
                        col.with_config({"write_empty_chunks": True})[:] = np.zeros(rows, STEP_SCALARS[k])
                self.store.sync()
                self.missing_steps = []
            self.steps = {k: self.root[f"steps/{k}"] for k in (*STEP_VECTORS, *STEP_SCALARS, "sample_index")
                          if k not in self.missing_steps}
            self.episodes = {k: self.root[f"episodes/{k}"] for k in EPISODE_COLUMNS}
            if not read_only:   # write every chunk, also one that is all fill value (store.chunks)
                every = lambda arrays: {k: a.with_config({"write_empty_chunks": True}) for k, a in arrays.items()}  # noqa: E731
                self.streams = {n: every(arrs) for n, arrs in self.streams.items()}
                self.steps, self.episodes = every(self.steps), every(self.episodes)
        except (KeyError, FileNotFoundError, zarr.errors.BaseZarrError, ValueError, json.JSONDecodeError) as exc:
            raise StoreError(f"{self.path}: the store is incomplete or damaged: {exc}") from None
        self.attrs = attrs
        # made with every chunk written (schema v1 stores from before are not: absent chunks there
        # may be fill values, and only decoding is checked)
        self.complete_chunks = bool(attrs["robot_rl"].get("complete_chunks", False))

    def arrays(self):
        """(label, array) for every array of the store."""
        for name, arrs in self.streams.items():
            for k, a in arrs.items():
                yield f"streams/{name}/{k}", a
        for k, a in self.steps.items():
            yield f"steps/{k}", a
        for k, a in self.episodes.items():
            yield f"episodes/{k}", a

    def extents(self, commit: dict[str, Any]):
        """(label, array, committed rows) for every array of the store."""
        for label, arr in self.arrays():
            kind, name = label.split("/")[:2]
            rows = (commit["streams"].get(name, 0) if kind == "streams" else
                    commit["steps"] if kind == "steps" else commit["episodes"])
            yield label, arr, int(rows)

    def check_extents(self, commit: dict[str, Any]) -> None:
        """Every array must hold at least the committed extent, else the store was truncated."""
        for label, arr, rows in self.extents(commit):
            if arr.shape[0] < rows:
                raise StoreError(f"{self.path}: {label} holds {arr.shape[0]} rows but {rows} are "
                                 "committed; the store is truncated")


def write_episode_row(layout: "StoreLayout", index: int, *, status: int, success: int, start_ns: int, end_ns: int,
                      steps: tuple[int, int], streams: dict[str, tuple[int, int]], task: str, notes: str,
                      pool=None) -> None:
    """Write episode `index`'s row into every episodes/ column (resizing each to index + 1).
    `pool`: an executor to write the columns concurrently (they are separate arrays)."""
    names = layout.spec.stream_names
    row = {
        "status": np.int8(status), "success": np.int8(success),
        "start_ns": np.int64(start_ns), "end_ns": np.int64(end_ns),
        "steps": np.array(steps, dtype=np.int64),
        "streams": np.array([streams[n] for n in names], dtype=np.int64).reshape(len(names), 2),
        "task": str(task), "notes": str(notes),
    }

    def put(item: tuple[str, Any]) -> None:
        arr = layout.episodes[item[0]]
        arr.resize((index + 1, *arr.shape[1:]))
        arr[index] = item[1]
    for _ in (pool.map(put, row.items()) if pool is not None else map(put, row.items())):
        pass


def open_checked(path: pathlib.Path, for_writing: bool = False) -> StoreLayout:
    """Open read-only and check every array holds its committed rows: the gate before anything
    writes to an existing store, so a damaged store gets an error and no writes. for_writing: also
    refuse a store this process cannot write (a read-only mount, another user's files)."""
    lay = StoreLayout(path, read_only=True)
    lay.check_extents(lay.attrs["commit"])
    if for_writing and not all(os.access(p, os.W_OK) for p in (path, pathlib.Path(path) / "zarr.json")):
        raise StoreError(f"{path}: the store is not writable here (read-only file system or permissions); "
                         "nothing was written")
    return lay
