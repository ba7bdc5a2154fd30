"""Crash recovery: make a store's disk state match its commit record again.

After a kill -9 the store may hold, beyond the committed extents, rows written for the episode
that was being recorded (some durable, some not) and zarr's `*.partial` temporary files. Recovery
keeps the durable part of that episode as an `aborted` episode (or drops it cleanly when nothing of
it is durable), then truncates every array to the committed extents. It never touches committed rows.
A replica (store.replica) drops the interrupted episode instead: its source still has it whole.
The writer runs it on every open; `robot-rl data repair` runs it by hand.
"""
from __future__ import annotations

import dataclasses
import pathlib
import time
from typing import Optional

from robot_rl.log import get_logger
from robot_rl.store import layout as L
from robot_rl.store.schema import STATUS_ABORTED, SUCCESS_UNKNOWN

log = get_logger(__name__)
RECOVERED_NOTE = "[recovered: the writer stopped before committing this episode]"


@dataclasses.dataclass
class RecoveryReport:
    recovered_episode: Optional[int] = None        # index of the episode kept as aborted
    recovered_steps: int = 0
    recovered_samples: dict[str, int] = dataclasses.field(default_factory=dict)
    dropped_recording: bool = False                # an in-progress episode with nothing durable, or a replica's
    truncated: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)  # label: (rows, kept)
    partial_files: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.recovered_episode is not None or self.dropped_recording or self.truncated
                    or self.partial_files)

    def lines(self) -> list[str]:
        out = []
        if self.recovered_episode is not None:
            samples = ", ".join(f"{k} {v}" for k, v in self.recovered_samples.items())
            out.append(f"kept the interrupted episode as aborted episode {self.recovered_episode}: "
                       f"{self.recovered_steps} steps; samples: {samples}")
        if self.dropped_recording:
            out.append("dropped an interrupted episode (nothing of it durable, or the store is a replica)")
        for label, (rows, kept) in self.truncated.items():
            out.append(f"truncated {label}: {rows} -> {kept} rows (uncommitted tail)")
        if self.partial_files:
            out.append(f"removed {self.partial_files} temporary *.partial file(s)")
        return out or ["nothing to repair"]


def recover(path: pathlib.Path, keep_interrupted: bool = True) -> RecoveryReport:
    """Bring the store at `path` back to its commit record. Caller holds the writer lock.
    keep_interrupted=False: drop the interrupted episode's rows (a replica's), keep nothing of it."""
    report = RecoveryReport()
    lay = L.StoreLayout(path, read_only=False)
    attrs = lay.root.attrs.asdict()
    commit, rec = attrs["commit"], attrs.get("recording")
    if rec:
        durable = rec.get("durable") or {"steps": commit["steps"], "streams": commit["streams"]}
        # Clamp to what is really on disk (a record is written only after its rows, so this is a guard).
        ends = {n: min(int(durable["streams"].get(n, commit["streams"][n])), lay.streams[n]["data"].shape[0],
                       lay.streams[n]["sensor_ns"].shape[0], lay.streams[n]["receive_ns"].shape[0])
                for n in lay.streams}
        end_steps = min([int(durable["steps"])] + [a.shape[0] for a in lay.steps.values()])
        grew = end_steps > commit["steps"] or any(ends[n] > commit["streams"][n] for n in ends)
        if grew and keep_interrupted:
            e = int(commit["episodes"])
            last = [int(lay.streams[n]["receive_ns"][ends[n] - 1]) for n in ends if ends[n] > commit["streams"][n]]
            ranges = {n: (int(commit["streams"][n]), ends[n]) for n in lay.spec.stream_names}
            L.write_episode_row(lay, e, status=STATUS_ABORTED, success=SUCCESS_UNKNOWN,
                                start_ns=rec.get("start_ns", 0), end_ns=max(last) if last else rec.get("start_ns", 0),
                                steps=(int(commit["steps"]), end_steps), streams=ranges, task=rec.get("task", ""),
                                notes=(str(rec.get("notes", "")) + " " + RECOVERED_NOTE).strip())
            lay.store.sync()
            report.recovered_episode = e
            report.recovered_steps = end_steps - int(commit["steps"])
            report.recovered_samples = {n: b - a for n, (a, b) in ranges.items()}
            commit = {"episodes": e + 1, "steps": end_steps, "streams": ends}
        else:
            report.dropped_recording = True
        lay.root.attrs.update({"commit": {**commit, "updated_ns": time.time_ns()}, "recording": None})
        lay.store.sync()
    # Truncate everything past the commit record. Shrinking deletes whole chunks/shards past the
    # end; rows of a kept shard past the end are overwritten by the next append before they count.
    lay.check_extents(commit)
    for label, arr, keep in lay.extents(commit):
        rows = arr.shape[0]
        if rows > keep:
            arr.resize((keep, *arr.shape[1:]))
            report.truncated[label] = (rows, keep)
    for tmp in pathlib.Path(path).rglob("*.partial"):
        tmp.unlink(missing_ok=True)
        report.partial_files += 1
    lay.store.sync()
    for line in report.lines() if report.changed else []:
        log.warning("%s: %s", path, line)
    return report


def repair(path: pathlib.Path) -> RecoveryReport:
    """`robot-rl data repair`: recover under the writer lock (refuses while a writer is running)."""
    from robot_rl.store.durable import WriterLock
    L.open_checked(path, for_writing=True)  # clear errors, and no lock file written, for a store we cannot fix
    lock = WriterLock(pathlib.Path(path))
    lock.acquire()
    try:
        return recover(pathlib.Path(path))
    finally:
        lock.release()
