"""`robot-rl data verify`: check a store end to end without changing it.

Checks the schema, that the episode table covers the commit record without gaps, that timestamps
never go backwards inside an episode, that every step refers to samples of its own episode, that
every chunk holding committed rows is on disk (robot_rl.store.chunks), and that every chunk of
every array decodes with a matching crc32c checksum. Problems name the array,
the rows and the episode, so a user knows exactly what is damaged. A store that cannot be opened
at all (not a store, a newer schema, truncated) raises StoreError instead.
"""
from __future__ import annotations

import dataclasses
import fcntl
import os
import pathlib
from typing import Callable, Optional

import numpy as np

from robot_rl.log import get_logger
from robot_rl.store import chunks
from robot_rl.store import layout as L
from robot_rl.store.durable import LOCK_NAME
from robot_rl.store.reader import EpisodeStore
from robot_rl.store.schema import STATUS_NAMES, StoreError

log = get_logger(__name__)


@dataclasses.dataclass
class VerifyReport:
    path: str
    problems: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    episodes: int = 0
    chunks_checked: int = 0
    bytes_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def writer_active(path: pathlib.Path) -> bool:
    lock = pathlib.Path(path) / LOCK_NAME
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def verify(path: str | pathlib.Path, checksums: bool = True,
           progress: Optional[Callable[[str], None]] = None) -> VerifyReport:
    path = pathlib.Path(path)
    report = VerifyReport(str(path))
    # Chunks holding committed rows that are not on disk, found from the layout alone (the episode
    # table may be among them); zarr would read each as fill values.
    lay0 = L.open_checked(path)   # StoreError (not a store, newer, truncated) goes to the caller
    absent = [(label, rows, what) for label, arr, n in lay0.extents(lay0.attrs["commit"]) if lay0.complete_chunks
              for *rows, what in chunks.missing(arr, path, 0, n)]
    try:
        store = EpisodeStore.open(path)
    except StoreError as exc:
        if not absent and "episode table" not in str(exc):
            raise
        # a damaged episode table is a finding, not a crash: name each column that does not read
        report.problems += [f"{label}: {what}" for label, _, what in absent]
        n = lay0.attrs["commit"]["episodes"]
        for col, arr in lay0.episodes.items():
            if not any(label == f"episodes/{col}" for label, _, _ in absent):
                _safe(lambda: arr[:n], report, f"episodes/{col} (the episode table)")
        return report
    report.problems += [f"{label} ({_owners(label, rows, store)}): {what}" for label, rows, what in absent]
    if not lay0.complete_chunks:
        report.notes.append("this store was made before every chunk was written: a chunk missing from it "
                            "cannot be told from fill values, only decoding is checked")
    lay, commit, spec = store.layout, store.commit, store.spec
    episodes = store.episodes()
    report.episodes = len(episodes)

    # Uncommitted state: expected while a writer runs, a sign of a crash otherwise.
    active = writer_active(path)
    tails = [f"{label} ({arr.shape[0]} rows, {n} committed)" for label, arr, n in lay.extents(commit)
             if arr.shape[0] > n]
    if lay.attrs.get("recording") or tails:
        what = "an episode is being recorded" if lay.attrs.get("recording") else "uncommitted rows"
        if active:
            report.notes.append(f"a writer is active: {what} (not checked until committed)")
        else:
            report.problems.append(f"{what} left by a writer that stopped without committing "
                                   f"(e.g. {tails[0] if tails else 'recording record'}); run `robot-rl data repair`")

    # The episode table tiles [0, commit) of steps and of every stream, in order.
    nxt_steps, nxt = 0, {n: 0 for n in spec.stream_names}
    for ep in episodes:
        where = f"episode {ep.index}"
        if ep.status not in STATUS_NAMES.values():
            report.problems.append(f"{where}: unknown status {ep.status}")
        if ep.steps[0] != nxt_steps or ep.steps[1] < ep.steps[0]:
            report.problems.append(f"{where}: steps range {ep.steps} does not follow the previous episode ({nxt_steps})")
        nxt_steps = ep.steps[1]
        for n, (a, b) in ep.streams.items():
            if a != nxt[n] or b < a:
                report.problems.append(f"{where}: stream {n} range {(a, b)} does not follow the previous episode ({nxt[n]})")
            nxt[n] = b
    if nxt_steps != commit["steps"] or any(nxt[n] != commit["streams"].get(n) for n in nxt):
        report.problems.append("the episode table does not cover the committed rows exactly "
                               f"(steps {nxt_steps} vs {commit['steps']}, streams {nxt} vs {commit['streams']})")

    # Timestamps and step references, per episode.
    for ep in episodes:
        where = f"episode {ep.index}"
        for n in spec.stream_names:
            for clock in ("sensor", "receive"):
                t = _safe(lambda: store.stamps(ep, n, clock), report, f"{where}: streams/{n}/{clock}_ns")
                if t is not None and len(t) > 1 and np.any(np.diff(t) < 0):
                    k = int(np.argmax(np.diff(t) < 0))
                    report.problems.append(f"{where}: streams/{n}/{clock}_ns goes backwards at sample "
                                           f"{ep.streams[n][0] + k + 1} ({t[k]} -> {t[k + 1]})")
        steps = _safe(lambda: store.read_steps(ep, ["t_ns", "sample_index"]), report, f"{where}: steps")
        if steps is None:
            continue
        if len(steps["t_ns"]) > 1 and np.any(np.diff(steps["t_ns"]) < 0):
            report.problems.append(f"{where}: steps/t_ns goes backwards")
        for n, idx in steps["sample_index"].items():
            a, b = ep.streams[n]
            bad = (idx != -1) & ((idx < a) | (idx >= b))
            if np.any(bad):
                k = int(np.argmax(bad))
                report.problems.append(f"{where}: step {ep.steps[0] + k} refers to {n} sample {int(idx[k])}, "
                                       f"outside the episode's samples {a}..{b - 1}")

    if checksums:
        for label, arr, n in lay.extents(commit):
            if progress:
                progress(f"checking {label} ({n} rows)")
            _check_chunks(label, arr, n, store, report)
    return report


def _safe(fn, report: VerifyReport, where: str):
    try:
        return fn()
    except Exception as exc:
        report.problems.append(f"{where}: cannot be read ({_short(exc)})")
        return None


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    return text if len(text) < 160 else text[:157] + "..."


def _check_chunks(label: str, arr, n: int, store: EpisodeStore, report: VerifyReport) -> None:
    """Decode every chunk in [0, n); on a failure, find the bad chunk and name its episode."""
    chunk = arr.chunks[0]
    step = arr.shards[0] if arr.shards else chunk
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        try:
            block = arr[lo:hi]
            report.chunks_checked += -(-(hi - lo) // chunk)
            report.bytes_checked += block.nbytes
            continue
        except Exception:
            pass
        for c in range(lo, hi, chunk):
            try:
                arr[c:min(c + chunk, hi)]
                report.chunks_checked += 1
            except Exception as exc:
                rows = f"rows {c}..{min(c + chunk, hi) - 1}"
                report.problems.append(f"{label} {rows} ({_owners(label, [c, min(c + chunk, hi) - 1], store)}): "
                                       f"chunk is corrupt "
                                       f"({_short(exc)})")


def _owners(label: str, rows: list[int], store: EpisodeStore) -> str:
    """The episodes whose rows of `label` lie in [first, last]."""
    first, last = rows
    kind, name = label.split("/")[:2]
    eps = [ep.index for ep in store.episodes()
           if (kind == "streams" and ep.streams[name][0] <= last and first < ep.streams[name][1])
           or (kind == "steps" and ep.steps[0] <= last and first < ep.steps[1])
           or (kind == "episodes" and first <= ep.index <= last)]
    if not eps:
        return "no episode"
    return ("episode " if len(eps) == 1 else "episodes ") + ", ".join(map(str, eps))
