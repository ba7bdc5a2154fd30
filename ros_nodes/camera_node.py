"""The camera node: one camera, one process (as Diffusion Policy's real stack runs them), publishing
/camera/<name>/image_raw (rgb8), /camera/<name>/camera_info and, with depth,
/camera/<name>/depth/image_raw (16UC1, aligned to color if asked). Glue around robot_rl.cameras.

Backends: realsense (by serial), opencv (device index, /dev/videoN or a video file), replay (an rgb
stream of an episode store, in real time, bit-exact). A camera that cannot be opened is a bad
parameter: one line, exit 2. A thread reads frames (reads block) and publishes them; a status line
every 5 s gives frames, rate and drops.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Literal

from ros_nodes.runtime import NodeConfig, RobotRLNode, main_entry, qos

from ros_nodes import convert  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from robot_rl.cameras import CameraError, ResizedCamera, open_camera  # noqa: E402
from robot_rl.config import ConfigError  # noqa: E402


@dataclass
class CameraNodeConfig(NodeConfig):
    backend: Literal["realsense", "opencv", "replay"] = "opencv"
    camera: str = "front"              # topics /camera/<camera>/...
    serial: str = ""                   # realsense: "" = the only device
    device: str = "0"                  # opencv: index, /dev/videoN or a video file
    width: int = 640
    height: int = 480
    fps: float = 30.0
    depth: bool = False                # realsense
    align_depth: bool = True
    store: str = ""                    # replay
    stream: str = ""
    episode: int = -1                  # -1: every episode in order
    loop: bool = False
    start_delay_s: float = 1.0         # replay: after the first subscriber matched, before the first frame
    reliable: bool = False             # publish reliably (a recorder asking for every frame); else best effort
    # publish at this size (0: as captured): centre crop to its aspect ratio, then resize; a policy
    # trained on 128x128 frames runs on a 640x480 RealSense this way
    out_width: int = 0
    out_height: int = 0

    def validate(self) -> None:
        if self.backend == "replay" and not (self.store and self.stream):
            raise ValueError("the replay backend needs store and stream")
        if (self.out_width > 0) != (self.out_height > 0) or min(self.out_width, self.out_height) < 0:
            raise ValueError("give both out_width and out_height (> 0), or neither")


class CameraNode(RobotRLNode):
    def __init__(self):
        super().__init__("camera", CameraNodeConfig)
        c = self.config
        try:
            self.camera = open_camera(c.backend, serial=c.serial, device=c.device, width=c.width, height=c.height,
                                      fps=c.fps, depth=c.depth, align_depth=c.align_depth, store=c.store,
                                      stream=c.stream, episode=c.episode, loop=c.loop)
            if c.out_width:
                self.camera = ResizedCamera(self.camera, c.out_width, c.out_height)
        except (CameraError, ValueError) as exc:
            raise ConfigError(f"camera {c.camera}: {exc}") from None
        q = qos("reliable", 10) if c.reliable else qos("sensor")
        self.pub_image = self.create_publisher(Image, f"/camera/{c.camera}/image_raw", q)
        self.pub_info = self.create_publisher(CameraInfo, f"/camera/{c.camera}/camera_info", q)
        self.pub_depth = self.create_publisher(Image, f"/camera/{c.camera}/depth/image_raw", q) if c.depth else None
        self.intr = self.camera.intrinsics()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="camera")
        self.thread.start()
        self.get_logger().info(f"camera {c.camera}: {c.backend} -> /camera/{c.camera}/image_raw")

    def _run(self) -> None:
        c = self.config
        if c.backend == "replay":  # a replay has a start: wait for someone to watch it
            while not self._stop.is_set() and self.pub_image.get_subscription_count() == 0:
                time.sleep(0.05)
            time.sleep(c.start_delay_s)
        t_log, n_log = time.monotonic(), 0
        while not self._stop.is_set():
            try:
                frame = self.camera.read()
            except CameraError as exc:
                self.get_logger().info(f"camera {c.camera}: {exc}; {self.camera.frames} frames, {self.camera.drops} dropped")
                self.stop(0 if str(exc).startswith("end of") else 1)
                return
            try:
                self.pub_image.publish(convert.image_to_msg(frame.color, "rgb8", frame.stamp_ns, c.camera))
                if self.intr is not None:
                    i = self.intr
                    self.pub_info.publish(convert.camera_info_to_msg(i.width, i.height, i.K, stamp_ns=frame.stamp_ns,
                                                                     frame_id=c.camera))
                if self.pub_depth is not None and frame.depth is not None:
                    self.pub_depth.publish(convert.image_to_msg(frame.depth, "16UC1", frame.stamp_ns, c.camera))
            except Exception as exc:  # noqa: BLE001
                if not self.context.ok():
                    return
                self.get_logger().error(f"publish failed: {exc!r}")
            now = time.monotonic()
            if now - t_log >= 5.0:
                rate = (self.camera.frames - n_log) / (now - t_log)
                self.get_logger().info(f"camera {c.camera}: {self.camera.frames} frames ({rate:.1f} fps), "
                                       f"{self.camera.drops} dropped, clock {frame.clock}")
                t_log, n_log = now, self.camera.frames

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=6)
        self.camera.close()


def main() -> None:
    main_entry(CameraNode)


if __name__ == "__main__":
    main()
