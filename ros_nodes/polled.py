"""Subscriptions that no executor spins: a paced loop takes the newest message of each at its tick.

Why: in one Python process the GIL is shared, and an rclpy executor dispatching 1,500 messages/s
(three 500 Hz state topics) spends ~220 us of Python per message (measured, rclpy 9.1.2), during
which the control loop cannot run. Taking the raw bytes at the tick instead costs ~8 us per empty
take and ~10 us to decode (ros_nodes.cdr), all on the loop's own thread.

The subscriptions live on a second node that is never added to an executor (an executor would
dispatch them). Receive times come from the middleware (wall clock), converted to the monotonic
clock the loop uses.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional

import rclpy

from ros_nodes.convert import ConversionError


def _never_called(_msg) -> None:  # the node holding these subscriptions is never spun
    raise AssertionError("a polled subscription was dispatched by an executor")


class PolledSubscription:
    def __init__(self, node, msg_type, topic: str, qos, decode: Callable[[bytes], Any]) -> None:
        self.sub = node.create_subscription(msg_type, topic, _never_called, qos, raw=True)
        self.topic, self.decode = topic, decode
        self.received = 0        # messages taken
        self.malformed = 0       # messages that did not decode (skipped, counted)
        self.last_error = ""

    def take_latest(self) -> Optional[tuple[Any, int]]:
        """Drain what arrived since the last call; (decoded newest, its receive time on the
        monotonic clock in ns), or None when nothing new (or only malformed messages) arrived."""
        newest = None
        handle, msg_type = self.sub.handle, self.sub.msg_type
        with handle:
            while True:
                taken = handle.take_message(msg_type, True)
                if taken is None:
                    break
                newest = taken
                self.received += 1
        if newest is None:
            return None
        return self._decoded(*newest)

    def take_all(self, limit: int = 1000) -> list[tuple[Any, int]]:
        """Every message that arrived since the last call, in order (up to `limit`), each as
        (decoded, receive time on the monotonic clock in ns); malformed ones are counted and skipped.
        For a recorder: every sample counts, not only the newest."""
        taken = []
        handle, msg_type = self.sub.handle, self.sub.msg_type
        with handle:
            while len(taken) < limit:
                got = handle.take_message(msg_type, True)
                if got is None:
                    break
                taken.append(got)
        self.received += len(taken)
        out = []
        for data, info in taken:
            value = self._decoded(data, info)
            if value is not None:
                out.append(value)
        return out

    def _decoded(self, data: bytes, info: Any) -> Optional[tuple[Any, int]]:
        try:
            value = self.decode(data)
        except ConversionError as exc:
            self.malformed += 1
            self.last_error = str(exc)
            return None
        wall_received = info.get("received_timestamp", 0) if isinstance(info, dict) else 0
        now_mono, now_wall = time.monotonic_ns(), time.time_ns()
        received = now_mono - max(0, now_wall - wall_received) if wall_received else now_mono
        return value, received


class PolledInputs:
    """A node for polled subscriptions, sharing the owner node's context (and remappings)."""

    def __init__(self, owner) -> None:
        # A process-wide `-r __node:=NAME` (how the graph runner names nodes) would rename this node
        # too, giving two nodes one name: its own rename wins (node arguments before global ones).
        name = f"{owner.get_name()}_inputs"
        self.node = rclpy.create_node(name, context=owner.context, start_parameter_services=False,
                                      cli_args=["--ros-args", "-r", f"__node:={name}"])
        self.subs: list[PolledSubscription] = []

    def subscribe(self, msg_type, topic: str, qos, decode: Callable[[bytes], Any]) -> PolledSubscription:
        sub = PolledSubscription(self.node, msg_type, topic, qos, decode)
        self.subs.append(sub)
        return sub

    def malformed(self) -> dict[str, int]:
        return {s.topic: s.malformed for s in self.subs if s.malformed}

    def destroy(self) -> None:
        self.node.destroy_node()
