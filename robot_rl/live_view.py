"""The live view: camera images, proprioception, actions and episode events streamed to Foxglove
(foxglove-sdk's WebSocket server; open Foxglove, "Open connection", ws://HOST:8765). ROS-free: the
live view node (ros_nodes/live_view_node.py) feeds it what it takes from the topics.

Browsers from other sites are refused (robot_rl.origin_gate: a page open in a browser on this
machine could otherwise read the robot's cameras); `allowed_origins` widens the list.

Images are throttled to `max_image_hz` per camera (a viewer needs a few frames a second, not every
frame at full rate); everything else is sent as it comes, as JSON.
"""
from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np

from robot_rl.origin_gate import DEFAULT_ORIGINS, OriginGate


class LiveView:
    def __init__(self, host: str = "127.0.0.1", port: int = 8765, max_image_hz: float = 10.0,
                 name: str = "robot_rl", allowed_origins: Optional[list[str]] = None) -> None:
        """allowed_origins: the browser origins that may connect (robot_rl.origin_gate; default
        DEFAULT_ORIGINS: the Foxglove app and pages on this machine; ["*"]: any)."""
        import foxglove
        from foxglove.channels import RawImageChannel

        self._foxglove, self._image_channel_cls = foxglove, RawImageChannel
        # foxglove's server on an internal loopback port, behind the origin gate on the public one
        self.server = foxglove.start_server(name=name, host="127.0.0.1", port=0)
        try:
            self.gate = OriginGate(host, port, self.server.port,
                                   list(DEFAULT_ORIGINS) if allowed_origins is None else allowed_origins)
        except OSError:
            self.server.stop()
            raise
        self.port = self.gate.port
        self.min_image_gap_ns = int(1e9 / max_image_hz) if max_image_hz > 0 else 0
        self._images: dict[str, Any] = {}
        self._json: dict[str, Any] = {}
        self._last_image: dict[str, int] = {}
        self.sent = 0

    def image(self, topic: str, rgb: np.ndarray, stamp_ns: int, frame_id: str = "") -> bool:
        """Send an rgb8 image unless one went out on this topic less than 1/max_image_hz ago."""
        from foxglove.messages import RawImage, Timestamp

        now = time.monotonic_ns()
        if now - self._last_image.get(topic, -1 << 62) < self.min_image_gap_ns:
            return False
        self._last_image[topic] = now
        ch = self._images.get(topic)
        if ch is None:
            ch = self._images[topic] = self._image_channel_cls(topic)
        h, w = rgb.shape[:2]
        sec, nsec = divmod(int(stamp_ns), 1_000_000_000)
        ch.log(RawImage(timestamp=Timestamp(sec, nsec), frame_id=frame_id, width=w, height=h, encoding="rgb8",
                        step=w * 3, data=np.ascontiguousarray(rgb).tobytes()))
        self.sent += 1
        return True

    def values(self, topic: str, message: dict[str, Any], stamp_ns: Optional[int] = None) -> None:
        ch = self._json.get(topic)
        if ch is None:
            ch = self._json[topic] = self._foxglove.Channel(topic)
        ch.log({k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in message.items()},
               log_time=stamp_ns)
        self.sent += 1

    def close(self) -> None:
        self.gate.close()
        self.server.stop()
