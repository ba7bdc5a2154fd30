"""Streaming episode writer: many streams at their own rates in, crash-safe episodes out.

    writer = StoreWriter(path, spec)           # creates the store, or opens it (after recovery)
    writer.begin_episode(task="my_task")
    i = writer.append("wrist_rgb", frame, sensor_ns=stamp)      # returns the sample's index
    writer.append_step(obs=o, action=a, sample_index={"wrist_rgb": i, "joints": j})
    writer.end_episode(success=True)           # returns once the episode is durable and visible
    writer.close()

`append` validates and queues; a background thread buffers samples and writes whole shards (the
unit zarr rewrites anyway), so the caller never waits for the disk. The queue is bounded in bytes:
when the disk falls behind, `append` blocks (counted in `stats.blocked`), and after
`max_block_s` it raises WriterBackpressure (counted in `stats.dropped`): never a silent drop.

Durability protocol (docs/DATA_FORMAT.md): data is written first, then fsynced, then the episode's
row, then the root `commit` record is replaced atomically. While recording, the writer also
records how far the in-progress episode is durable (`recording.durable`), so after a kill -9 the
next open (or `robot-rl data repair`) keeps that part as an `aborted` episode and truncates the rest.

Over 400 lines on purpose: the caller's side and the writer thread share one durability protocol
(docs/DATA_FORMAT.md), which is easier to check read in one place than split.
"""
from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import pathlib
import threading
import time
from typing import Any, Optional

import numpy as np

from robot_rl import config
from robot_rl.log import get_logger
from robot_rl.store import layout as L
from robot_rl.store.repair import recover
from robot_rl.store.durable import WriterLock
from robot_rl.store.schema import STATUS_CODES, SUCCESS_NO, SUCCESS_UNKNOWN, SUCCESS_YES, StoreError, StoreSpec

log = get_logger(__name__)


class WriterBackpressure(RuntimeError):
    """The write queue stayed full for max_block_s; this sample was not recorded (and is counted)."""


@dataclasses.dataclass
class WriterConfig:
    max_queue_mb: float = 1024.0   # samples waiting for the disk, in MB of raw data
    max_block_s: float = 2.0       # how long append() may block on a full queue before raising
    flush_interval_s: float = 1.0  # partial shards are written and made durable at least this often
    fsync: bool = True             # fsync before every durable record (off only for throwaway data)
    keep_interrupted: bool = True  # on open, keep a crashed episode as aborted (False: a replica drops it)

    def validate(self) -> None:
        if self.max_queue_mb <= 0 or self.max_block_s < 0 or self.flush_interval_s <= 0:
            raise ValueError("max_queue_mb and flush_interval_s must be > 0, max_block_s >= 0")


@dataclasses.dataclass
class WriterStats:
    samples: dict[str, int] = dataclasses.field(default_factory=dict)  # appended per stream
    steps: int = 0
    raw_mb: float = 0.0            # raw bytes appended
    queue_peak_mb: float = 0.0
    blocked: int = 0               # appends that had to wait for queue space
    blocked_s: float = 0.0
    dropped: int = 0               # appends refused after max_block_s (WriterBackpressure)
    shard_writes: int = 0
    durable_records: int = 0
    commits: int = 0
    last_commit_latency_s: float = 0.0   # end_episode() call -> episode durable and visible
    max_commit_latency_s: float = 0.0


@dataclasses.dataclass
class CommitResult:
    episode: int
    status: str
    steps: int
    samples: dict[str, int]
    latency_s: float


class _ByteQueue:
    """FIFO bounded by the bytes it holds (a frame is 1 MB, a joint sample 100 bytes)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.peak = 0
        self._items: collections.deque = collections.deque()
        self._cv = threading.Condition()

    def put(self, item: Any, nbytes: int = 0, timeout: float | None = None) -> float:
        """Returns seconds spent waiting; raises TimeoutError if there was no room in time."""
        with self._cv:
            waited = 0.0
            if nbytes and self.bytes + nbytes > self.max_bytes and self.bytes > 0:
                t0 = time.monotonic()
                ok = self._cv.wait_for(lambda: self.bytes + nbytes <= self.max_bytes or self.bytes == 0, timeout)
                waited = time.monotonic() - t0
                if not ok:
                    raise TimeoutError(waited)
            self._items.append((item, nbytes))
            self.bytes += nbytes
            self.peak = max(self.peak, self.bytes)
            self._cv.notify_all()
            return waited

    def get(self, timeout: float) -> Any:
        with self._cv:
            if not self._cv.wait_for(lambda: self._items, timeout):
                return None
            item, nbytes = self._items.popleft()
            self.bytes -= nbytes
            self._cv.notify_all()
            return item


class _Column:
    """Samples of one array waiting to be written, and how many rows it holds on disk."""

    def __init__(self, array: Any, on_disk: int) -> None:
        self.array = array
        self.on_disk = on_disk
        self.pending: list[np.ndarray] = []

    def write(self, count: int | None = None) -> int:
        """Append the first `count` pending rows (all by default). Returns rows written."""
        rows = self.pending if count is None else self.pending[:count]
        if not rows:
            return 0
        block = np.stack(rows)
        n = self.on_disk
        self.array.resize((n + len(rows), *self.array.shape[1:]))
        self.array[n:n + len(rows)] = block
        self.on_disk += len(rows)
        del self.pending[:len(rows)]
        return len(rows)


class StoreWriter:
    def __init__(self, path: str | pathlib.Path, spec: Optional[StoreSpec] = None,
                 config: Optional[WriterConfig] = None) -> None:
        self.path = pathlib.Path(path)
        self.config = config or WriterConfig()
        if not (self.path / "zarr.json").exists():
            if spec is None:
                raise StoreError(f"{self.path}: no store here, and no spec to create one")
            L.create(self.path, spec)
            log.info("created store %s (%d streams)", self.path, len(spec.streams))
        L.open_checked(self.path, for_writing=True)  # damaged or read-only: an error before we lock or write
        self._lock = WriterLock(self.path)
        self._lock.acquire()
        try:
            self.recovery = recover(self.path, keep_interrupted=self.config.keep_interrupted)
            self._layout = L.StoreLayout(self.path, read_only=False)
        except BaseException:
            self._lock.release()
            raise
        self.spec = self._layout.spec
        if spec is not None and _plain(spec) != _plain(self.spec):
            self._lock.release()
            raise StoreError(f"{self.path}: the store was created with a different spec (streams, steps "
                             "or robot); write to a new store or pass the store's own spec")
        commit = self._layout.root.attrs["commit"]
        self._episodes = commit["episodes"]
        self._next = dict(commit["streams"])
        self._next_step = commit["steps"]
        self._specs = {s.name: s for s in self.spec.streams}
        self._last_stamp: dict[str, tuple[int, int]] = {}
        self._last_step_t = -1
        self._episode: Optional[dict[str, Any]] = None
        self.stats = WriterStats(samples={n: 0 for n in self._next})
        self._queue = _ByteQueue(int(self.config.max_queue_mb * 1e6))
        self._error: Optional[BaseException] = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    # --- caller side --------------------------------------------------------------------------
    @property
    def episode_open(self) -> bool:
        return self._episode is not None

    @property
    def queue_mb(self) -> float:
        """Raw data waiting for the disk."""
        return self._queue.bytes / 1e6

    @property
    def committed_episodes(self) -> int:
        return self._episodes

    def begin_episode(self, task: str = "", notes: str = "", start_ns: Optional[int] = None) -> int:
        """Start recording an episode; returns the index it will have when committed. `start_ns`
        (default now) is given by a replica copying another store's episode (store.replica)."""
        self._check()
        if self._episode is not None:
            raise StoreError("an episode is already being recorded; end_episode() it first")
        start_ns = _stamp(time.time_ns() if start_ns is None else start_ns, "start_ns")
        self._episode = {"task": str(task), "notes": str(notes), "start_ns": start_ns,
                         "streams": dict(self._next), "steps": self._next_step}
        self._last_stamp.clear()
        self._last_step_t = -1
        self._queue.put(("begin", dict(self._episode)))
        return self._episodes

    def append(self, stream: str, sample: Any, sensor_ns: int, receive_ns: Optional[int] = None) -> int:
        """Queue one sample; returns its index in the stream (what steps refer to)."""
        self._check()
        if self._episode is None:
            raise StoreError("no episode is being recorded: call begin_episode() first")
        spec = self._specs.get(stream)
        if spec is None:
            raise ValueError(f"unknown stream {stream!r} (streams: {', '.join(self._specs)})")
        data = np.asarray(sample)
        if tuple(data.shape) != tuple(spec.shape):
            raise ValueError(f"stream {stream}: sample shape {tuple(data.shape)} != {tuple(spec.shape)}")
        dtype = np.dtype(spec.dtype)
        if data.dtype != dtype and not np.can_cast(data.dtype, dtype, casting="same_kind"):
            raise ValueError(f"stream {stream}: sample dtype {data.dtype} cannot be stored as {dtype}")
        receive_ns = time.time_ns() if receive_ns is None else receive_ns
        sensor_ns, receive_ns = _stamp(sensor_ns, "sensor_ns"), _stamp(receive_ns, "receive_ns")
        last = self._last_stamp.get(stream)
        if last is not None and (sensor_ns < last[0] or receive_ns < last[1]):
            raise ValueError(f"stream {stream}: timestamps went backwards (sensor {last[0]} -> {sensor_ns}, "
                             f"receive {last[1]} -> {receive_ns})")
        data = np.array(data, dtype=dtype, copy=True, order="C")  # ours now: the caller may reuse its buffer
        try:
            waited = self._queue.put(("sample", stream, data, sensor_ns, receive_ns), data.nbytes,
                                     timeout=self.config.max_block_s)
        except TimeoutError:
            self.stats.blocked += 1
            self.stats.blocked_s += self.config.max_block_s
            self.stats.dropped += 1
            log.error("writer queue full for %.1f s: sample %s not recorded (%d dropped so far)",
                      self.config.max_block_s, stream, self.stats.dropped)
            raise WriterBackpressure(f"stream {stream}: write queue full for {self.config.max_block_s:g} s") from None
        if waited:
            self.stats.blocked += 1
            self.stats.blocked_s += waited
        self._last_stamp[stream] = (sensor_ns, receive_ns)
        index = self._next[stream]
        self._next[stream] += 1
        self.stats.samples[stream] += 1
        self.stats.raw_mb += data.nbytes / 1e6
        self.stats.queue_peak_mb = self._queue.peak / 1e6
        return index

    def append_step(self, obs: Any, action: Any, *, base_action: Any = None, human_action: Any = None,
                    executed_action: Any = None, intervention: bool = False, reward: float = 0.0,
                    done: bool = False, terminal: bool = False, policy_version: int = 0,
                    sample_index: Optional[dict[str, int]] = None, t_ns: Optional[int] = None,
                    hold: bool = False) -> int:
        """Queue one control step. Missing base/human actions are stored as NaN; the executed
        action defaults to `action`. `sample_index` names the samples the policy used (the recorder's
        estimate for cameras: docs/DATA_FORMAT.md);
        `hold`: the control node's safety layer held the robot on this step (stale input, NaN,
        e-stop) instead of sending the policy's or the human's action."""
        self._check()
        if self._episode is None:
            raise StoreError("no episode is being recorded: call begin_episode() first")
        sdim, adim = self.spec.steps.obs_dim, self.spec.steps.action_dim
        row: dict[str, Any] = {
            "obs": _vector(obs, sdim, "obs"),
            "action": _vector(action, adim, "action"),
            "base_action": _vector(base_action, adim, "base_action"),
            "human_action": _vector(human_action, adim, "human_action"),
            "executed_action": _vector(action if executed_action is None else executed_action, adim,
                                       "executed_action"),
        }
        t_ns = _stamp(time.time_ns() if t_ns is None else t_ns, "t_ns")
        if t_ns < self._last_step_t:
            raise ValueError(f"step t_ns went backwards ({self._last_step_t} -> {t_ns})")
        index = np.full(len(self.spec.streams), -1, dtype=np.int64)
        for name, i in (sample_index or {}).items():
            if name not in self._specs:
                raise ValueError(f"sample_index: unknown stream {name!r}")
            i = int(i)
            if i != -1 and not self._episode["streams"][name] <= i < self._next[name]:
                raise ValueError(f"sample_index[{name}]={i} is not a sample of this episode "
                                 f"(valid: {self._episode['streams'][name]}..{self._next[name] - 1}, or -1)")
            index[self.spec.stream_names.index(name)] = i
        row.update({"t_ns": np.int64(t_ns), "intervention": np.bool_(intervention), "reward": np.float32(reward),
                    "done": np.bool_(done), "terminal": np.bool_(terminal),
                    "policy_version": np.int64(policy_version), "hold": np.bool_(hold), "sample_index": index})
        self._queue.put(("step", row), 64 + 4 * (sdim + 4 * adim))
        self._last_step_t = t_ns
        step = self._next_step
        self._next_step += 1
        self.stats.steps += 1
        return step

    def end_episode(self, status: str = "complete", success: Optional[bool] = None, notes: Optional[str] = None,
                    wait: bool = True, end_ns: Optional[int] = None) -> "CommitResult | concurrent.futures.Future[CommitResult]":
        """Commit the episode: returns once it is durable and visible to readers (or a Future).
        `end_ns` (default now): as begin_episode's start_ns."""
        self._check()
        if self._episode is None:
            raise StoreError("no episode is being recorded")
        if status not in STATUS_CODES:
            raise ValueError(f"status must be one of {', '.join(STATUS_CODES)}, got {status!r}")
        ep = self._episode
        end_ns = _stamp(time.time_ns() if end_ns is None else end_ns, "end_ns")
        ep.update({"status": STATUS_CODES[status], "end_ns": end_ns,
                   "success": SUCCESS_UNKNOWN if success is None else (SUCCESS_YES if success else SUCCESS_NO),
                   "end_streams": dict(self._next), "end_steps": self._next_step, "called": time.monotonic()})
        if notes is not None:
            ep["notes"] = str(notes)
        self._episode = None
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put(("commit", ep, future))
        self._episodes += 1
        if not wait:
            return future
        return future.result()

    def flush(self) -> None:
        """Write everything queued so far and make the in-progress part durable."""
        self._check()
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put(("flush", future))
        future.result()

    def close(self, abort_open_episode: bool = True) -> None:
        """Stop the writer. An open episode is committed as `aborted` (nothing recorded is lost)."""
        if self._closed:
            return
        try:
            if self._episode is not None and self._error is None and abort_open_episode:
                log.warning("closing with an episode open: committing it as aborted")
                self.end_episode(status="aborted")
        finally:
            self._closed = True
            self._queue.put(("stop",))
            self._thread.join()
            self._lock.release()
        if self._error is not None:
            raise StoreError(f"{self.path}: the writer failed: {self._error}") from self._error

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _check(self) -> None:
        if self._closed:
            raise StoreError("the writer is closed")
        if self._error is not None:
            raise StoreError(f"{self.path}: the writer failed: {self._error!r}; the open episode's durable "
                             "part will be recovered as aborted on the next open") from self._error

    # --- writer thread ------------------------------------------------------------------------
    def _run(self) -> None:
        lay = self._layout
        self._cols = {n: [_Column(lay.streams[n][k], lay.streams[n][k].shape[0]) for k in
                          ("data", "sensor_ns", "receive_ns")] for n in lay.streams}
        self._step_cols = {k: _Column(a, a.shape[0]) for k, a in lay.steps.items()}
        self._recording: Optional[dict[str, Any]] = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="store-io")
        try:
            self._loop()
        finally:
            self._pool.shutdown()

    def _loop(self) -> None:
        last_durable = time.monotonic()
        while True:
            timeout = max(0.0, self.config.flush_interval_s - (time.monotonic() - last_durable))
            item = self._queue.get(timeout=timeout)
            try:
                if item is None or time.monotonic() - last_durable >= self.config.flush_interval_s:
                    if self._recording is not None and self._error is None:
                        self._make_durable()
                    last_durable = time.monotonic()
                if item is None:
                    continue
                kind = item[0]
                if kind == "stop":
                    return
                if self._error is not None:  # after a failure, only answer futures
                    if kind in ("commit", "flush"):
                        item[-1].set_exception(StoreError(f"writer failed: {self._error!r}"))
                    continue
                if kind == "sample":
                    _, name, data, sensor_ns, receive_ns = item
                    cols = self._cols[name]
                    cols[0].pending.append(data)
                    cols[1].pending.append(np.int64(sensor_ns))
                    cols[2].pending.append(np.int64(receive_ns))
                    self._write_full_shards(cols, self._specs[name].shard_len)
                elif kind == "step":
                    cols = list(self._step_cols.values())
                    for k, col in self._step_cols.items():
                        col.pending.append(item[1][k])
                    self._write_full_shards(cols, self.spec.steps.shard_len)
                elif kind == "begin":
                    self._recording = {k: item[1][k] for k in ("task", "notes", "start_ns")}
                    self._make_durable()
                    last_durable = time.monotonic()
                elif kind == "commit":
                    item[2].set_result(self._commit(item[1]))
                elif kind == "flush":
                    self._make_durable()
                    item[1].set_result(None)
            except BaseException as exc:  # disk full, permission... keep the thread alive to report it
                log.error("store writer failed: %r", exc)
                self._error = exc
                if item is not None and item[0] in ("commit", "flush"):
                    item[-1].set_exception(exc)

    def _write_full_shards(self, cols: list[_Column], shard_len: int) -> None:
        """Write pending rows up to the next shard boundary once they fill it: whole shards only."""
        need = shard_len - cols[0].on_disk % shard_len
        if len(cols[0].pending) >= need:
            for col in cols:
                col.write(need)
            self.stats.shard_writes += 1

    def _flush_all(self) -> None:
        """Write every pending row of every array. Arrays are independent files, so they are
        written concurrently: encoding runs in C outside the GIL, and this is commit latency."""
        cols = [c for group in (*self._cols.values(), self._step_cols.values()) for c in group if c.pending]
        for _ in self._pool.map(lambda c: c.write(), cols):
            pass

    def _sync(self) -> None:
        if self.config.fsync:
            self._layout.store.sync()

    def _make_durable(self) -> None:
        """Write every pending row, fsync, then record how far the open episode is durable."""
        self._flush_all()
        self._sync()
        if self._recording is not None:
            durable = {"steps": self._step_cols["t_ns"].on_disk,
                       "streams": {n: c[0].on_disk for n, c in self._cols.items()}}
            self._layout.root.attrs.update({"recording": {**self._recording, "durable": durable}})
            self._sync()
            self.stats.durable_records += 1

    def _commit(self, ep: dict[str, Any]) -> CommitResult:
        self._flush_all()
        e = self._episodes_on_disk()
        names = self.spec.stream_names
        L.write_episode_row(self._layout, e, status=ep["status"], success=ep["success"], start_ns=ep["start_ns"],
                            end_ns=ep["end_ns"], steps=(ep["steps"], ep["end_steps"]),
                            streams={n: (ep["streams"][n], ep["end_streams"][n]) for n in names},
                            task=ep["task"], notes=ep["notes"], pool=self._pool)
        self._sync()  # data and the episode's row are durable before the commit record names them
        commit = {"episodes": e + 1, "steps": ep["end_steps"], "streams": dict(ep["end_streams"])}
        self._layout.root.attrs.update({"commit": commit, "recording": None})
        self._sync()
        self._recording = None
        latency = time.monotonic() - ep["called"]
        self.stats.commits += 1
        self.stats.last_commit_latency_s = latency
        self.stats.max_commit_latency_s = max(self.stats.max_commit_latency_s, latency)
        status = {v: k for k, v in STATUS_CODES.items()}[ep["status"]]
        return CommitResult(episode=e, status=status, steps=ep["end_steps"] - ep["steps"],
                            samples={n: ep["end_streams"][n] - ep["streams"][n] for n in names}, latency_s=latency)

    def _episodes_on_disk(self) -> int:
        return int(self._layout.root.attrs["commit"]["episodes"])


def _stamp(value: Any, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{what} must be an integer number of nanoseconds, got {value!r}")
    value = int(value)
    if value < 0:
        raise ValueError(f"{what} must be >= 0, got {value}")
    return value


def _vector(value: Any, dim: int, what: str) -> np.ndarray:
    if value is None:
        return np.full(dim, np.nan, dtype=np.float32)
    arr = np.asarray(value, dtype=np.float32).reshape(-1)
    if arr.shape[0] != dim:
        raise ValueError(f"{what} has {arr.shape[0]} values, expected {dim}")
    return arr


def _plain(spec: StoreSpec) -> Any:
    return config.to_dict(spec)
