"""Read-only access to an episode store, safe while another process writes it.

    store = EpisodeStore.open("data/session.zarr")
    for ep in store.episodes(status="complete"):
        frames, sensor_ns, receive_ns = store.read_stream(ep, "wrist_rgb")
        q = store.sample_at(ep, "joints", t_ns, interpolate=True)
    for ep in store.follow(timeout_s=60):       # new episodes as another process commits them
        ...

Only what the root `commit` record names is visible: a half-written episode never shows up.
"""
from __future__ import annotations

import dataclasses
import pathlib
import time
from typing import Any, Iterator, Optional

import numpy as np

from robot_rl.store import chunks
from robot_rl.store import layout as L
from robot_rl.store.fastread import ShardedSampleReader
from robot_rl.store.schema import STATUS_CODES, STATUS_NAMES, SUCCESS_UNKNOWN, SUCCESS_YES, StoreError, StoreSpec

CLOCKS = ("sensor", "receive")
READ_TRIES = 4   # reads of rows whose shard a writer replaced meanwhile (EpisodeStore._rows)


@dataclasses.dataclass(frozen=True)
class Episode:
    index: int
    status: str
    success: Optional[bool]
    task: str
    notes: str
    start_ns: int
    end_ns: int
    steps: tuple[int, int]                     # [start, end) into steps/
    streams: dict[str, tuple[int, int]]        # [start, end) into streams/<name>/

    @property
    def num_steps(self) -> int:
        return self.steps[1] - self.steps[0]

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    def num_samples(self, stream: str) -> int:
        a, b = self.streams[stream]
        return b - a


class EpisodeStore:
    def __init__(self, path: str | pathlib.Path) -> None:
        self.path = pathlib.Path(path)
        self._episodes: list[Episode] = []
        self._commit: dict[str, Any] = {}
        self._layout: Optional[L.StoreLayout] = None
        self._readers: dict[str, tuple[L.StoreLayout, ShardedSampleReader]] = {}
        self.refresh()

    @classmethod
    def open(cls, path: str | pathlib.Path) -> "EpisodeStore":
        return cls(path)

    @property
    def spec(self) -> StoreSpec:
        return self.layout.spec

    @property
    def layout(self) -> L.StoreLayout:
        assert self._layout is not None
        return self._layout

    @property
    def attrs(self) -> dict[str, Any]:
        return self.layout.attrs

    @property
    def commit(self) -> dict[str, Any]:
        return self._commit

    def refresh(self) -> int:
        """Re-read the commit record; returns how many episodes became visible."""
        attrs = L.read_root_attrs(self.path)
        commit = attrs["commit"]
        if self._layout is None or commit != self._commit:
            # Array shapes are cached when opened, so reopen to see rows appended since.
            self._layout = L.StoreLayout(self.path, read_only=True)
            self._layout.attrs = attrs
            self._layout.check_extents(commit)
        old = len(self._episodes)
        n = int(commit["episodes"])
        if n > old:
            self._episodes.extend(self._read_episode_rows(old, n))
        self._commit = commit
        return n - old

    def _rows(self, arr: Any, a: int, b: int) -> np.ndarray:
        """Rows [a, b) of one array, after checking their chunks are on disk (a store that writes
        every chunk: zarr would read an absent one as its fill value).

        zarr reads a shard in two steps (its index, then the chunks' bytes); a writer appending to
        the same shard meanwhile replaces the file (atomically), so the chunk bytes may come from
        the newer file and fail their checksum. The committed rows are the same in both files, so
        such a read is made again; one that fails READ_TRIES times is damage and raised."""
        for attempt in range(1, READ_TRIES):
            try:
                return self._checked_read(arr, a, b)
            except (ValueError, RuntimeError, chunks.MissingChunkError):   # a crc32c mismatch, torn bytes, a torn index
                time.sleep(0.005 * attempt)
        return self._checked_read(arr, a, b)   # the last try: its error is the store's damage

    def _checked_read(self, arr: Any, a: int, b: int) -> np.ndarray:
        if self.layout.complete_chunks:   # the same race: a shard replaced while its index is read
            chunks.require(arr, self.path, a, b)
        return arr[a:b]

    def _read_episode_rows(self, a: int, b: int) -> list[Episode]:
        cols = {}
        for k, arr in self.layout.episodes.items():
            try:
                cols[k] = self._rows(arr, a, b)
            except StoreError:
                raise
            except Exception as exc:  # a chunk that fails its checksum or does not decode
                raise StoreError(f"{self.path}: the episode table's episodes/{k} rows {a}..{b - 1} cannot be read "
                                 f"({str(exc).splitlines()[0][:120] if str(exc) else exc.__class__.__name__}); "
                                 "the store is damaged (robot-rl data verify)") from None
        names = self.spec.stream_names
        out = []
        for i in range(b - a):
            success = int(cols["success"][i])
            out.append(Episode(
                index=a + i, status=STATUS_NAMES.get(int(cols["status"][i]), f"unknown({int(cols['status'][i])})"),
                success=None if success == SUCCESS_UNKNOWN else success == SUCCESS_YES,
                task=str(cols["task"][i]), notes=str(cols["notes"][i]),
                start_ns=int(cols["start_ns"][i]), end_ns=int(cols["end_ns"][i]),
                steps=(int(cols["steps"][i, 0]), int(cols["steps"][i, 1])),
                streams={n: (int(cols["streams"][i, j, 0]), int(cols["streams"][i, j, 1])) for j, n in enumerate(names)},
            ))
        return out

    # --- episodes -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._episodes)

    def episode(self, index: int) -> Episode:
        if not 0 <= index < len(self._episodes):
            raise StoreError(f"{self.path}: no episode {index} (the store has {len(self._episodes)})")
        return self._episodes[index]

    def episodes(self, status: Optional[str | list[str]] = None, success: Optional[bool] = None,
                 task: Optional[str] = None) -> list[Episode]:
        """Committed episodes, optionally filtered by status name(s), success and task."""
        statuses = [status] if isinstance(status, str) else status
        for s in statuses or []:
            if s not in STATUS_CODES:
                raise ValueError(f"status must be one of {', '.join(STATUS_CODES)}, got {s!r}")
        return [e for e in self._episodes
                if (statuses is None or e.status in statuses) and (success is None or e.success == success)
                and (task is None or e.task == task)]

    def follow(self, poll_s: float = 0.1, timeout_s: Optional[float] = None,
               from_episode: Optional[int] = None) -> Iterator[Episode]:
        """Yield episodes as they are committed (starting after those visible now, or at
        `from_episode`). Stops after `timeout_s` without a new episode (None: never)."""
        nxt = len(self._episodes) if from_episode is None else from_episode
        idle_since = time.monotonic()
        while True:
            while nxt < len(self._episodes):
                yield self._episodes[nxt]
                nxt += 1
                idle_since = time.monotonic()
            if timeout_s is not None and time.monotonic() - idle_since >= timeout_s:
                return
            time.sleep(poll_s)
            self.refresh()

    # --- streams ------------------------------------------------------------------------------
    def _stream(self, name: str) -> dict[str, Any]:
        if name not in self.layout.streams:
            raise KeyError(f"no stream {name!r} (streams: {', '.join(self.layout.streams) or 'none'})")
        return self.layout.streams[name]

    def read_stream(self, ep: Episode | int, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(samples, sensor_ns, receive_ns) of one stream over one episode."""
        ep = self.episode(ep) if isinstance(ep, int) else ep
        arrs = self._stream(name)
        a, b = ep.streams[name]
        return self._rows(arrs["data"], a, b), self._rows(arrs["sensor_ns"], a, b), self._rows(arrs["receive_ns"], a, b)

    def stamps(self, ep: Episode | int, name: str, clock: str = "sensor") -> np.ndarray:
        if clock not in CLOCKS:
            raise ValueError(f"clock must be 'sensor' or 'receive', got {clock!r}")
        ep = self.episode(ep) if isinstance(ep, int) else ep
        a, b = ep.streams[name]
        return self._rows(self._stream(name)[f"{clock}_ns"], a, b)

    def read_samples(self, name: str, indices: np.ndarray) -> np.ndarray:
        """Samples by global stream index (what steps/sample_index holds), in the order given."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size == 0:
            spec = self.spec.stream(name)
            return np.empty((0, *spec.shape), dtype=spec.dtype)
        end = self._commit["streams"][name]
        if idx.min() < 0 or idx.max() >= end:
            raise IndexError(f"stream {name}: index out of range 0..{end - 1}")
        return self._sample_reader(name).read(idx)

    def _sample_reader(self, name: str) -> ShardedSampleReader:
        layout = self.layout
        cached = self._readers.get(name)
        if cached is None or cached[0] is not layout:  # arrays were reopened by refresh()
            arr = self._stream(name)["data"]
            cached = (layout, ShardedSampleReader(arr, self.path / "streams" / name / "data",
                                                  complete=layout.complete_chunks))
            self._readers[name] = cached
        return cached[1]

    def sample_at(self, ep: Episode | int, name: str, t_ns: int | np.ndarray, clock: str = "sensor",
                  interpolate: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The stream's value at time(s) t_ns: the latest sample at or before t (index -1 and
        NaN/zeros if none), or, with `interpolate`, linear between the neighbours (vector streams;
        clamped at the ends). Returns (values, indices of the sample at or before t)."""
        ep = self.episode(ep) if isinstance(ep, int) else ep
        t = np.atleast_1d(np.asarray(t_ns, dtype=np.int64))
        stamps = self.stamps(ep, name, clock)
        a, _ = ep.streams[name]
        local = np.searchsorted(stamps, t, side="right") - 1
        spec = self.spec.stream(name)
        if interpolate:
            if spec.is_image:
                raise ValueError(f"stream {name}: interpolation is for vector streams, not images")
            values = self.read_stream(ep, name)[0].astype(np.float64)
            if len(stamps) == 0:
                raise ValueError(f"stream {name} has no samples in episode {ep.index}")
            flat = values.reshape(len(values), -1)
            out = np.stack([np.interp(t, stamps, flat[:, k]) for k in range(flat.shape[1])], axis=-1)
            values = out.reshape((len(t), *spec.shape))
        else:
            safe = np.clip(local, 0, max(len(stamps) - 1, 0))
            if len(stamps) == 0:
                values = np.zeros((len(t), *spec.shape), dtype=spec.dtype)
            else:
                values = self.read_samples(name, a + safe)
            if np.any(local < 0):
                values = values.astype(np.float64) if values.dtype.kind != "f" else values
                values[local < 0] = np.nan
        index = np.where(local >= 0, a + local, -1)
        if np.ndim(t_ns) == 0:
            return values[0], index[0]
        return values, index

    # --- steps --------------------------------------------------------------------------------
    def read_steps(self, ep: Episode | int, columns: Optional[list[str]] = None) -> dict[str, np.ndarray]:
        """Columns of steps/ over one episode (all by default). sample_index comes back as a dict
        per stream."""
        ep = self.episode(ep) if isinstance(ep, int) else ep
        a, b = ep.steps
        cols = columns or [*self.layout.steps, *self.layout.missing_steps]
        out: dict[str, Any] = {}
        for k in cols:
            if k in self.layout.missing_steps:   # a column this store predates: its fill value
                out[k] = np.zeros(b - a, L.STEP_SCALARS[k])
            elif k not in self.layout.steps:
                raise KeyError(f"no step column {k!r} (columns: {', '.join(self.layout.steps)})")
            else:
                out[k] = self._rows(self.layout.steps[k], a, b)
        if "sample_index" in out:
            si = out.pop("sample_index")
            out["sample_index"] = {n: si[:, j] for j, n in enumerate(self.spec.stream_names)}
        return out

    def iter_steps(self, ep: Episode | int, streams: Optional[list[str]] = None,
                   block: int = 256) -> Iterator[dict[str, Any]]:
        """Each step of an episode with the exact samples it used (`samples[name]`, None if unused).
        Samples are read `block` steps at a time, so memory stays bounded on long episodes."""
        ep = self.episode(ep) if isinstance(ep, int) else ep
        steps = self.read_steps(ep)
        names = streams if streams is not None else self.spec.stream_names
        for lo in range(0, ep.num_steps, block):
            hi = min(lo + block, ep.num_steps)
            samples = {}
            for n in names:
                idx = steps["sample_index"][n][lo:hi]
                samples[n] = (idx, self.read_samples(n, idx[idx >= 0]), np.cumsum(idx >= 0) - 1)
            for i in range(lo, hi):
                row = {k: v[i] for k, v in steps.items() if k != "sample_index"}
                row["sample_index"] = {n: int(v[i]) for n, v in steps["sample_index"].items()}
                row["samples"] = {}
                for n in names:
                    idx, data, pos = samples[n]
                    row["samples"][n] = None if idx[i - lo] < 0 else data[pos[i - lo]]
                yield row
