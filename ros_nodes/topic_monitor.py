"""Topic monitor: message rate, stamp-to-receive latency and gaps of one topic, as a node.

What `ros2 topic hz` / `ros2 topic delay` do on a full ROS install (the `ros2` CLI is not on PyPI).
Prints a status line every `status_period_s`; writes a JSON report at shutdown. With
`expected_count` it exits 0 once that many messages arrived, or 1 if `duration_s` passes first.
Latency is receive wall clock minus header.stamp, so it is meaningful when the publisher stamps
with the same machine's clock (all our nodes do).
"""
from __future__ import annotations

import importlib
import json
import time
from dataclasses import dataclass
from typing import Literal

from ros_nodes.runtime import NodeConfig, RobotRLNode, main_entry, qos

from robot_rl.stats import SampleRecorder, summarize_ns  # noqa: E402


def message_class(type_name: str):
    """'sensor_msgs/msg/Image' (or 'sensor_msgs/Image') -> the message class."""
    parts = type_name.replace("/msg/", "/").split("/")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"message type must look like 'pkg/msg/Type', got {type_name!r}")
    try:
        return getattr(importlib.import_module(f"{parts[0]}.msg"), parts[1])
    except (ImportError, AttributeError):
        raise ValueError(f"unknown message type {type_name!r}") from None


def missing_frames(counters: list[int], expected: int) -> list[int]:
    """Frame counters in 0..max(expected, last seen) that never arrived."""
    top = max(expected, (max(counters) + 1) if counters else 0)
    return sorted(set(range(top)) - set(counters))


@dataclass
class TopicMonitorConfig(NodeConfig):
    topic: str = "/camera/color/image_raw"
    msg_type: str = "sensor_msgs/msg/Image"
    qos: Literal["sensor", "reliable"] = "sensor"
    expected_count: int = 0  # exit 0 after this many messages (0: run until stopped)
    duration_s: float = 0.0  # give up (exit 1 if expected_count not reached) after this long; 0: never
    status_period_s: float = 1.0  # 0: no status line
    report_path: str = ""
    # Images from synthetic_source carry their frame counter in the first 8 data bytes: with this
    # on, the report lists which frames never arrived (start-up loss vs mid-stream loss).
    check_frame_counter: bool = False

    def validate(self) -> None:
        message_class(self.msg_type)
        if self.expected_count < 0 or self.duration_s < 0 or self.status_period_s < 0:
            raise ValueError("expected_count, duration_s and status_period_s must be >= 0")


class TopicMonitor(RobotRLNode):
    def __init__(self):
        super().__init__("topic_monitor", TopicMonitorConfig)
        c = self.config
        self.latency = SampleRecorder()
        self.interarrival = SampleRecorder()
        self.received = 0
        self.out_of_order = 0
        self.frame_counters: list[int] = []
        self.first_ns = self.last_ns = self.last_stamp_ns = 0
        self.started_ns = time.time_ns()
        self._status_count = 0
        msg_cls = message_class(c.msg_type)
        self.has_header = "header" in msg_cls.get_fields_and_field_types()
        self.subscription = self.create_subscription(msg_cls, c.topic, self._on_msg, qos(c.qos))
        if c.status_period_s:
            self.create_timer(c.status_period_s, self._status)
        if c.duration_s:
            self.create_timer(c.duration_s, self._deadline)

    def _on_msg(self, msg) -> None:
        now = time.time_ns()
        if self.has_header:
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            self.latency.add(now - stamp)
            if stamp < self.last_stamp_ns:
                self.out_of_order += 1
            self.last_stamp_ns = stamp
        if self.config.check_frame_counter:
            self.frame_counters.append(int.from_bytes(bytes(msg.data[:8]), "little", signed=True))
        if self.received:
            self.interarrival.add(now - self.last_ns)
        else:
            self.first_ns = now
        self.last_ns = now
        self.received += 1
        if self.config.expected_count and self.received >= self.config.expected_count:
            self.stop(0)

    def _status(self) -> None:
        new = self.received - self._status_count
        self._status_count = self.received
        lat = summarize_ns(self.latency.values())
        self.get_logger().info(
            f"{self.config.topic}: {new / self.config.status_period_s:.1f} Hz, {self.received} msgs, "
            f"latency p50 {lat['p50_us']:.0f} us p99 {lat['p99_us']:.0f} us")

    def _deadline(self) -> None:
        reached = not self.config.expected_count or self.received >= self.config.expected_count
        if not reached:
            self.get_logger().error(
                f"{self.config.topic}: {self.received} of {self.config.expected_count} messages after {self.config.duration_s:g} s")
        self.stop(0 if reached else 1)

    def report(self) -> dict:
        span = (self.last_ns - self.first_ns) / 1e9 if self.received > 1 else 0.0
        return {
            "topic": self.config.topic,
            "msg_type": self.config.msg_type,
            "received": self.received,
            "out_of_order": self.out_of_order,
            "rate_hz": (self.received - 1) / span if span > 0 else 0.0,
            "latency": summarize_ns(self.latency.values()),
            "interarrival": summarize_ns(self.interarrival.values()),
            **({"missing_frames": missing_frames(self.frame_counters, self.config.expected_count)}
               if self.config.check_frame_counter else {}),
        }

    def close(self) -> None:
        if self.config.report_path:
            with open(self.config.report_path, "w") as f:
                json.dump(self.report(), f)


if __name__ == "__main__":
    main_entry(TopicMonitor)
