"""A zarr LocalStore whose writes can be made durable, and the store's writer lock.

zarr's LocalStore already writes every file to a temporary name and renames it over the old one,
so a process killed mid-write leaves either the old file or the new one, never a torn one. That
survives kill -9 (the page cache outlives the process) but not a power cut: `sync()` fsyncs every
file written since the last sync, and the directories holding them, before we record anything as
committed.
"""
from __future__ import annotations

import os
import pathlib
import threading

from zarr.storage import LocalStore

from robot_rl.durable_file import fsync_dir
from robot_rl.proclock import LockHeld, ProcessLock
from robot_rl.store.schema import StoreError

LOCK_NAME = ".writer.lock"


class DurableLocalStore(LocalStore):
    """LocalStore that remembers what it wrote so `sync()` can make it durable."""

    def __init__(self, root: pathlib.Path | str, *, read_only: bool = False) -> None:
        super().__init__(root, read_only=read_only)
        self._dirty: set[str] = set()
        self._dirty_lock = threading.Lock()

    def with_read_only(self, read_only: bool = False) -> "DurableLocalStore":
        return type(self)(self.root, read_only=read_only)

    def _mark(self, key: str) -> None:
        with self._dirty_lock:
            self._dirty.add(key)

    async def _set(self, key, value, exclusive: bool = False) -> None:  # type: ignore[override]
        await super()._set(key, value, exclusive=exclusive)
        self._mark(key)

    def set_sync(self, key, value) -> None:  # type: ignore[override]
        super().set_sync(key, value)
        self._mark(key)

    def sync(self) -> int:
        """fsync every file written since the last call, then their directories. Returns the count."""
        with self._dirty_lock:
            keys, self._dirty = self._dirty, set()
        dirs = set()
        for key in keys:
            path = self.root / key
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:  # deleted again since (e.g. a chunk removed by a shrink)
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            dirs.add(path.parent)
        for d in dirs:
            fsync_dir(d)
        return len(keys)


class WriterLock(ProcessLock):
    """One writer per store: an exclusive flock on <store>/.writer.lock (robot_rl.proclock)."""

    def __init__(self, root: pathlib.Path) -> None:
        super().__init__(pathlib.Path(root) / LOCK_NAME)

    def acquire(self) -> None:
        try:
            super().acquire()
        except LockHeld as exc:
            raise StoreError(f"{self.path.parent}: store is open for writing by another process "
                             f"(pid {exc.pid})") from None
