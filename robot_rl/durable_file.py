"""Small files written so that a kill -9 or a power cut leaves the old file or the new one, whole:
the data goes to a temporary name and is fsynced, renamed over the file, and the directory fsynced
(the rename itself is then on disk). For policies, checkpoints' neighbours and a store's markers."""
from __future__ import annotations

import os
import pathlib


def fsync_dir(path: pathlib.Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: pathlib.Path, data: bytes) -> None:
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
