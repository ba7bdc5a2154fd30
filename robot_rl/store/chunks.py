"""Are the chunks that hold committed rows on disk? zarr reads an absent chunk as its fill value,
so a deleted chunk file (or a chunk missing from a shard's index) would read back as zeros, blank
notes or black frames. Stores made with `complete_chunks` write every chunk, fill value or not
(the writer opens its arrays with write_empty_chunks), so for them an absent chunk that covers a
committed row is damage; verify and the readers check it here.

A storage unit is a shard file (its index at the end: [offset, length] uint64 per inner chunk, then
a crc32c) or, for an unsharded array, a chunk file. A truncated or rewritten unit fails its crc32c
when decoded; a unit cut below its index, an index entry that is empty or points past the end of
the file is found here without decoding anything.
"""
from __future__ import annotations

import os
import pathlib
from typing import Any

import google_crc32c
import numpy as np

from robot_rl.store.schema import StoreError

EMPTY = 2**64 - 1   # a shard index entry for a chunk the shard does not hold


class MissingChunkError(StoreError):
    """Committed rows whose chunk is not on disk (deleted, cut short): they cannot be read."""


def _sharding(array: Any) -> tuple[int, int] | None:
    """(rows per shard, rows per inner chunk) of an array sharded along axis 0, else None."""
    codecs = array.metadata.to_dict().get("codecs") or []
    if len(codecs) == 1 and codecs[0].get("name") == "sharding_indexed":
        conf = codecs[0]["configuration"]
        if conf.get("index_location", "end") == "end" and [c["name"] for c in conf["index_codecs"]] == ["bytes", "crc32c"]:
            return int(array.shards[0]), int(conf["chunk_shape"][0])
    return None


def missing(array: Any, root: pathlib.Path, a: int, b: int) -> list[tuple[int, int, str]]:
    """What is absent or cut short among the chunks holding rows [a, b) of `array` (a zarr array
    of the store at `root`): (first, last row affected, what) per problem; empty when all is there."""
    if b <= a:
        return []
    trailing = (0,) * (len(array.shape) - 1)
    base = pathlib.Path(root) / array.path
    problems: list[tuple[int, int, str]] = []
    shard = _sharding(array)
    unit = shard[0] if shard else int(array.chunks[0])
    for u in range(a // unit, (b - 1) // unit + 1):
        key = array.metadata.encode_chunk_key((u,) + trailing)
        span = (max(a, u * unit), min(b, (u + 1) * unit) - 1)   # the asked-for rows this file holds
        where = f"{array.path}/{key} (rows {u * unit}..{(u + 1) * unit - 1})"
        try:
            # size and index from one open file: a writer replaces a shard by renaming a new one
            # over it, and a size taken by path before the open could be the other file's
            with open(base / key, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if shard is None:
                    if size == 0:
                        problems.append((*span, f"{where}: file is empty"))
                    continue
                rows_per_shard, rows_per_chunk = shard
                n = rows_per_shard // rows_per_chunk
                tail = n * 16 + 4
                if size < tail:
                    problems.append((*span, f"{where}: file cut short ({size} bytes, its index alone is {tail})"))
                    continue
                f.seek(size - tail)
                raw = f.read(tail)
        except FileNotFoundError:
            problems.append((*span, f"{where}: file missing"))
            continue
        if google_crc32c.value(raw[:-4]) != int.from_bytes(raw[-4:], "little"):
            problems.append((*span, f"{where}: shard index fails its checksum (cut short or overwritten)"))
            continue
        index = np.frombuffer(raw[:-4], dtype="<u8").reshape(n, 2)
        for c in range((span[0] - u * unit) // rows_per_chunk, (span[1] - u * unit) // rows_per_chunk + 1):
            off, length = int(index[c, 0]), int(index[c, 1])
            first = u * unit + c * rows_per_chunk
            what = ("is not in the shard" if off == EMPTY else
                    "lies past the end of the file (cut short)" if off + length > size - tail else "")
            if what:
                problems.append((max(a, first), min(b, first + rows_per_chunk) - 1,
                                 f"{array.path}/{key}: chunk {c} (rows {first}..{first + rows_per_chunk - 1}) {what}"))
    return problems


def require(array: Any, root: pathlib.Path, a: int, b: int) -> None:
    """Raise MissingChunkError naming what is absent among the chunks of rows [a, b)."""
    problems = missing(array, root, a, b)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise MissingChunkError(f"{root}: {problems[0][2]}{more}; the store is damaged (robot-rl data verify)")
