"""Committed episodes copied to another machine's store, each proven equal by its checksum.

The robot host's store stays the one that counts (docs/TWO_HOSTS.md). A learner on another host
follows a replica: a store of its own that receives the robot host's committed episodes, one at a
time and in order, over ROS 2 (ros_nodes/episode_server.py, ros_nodes/episode_replica.py; this
module knows nothing of ROS):

    payload = EpisodeSource(path).packet(i)    # robot host: episode i as one byte string
    replica = Replica(path, source.announcement())
    replica.apply(payload)                     # learner host: checked, written, committed, read back

An episode's digest is the sha256 of its content as a reader sees it: the episode row (status,
success, task, notes, start and end times, its step and sample counts), every step column (sample
indices counted from the episode's first sample of each stream) and every stream's samples with
both timestamps, decoded. It does not depend on where the episode sits in its store or on how the
store encodes it, so the robot host's episode and the replica's copy have the same digest exactly
when a reader gets the same values from both. A replica stores lossy (JPEG) streams losslessly: it
holds the robot host's decoded frames, not a second generation of compression.

A payload is a fixed header, a JSON header (episode row, source store, digest, array shapes) and
the arrays' raw bytes compressed with zstd; no pickle. `apply` refuses a payload that is damaged,
from another store, or not the next episode, and commits nothing then; the replica's writer is the
store's own (store.writer), so a crash while applying leaves the replica at its last committed
episode and that episode is fetched again.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
from typing import Any, Optional

import numpy as np
from numcodecs import Zstd

from robot_rl.durable_file import write_durably
from robot_rl.framing import frame, unframe
from robot_rl.store.reader import EpisodeStore
from robot_rl.store.schema import (LOSSY_CODECS, STATUS_NAMES, StoreError, StoreSpec, spec_from_attrs,
                                   spec_to_attrs)
from robot_rl.store.writer import StoreWriter, WriterConfig

MAGIC = b"robot_rl episode 1\n"
SOURCE_FILE = "replica_of.json"     # in a replica: which store it copies
MAX_HEADER_BYTES = 16 << 20
MAX_EPISODE_BYTES = 16 << 30        # raw bytes of one episode, a bound against a damaged header
STEP_ARGS = ("obs", "action", "base_action", "human_action", "executed_action", "t_ns", "intervention",
             "reward", "done", "terminal", "policy_version", "hold", "sample_index")
_ZSTD = Zstd(level=1)
WRITER = WriterConfig(keep_interrupted=False)   # an interrupted copy is fetched again, not kept


class ReplicaError(StoreError):
    """A payload or a replica that cannot be used; nothing was committed."""


class NotNext(ReplicaError):
    """A sound payload of an episode that is not the replica's next (a late answer to an earlier
    request, or one meant for another replica): ignored."""


@dataclasses.dataclass
class EpisodeData:
    """One committed episode's content, independent of its place in a store."""
    index: int
    row: dict[str, Any]                                       # status, success, task, notes, start_ns, end_ns
    steps: dict[str, np.ndarray]                              # every step column; sample_index.<stream> relative
    streams: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]   # name -> (data, sensor_ns, receive_ns)

    def arrays(self) -> list[tuple[str, np.ndarray]]:
        """Every array, in the one order the digest and the payload use."""
        out = [(f"steps/{k}", self.steps[k]) for k in sorted(self.steps)]
        for name in sorted(self.streams):
            for k, a in zip(("data", "sensor_ns", "receive_ns"), self.streams[name]):
                out.append((f"streams/{name}/{k}", a))
        return out

    def digest(self) -> str:
        h = hashlib.sha256(json.dumps(self.row, sort_keys=True).encode())
        for name, a in self.arrays():
            a = np.ascontiguousarray(a)
            h.update(json.dumps([name, a.dtype.str, list(a.shape)]).encode())
            h.update(a.tobytes())
        return h.hexdigest()

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for _, a in self.arrays())


def read_episode(store: EpisodeStore, index: int) -> EpisodeData:
    ep = store.episode(index)
    steps = store.read_steps(ep)
    for name, idx in steps.pop("sample_index").items():
        start = ep.streams[name][0]
        steps[f"sample_index.{name}"] = np.where(idx >= 0, idx - start, -1).astype(np.int64)
    row = {"status": ep.status, "success": ep.success, "task": ep.task, "notes": ep.notes,
           "start_ns": ep.start_ns, "end_ns": ep.end_ns, "steps": ep.num_steps,
           "samples": {n: ep.num_samples(n) for n in store.spec.stream_names}}
    return EpisodeData(index, row, steps, {n: store.read_stream(ep, n) for n in store.spec.stream_names})


def episode_digest(store: EpisodeStore, index: int) -> str:
    """The digest of a committed episode (module docstring): equal on a store and its replica."""
    return read_episode(store, index).digest()


def source_id(store: EpisodeStore) -> str:
    """Names one store: its creation time and spec, so a new store at the same path is another."""
    meta = {"created_ns": store.attrs["robot_rl"].get("created_ns"), "spec": store.attrs["spec"]}
    return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:16]


def replica_spec(spec: StoreSpec) -> StoreSpec:
    """The source's spec with lossy streams stored losslessly (the decoded frames, bit for bit)."""
    streams = [dataclasses.replace(s, codec="zstd", level=3) if s.codec in LOSSY_CODECS else s for s in spec.streams]
    return dataclasses.replace(spec, streams=streams)


# --- the payload --------------------------------------------------------------------------------
def pack(ep: EpisodeData, source: str) -> bytes:
    arrays = ep.arrays()
    header = {"source": source, "index": ep.index, "digest": ep.digest(), "row": ep.row,
              "arrays": [[name, a.dtype.str, list(a.shape)] for name, a in arrays]}
    raw = b"".join(np.ascontiguousarray(a).tobytes() for _, a in arrays)
    return frame(MAGIC, header, _ZSTD.encode(raw))


def unpack(payload: bytes) -> tuple[dict[str, Any], EpisodeData]:
    """(header, episode) of a payload whose content matches its digest; ReplicaError otherwise."""
    header, body = unframe(bytes(payload), MAGIC, MAX_HEADER_BYTES, "episode", ReplicaError)
    try:
        specs = [(str(name), np.dtype(dt), tuple(int(d) for d in shape)) for name, dt, shape in header["arrays"]]
        index, row, digest = int(header["index"]), dict(header["row"]), str(header["digest"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ReplicaError(f"episode payload: its header is not valid ({exc})") from None
    want = sum(dt.itemsize * int(np.prod(shape)) for _, dt, shape in specs)
    if want > MAX_EPISODE_BYTES:
        raise ReplicaError(f"episode payload: {want:,} bytes is over the limit for an episode")
    try:
        # into a buffer of the declared size: a damaged frame cannot make it allocate more; one that
        # holds less leaves bytes the digest check below refuses
        raw = _ZSTD.decode(body, out=np.zeros(want, np.uint8)) if want else b""
    except Exception as exc:  # noqa: BLE001 - zstd says "corrupted" in several ways
        raise ReplicaError(f"episode {index} payload: its data does not decompress ({exc})") from None
    steps: dict[str, np.ndarray] = {}
    streams: dict[str, list[np.ndarray]] = {}
    off = 0
    for name, dt, shape in specs:
        a = np.frombuffer(raw, dtype=dt, count=int(np.prod(shape)), offset=off).reshape(shape)
        off += a.nbytes
        kind, _, rest = name.partition("/")
        if kind == "steps":
            steps[rest] = a
        elif kind == "streams":
            streams.setdefault(rest.rsplit("/", 1)[0], []).append(a)
        else:
            raise ReplicaError(f"episode {index} payload: unknown array {name!r}")
    ep = EpisodeData(index, row, steps, {k: tuple(v) for k, v in streams.items()})
    if ep.digest() != digest:
        raise ReplicaError(f"episode {index} payload: its content does not match its digest (changed on the way)")
    return header, ep


# --- the two ends -------------------------------------------------------------------------------
class EpisodeSource:
    """The robot host's side: its store's announcement and any committed episode as a payload.
    The store may not exist yet (the recorder makes it); the announcement is None until it does."""

    def __init__(self, path: str | pathlib.Path) -> None:
        self.path = pathlib.Path(path)
        self.store: Optional[EpisodeStore] = None
        self._last: tuple[int, bytes] | None = None   # a re-requested episode is packed once

    def announcement(self) -> Optional[dict[str, Any]]:
        """{source, spec, episodes}: what a replica needs to follow this store."""
        if self.store is None:
            if not (self.path / "zarr.json").exists():
                return None
            self.store = EpisodeStore.open(self.path)
        self.store.refresh()   # the id too, each time: a new store at this path is another source
        return {"source": source_id(self.store), "spec": self.store.attrs["spec"], "episodes": len(self.store)}

    def packet(self, index: int) -> bytes:
        if self.announcement() is None or not 0 <= index < len(self.store):
            raise ReplicaError(f"{self.path}: no committed episode {index}")
        if self._last is None or self._last[0] != index:
            self._last = (index, pack(read_episode(self.store, index), source_id(self.store)))
        return self._last[1]


@dataclasses.dataclass
class Applied:
    index: int
    digest: str
    steps: int
    nbytes: int


class Replica:
    """The learner host's side: a store that takes one source's episodes in order. Made from the
    source's announcement the first time; later it must be the same source's replica."""

    def __init__(self, path: str | pathlib.Path, announcement: dict[str, Any]) -> None:
        self.path = pathlib.Path(path)
        self.source = str(announcement["source"])
        marker = self.path / SOURCE_FILE
        if (self.path / "zarr.json").exists():
            if not marker.exists():
                raise ReplicaError(f"{self.path}: a store that is not a replica; choose another path")
            have = json.loads(marker.read_text())["source"]
            if have != self.source:
                raise ReplicaError(f"{self.path}: the replica of store {have}, not of {self.source} (the robot "
                                   "host started a new store?); choose another path")
        spec = replica_spec(spec_from_attrs(announcement["spec"]))
        self.writer = StoreWriter(self.path, spec, WRITER)
        if not marker.exists():   # durable before the first episode is: a replica always says what it copies
            write_durably(marker, json.dumps({"source": self.source, "spec": spec_to_attrs(spec)}).encode())
        self._reader: Optional[EpisodeStore] = None

    @property
    def episodes(self) -> int:
        return self.writer.committed_episodes

    def apply(self, payload: bytes) -> Applied:
        """Check a payload, write its episode as this replica's next and commit it, then read it
        back and check the digest again."""
        header, ep = unpack(payload)
        if header["source"] != self.source:
            raise ReplicaError(f"episode {ep.index} is from store {header['source']}, this replica copies {self.source}")
        if ep.index != self.episodes:
            raise NotNext(f"episode {ep.index} is not this replica's next ({self.episodes})")
        self._write(ep)
        if self._reader is None:
            self._reader = EpisodeStore.open(self.path)
        self._reader.refresh()
        got = episode_digest(self._reader, ep.index)
        if got != header["digest"]:
            raise ReplicaError(f"{self.path}: episode {ep.index} reads back with digest {got[:12]}, "
                               f"sent {header['digest'][:12]}: the replica is damaged")
        return Applied(ep.index, got, int(ep.row["steps"]), ep.nbytes)

    def _write(self, ep: EpisodeData) -> None:
        try:
            write_episode(self.writer, ep)
        except BaseException:
            if self.writer.episode_open:   # nothing of it is committed; reopen the writer to go on
                self.writer.close(abort_open_episode=False)
                self.writer = StoreWriter(self.path, config=WRITER)
            raise

    def close(self) -> None:
        self.writer.close(abort_open_episode=False)


def write_episode(w: StoreWriter, ep: EpisodeData) -> None:
    """Append `ep` to the store `w` writes as its next episode, with its own times, and commit it."""
    names = w.spec.stream_names
    have = {k for k in ep.steps if not k.startswith("sample_index.")} | {"sample_index"}
    if have != set(STEP_ARGS) or set(ep.streams) != set(names):
        raise ReplicaError(f"episode {ep.index}: its columns ({', '.join(sorted(have))}) or streams "
                           f"({', '.join(sorted(ep.streams))}) are not this store's")
    row = ep.row
    if row["status"] not in STATUS_NAMES.values():
        raise ReplicaError(f"episode {ep.index}: unknown status {row['status']!r}")
    w.begin_episode(task=row["task"], notes=row["notes"], start_ns=int(row["start_ns"]))
    first = {}
    for name in names:
        data, sensor_ns, receive_ns = ep.streams[name]
        for i in range(len(data)):
            at = w.append(name, data[i], int(sensor_ns[i]), int(receive_ns[i]))
            first.setdefault(name, at)
    s = ep.steps
    for i in range(int(row["steps"])):
        index = {n: (-1 if s[f"sample_index.{n}"][i] < 0 else first[n] + int(s[f"sample_index.{n}"][i]))
                 for n in names}
        w.append_step(s["obs"][i], s["action"][i], base_action=s["base_action"][i],
                      human_action=s["human_action"][i], executed_action=s["executed_action"][i],
                      intervention=bool(s["intervention"][i]), reward=float(s["reward"][i]),
                      done=bool(s["done"][i]), terminal=bool(s["terminal"][i]),
                      policy_version=int(s["policy_version"][i]), hold=bool(s["hold"][i]),
                      sample_index=index, t_ns=int(s["t_ns"][i]))
    w.end_episode(status=row["status"], success=row["success"], end_ns=int(row["end_ns"]))


class Fetcher:
    """When to ask for which episode: the replica's next one once the source has it, one request at
    a time, asked again after `retry_s` without an answer (the wait doubling up to `max_retry_s`, so
    a slow link is not flooded with repeats of a large episode)."""

    def __init__(self, retry_s: float = 5.0, max_retry_s: float = 60.0) -> None:
        if not 0 < retry_s <= max_retry_s:
            raise ValueError(f"need 0 < retry_s <= max_retry_s, got {retry_s:g}, {max_retry_s:g}")
        self.retry_s, self.max_retry_s = retry_s, max_retry_s
        self._asked: Optional[tuple[int, float]] = None   # (episode, when)
        self._wait = retry_s
        self.retries = 0

    def due(self, have: int, source_has: int, now: float) -> Optional[int]:
        """The episode to request now, or None."""
        if have >= source_has:
            self._asked = None
            return None
        if self._asked is not None and self._asked[0] == have:
            if now - self._asked[1] < self._wait:
                return None
            self.retries += 1
            self._wait = min(2 * self._wait, self.max_retry_s)
        else:
            self._wait = self.retry_s
        self._asked = (have, now)
        return have

    def failed(self) -> None:
        """The answer was damaged: ask again at the next call."""
        self._asked = None
