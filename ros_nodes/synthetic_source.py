"""Synthetic sensor stream: images or joint states at a fixed rate, stamped at capture time.

For exercising a graph without hardware (transport tests, benches, `robot-rl up launch/demo.yaml`).
Each image is a distinct frame (a pre-generated noise image with the frame counter written into
its first 8 bytes), converted to a message per publish, as a camera driver would.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ros_nodes.runtime import NodeConfig, RobotRLNode, main_entry, qos

from ros_nodes import convert  # noqa: E402  (after runtime: environment prepared)
from sensor_msgs.msg import Image, JointState  # noqa: E402


@dataclass
class SyntheticSourceConfig(NodeConfig):
    topic: str = "/camera/color/image_raw"
    kind: Literal["image", "joint_state"] = "image"
    rate_hz: float = 30.0
    width: int = 640
    height: int = 480
    encoding: Literal["rgb8", "bgr8", "mono8", "16UC1", "32FC1"] = "rgb8"
    joints: int = 7
    qos: Literal["sensor", "reliable"] = "sensor"
    frame_id: str = "camera"
    count: int = 0  # publish this many then exit 0 (0: until stopped)
    wait_for_subscribers: int = 0  # hold publishing until this many subscribers matched
    # ...and then this long: the publisher sees a match before the subscriber has matched it back,
    # and best-effort frames sent in between are lost (measured: frames 0-1 in 2 of 10 runs).
    # With `count`, also how long to linger after the last message before exiting.
    settle_s: float = 0.5
    report_path: str = ""  # JSON {published, ...} written at shutdown
    # stamps = capture time + this: a publisher whose clock disagrees with ours (preflight tests)
    stamp_offset_s: float = 0.0
    # a stalled sensor: after this many messages, publish nothing for stall_s, then go on (0: never)
    stall_after: int = 0
    stall_s: float = 0.0

    def validate(self) -> None:
        if not 0 < self.rate_hz <= 10_000:
            raise ValueError(f"rate_hz must be in (0, 10000], got {self.rate_hz}")
        if self.width <= 0 or self.height <= 0 or self.joints <= 0 or self.count < 0 or self.settle_s < 0:
            raise ValueError("width, height and joints must be positive; count and settle_s >= 0")


class SyntheticSource(RobotRLNode):
    def __init__(self):
        super().__init__("synthetic_source", SyntheticSourceConfig)
        c = self.config
        msg_type = Image if c.kind == "image" else JointState
        self.publisher = self.create_publisher(msg_type, c.topic, qos(c.qos))
        self.published = 0
        self.started_ns = 0
        self.matched_ns = 0
        self.finished_ns = 0
        rng = np.random.default_rng(0)
        if c.kind == "image":
            dtype, channels = convert.IMAGE_ENCODINGS[c.encoding]
            shape = (c.height, c.width, channels) if channels > 1 else (c.height, c.width)
            self.frames = [(rng.random(shape) * 255).astype(dtype) for _ in range(4)]
        else:
            self.joint_names = [f"joint{i + 1}" for i in range(c.joints)]
        self.timer = self.create_timer(1.0 / c.rate_hz, self._tick)
        self.get_logger().info(f"publishing {c.kind} on {c.topic} at {c.rate_hz:g} Hz ({c.qos} QoS)")

    def _tick(self) -> None:
        c = self.config
        now = time.time_ns()
        if c.count and self.published >= c.count:
            # Linger before exiting: a best-effort sample lives in this process's shared-memory
            # segment until the subscriber reads it; exiting at once lost the last frame (1 in 12).
            if now - self.finished_ns >= c.settle_s * 1e9:
                self.get_logger().info(f"published {self.published} messages; done")
                self.stop(0)
            return
        if self.published == 0 and c.wait_for_subscribers:
            if self.publisher.get_subscription_count() < c.wait_for_subscribers:
                self.matched_ns = 0
                return
            self.matched_ns = self.matched_ns or now
            if now - self.matched_ns < c.settle_s * 1e9:
                return
        if self.published == 0:
            self.started_ns = now
        if c.stall_after and self.published == c.stall_after and now - self.finished_ns < c.stall_s * 1e9:
            return
        if c.kind == "image":
            frame = self.frames[self.published % len(self.frames)]
            frame.reshape(-1).view(np.uint8)[:8] = np.frombuffer(np.int64(self.published).tobytes(), np.uint8)
            msg = convert.image_to_msg(frame, c.encoding, now + int(c.stamp_offset_s * 1e9), c.frame_id)
        else:
            t = now * 1e-9
            q = np.sin(t + np.arange(c.joints))
            msg = convert.joint_state_to_msg(self.joint_names, q, np.cos(t + np.arange(c.joints)), None,
                                             now + int(c.stamp_offset_s * 1e9))
        self.publisher.publish(msg)
        self.published += 1
        self.finished_ns = now

    def close(self) -> None:
        if self.config.report_path:
            elapsed = (self.finished_ns - self.started_ns) / 1e9 if self.started_ns else 0.0
            report = {"topic": self.config.topic, "published": self.published, "elapsed_s": elapsed}
            with open(self.config.report_path, "w") as f:
                json.dump(report, f)


if __name__ == "__main__":
    main_entry(SyntheticSource)
