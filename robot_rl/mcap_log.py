"""MCAP files of ROS 2 messages, ROS-free: the message definitions (from the .msg files the ROS 2
wheels install) and a log of raw CDR messages, which `robot-rl record --mcap` writes beside the
store (ros_nodes/mcap_node.py) and `robot-rl data export-mcap` builds on (robot_rl/store/mcap_export.py).

An MCAP log is written in zstd-compressed chunks as messages arrive; `close()` adds the summary
(index and statistics). A process killed before that leaves a file whose chunks are all readable
(the mcap reader's non-seeking mode, or `mcap recover`), without the index.
"""
from __future__ import annotations

import pathlib
import re
import sys
import threading
from typing import Any, Optional

from robot_rl.store.schema import StoreError

_PRIMITIVES = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
               "uint32", "int64", "uint64", "string", "wstring"}
_SEPARATOR = "=" * 80


def msg_share_dir() -> pathlib.Path:
    """Where the ROS 2 wheels put their message definitions (<prefix>/share/<pkg>/msg/*.msg)."""
    return pathlib.Path(sys.prefix) / "share"


def msgdef(datatype: str, share: Optional[pathlib.Path] = None) -> str:
    """The ros2msg schema text of `datatype` ("sensor_msgs/msg/Image"): its .msg file, then every
    message type it uses, each after a separator line and "MSG: pkg/Name", as rosbag2 writes it."""
    share = share or msg_share_dir()
    pkg, _, name = datatype.partition("/msg/")
    done: list[str] = []
    texts: dict[str, str] = {}

    def visit(p: str, n: str) -> None:
        key = f"{p}/{n}"
        if key in texts:
            return
        path = share / p / "msg" / f"{n}.msg"
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise StoreError(f"no message definition {key} in {share} (the ROS 2 message wheels are not "
                             "installed here)") from None
        texts[key] = text
        done.append(key)
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            parts = line.split()
            if len(parts) < 2 or "=" in line:   # blank, a comment, or a constant
                continue
            base = re.sub(r"\[[^\]]*\]$", "", parts[0])   # an array: float64[], uint8[16], T[<=4]
            base = re.sub(r"<=\d+$", "", base)              # a bounded string
            if base in _PRIMITIVES:
                continue
            dep_pkg, _, dep_name = base.rpartition("/")
            visit(dep_pkg.replace("/msg", "") if dep_pkg else p, dep_name)

    visit(pkg, name)
    out = texts[done[0]]
    for key in done[1:]:
        out += f"\n{_SEPARATOR}\nMSG: {key}\n{texts[key]}"
    return out


class McapLog:
    """Raw (already CDR-serialized) ROS 2 messages -> one MCAP file, ros2 profile. Thread-safe."""

    def __init__(self, path: str | pathlib.Path) -> None:
        from mcap.writer import CompressionType, Writer
        self.path = pathlib.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")
        self._writer = Writer(self._file, compression=CompressionType.ZSTD)
        self._writer.start(profile="ros2", library="robot_rl")
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self._closed = False

    def channel(self, topic: str, datatype: str) -> int:
        """Register a topic of a message type (once); returns its channel id."""
        with self._lock:
            if topic not in self._channels:
                if datatype not in self._schemas:
                    self._schemas[datatype] = self._writer.register_schema(datatype, "ros2msg",
                                                                           msgdef(datatype).encode())
                self._channels[topic] = self._writer.register_channel(topic, "cdr", self._schemas[datatype])
            return self._channels[topic]

    def write(self, channel: int, topic: str, cdr: bytes, log_time_ns: int, publish_time_ns: Optional[int] = None) -> None:
        with self._lock:
            if self._closed:
                return
            self._writer.add_message(channel, log_time=int(log_time_ns), data=bytes(cdr),
                                     publish_time=int(publish_time_ns if publish_time_ns is not None else log_time_ns))
            self.counts[topic] = self.counts.get(topic, 0) + 1

    def metadata(self, name: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._writer.add_metadata(name, {k: str(v) for k, v in data.items()})

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._writer.finish()
            self._file.close()
