"""An exclusive lock a process holds on a file for as long as it runs.

flock, not a pid file: the kernel releases it when the holder dies (kill -9 and power loss
included), so a crashed holder never leaves a stale lock. The file keeps the holder's pid for the
error message. Used for one writer per episode store and one session per output folder.
"""
from __future__ import annotations

import errno
import fcntl
import os
import pathlib


class LockHeld(Exception):
    def __init__(self, path: pathlib.Path, pid: str) -> None:
        super().__init__(f"{path} is held by pid {pid}")
        self.path, self.pid = path, pid


class ProcessLock:
    def __init__(self, path: pathlib.Path) -> None:
        self.path = pathlib.Path(path)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise LockHeld at once (never waits)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise LockHeld(self.path, holder) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
