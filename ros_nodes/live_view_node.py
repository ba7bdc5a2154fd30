"""The live view node: what the robot sees and does, live in Foxglove (glue around
robot_rl.live_view.LiveView). Open Foxglove, "Open connection", Foxglove WebSocket,
ws://localhost:8765.

Streams: /camera/<name> (images, throttled to max_image_hz), /joint_states (q, qd), /control/step
(obs, policy / human / executed actions, intervention, hold, policy version), /teleop/action,
/episode/event and /teleop/event. Inputs are taken raw by a thread of its own (ros_nodes.polled),
so watching never slows the graph's other callbacks.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from ros_nodes.runtime import NodeConfig, RobotRLNode, main_entry, qos

from ros_nodes import cdr  # noqa: E402
from ros_nodes.polled import PolledInputs  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402
from std_msgs.msg import Float64MultiArray, String  # noqa: E402

from robot_rl.config import ConfigError  # noqa: E402
from robot_rl.control.step_row import StepRow, obs_dim_of  # noqa: E402
from robot_rl.live_view import LiveView  # noqa: E402


@dataclass
class LiveViewNodeConfig(NodeConfig):
    host: str = "127.0.0.1"           # 0.0.0.0 to watch from another machine
    port: int = 8765
    cameras: str = "front,wrist"
    max_image_hz: float = 10.0
    action_dim: int = 5               # to split /control/step rows (5: ee mode)
    # Browser origins that may connect, comma-separated ("*": any); the default allows the
    # Foxglove app and pages on this machine (robot_rl.origin_gate.DEFAULT_ORIGINS)
    allowed_origins: str = ""

    def validate(self) -> None:
        if not 0 < self.port < 65536 or self.max_image_hz < 0 or self.action_dim < 1:
            raise ValueError("port must be 1..65535, max_image_hz >= 0, action_dim >= 1")


class LiveViewNode(RobotRLNode):
    def __init__(self):
        super().__init__("live_view", LiveViewNodeConfig)
        c = self.config
        try:
            origins = [o.strip() for o in c.allowed_origins.split(",") if o.strip()] or None
            self.view = LiveView(c.host, c.port, c.max_image_hz, allowed_origins=origins)
        except Exception as exc:  # noqa: BLE001 - a taken port, a bad host: one line, exit 2
            raise ConfigError(f"cannot serve the live view on {c.host}:{c.port} ({exc})") from None
        self.polled = PolledInputs(self)
        self.cams = {cam: self.polled.subscribe(Image, f"/camera/{cam}/image_raw", qos("sensor", 5), cdr.image)
                     for cam in (x.strip() for x in c.cameras.split(",")) if cam}
        self.joints = self.polled.subscribe(JointState, "/joint_states", qos("reliable", 50), cdr.JointStateDecoder())
        self.steps = self.polled.subscribe(Float64MultiArray, "/control/step", qos("reliable", 50), cdr.float64_multiarray)
        self.teleop = self.polled.subscribe(Float64MultiArray, "/teleop/action", qos("reliable", 50), cdr.float64_multiarray)
        self.events = [self.polled.subscribe(String, t, qos("reliable", 50), cdr.string)
                       for t in ("/episode/event", "/teleop/event")]
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="live_view")
        self.thread.start()
        self.get_logger().info(f"live view on ws://{c.host}:{c.port} (Foxglove: Open connection -> Foxglove WebSocket)")

    def _run(self) -> None:
        a = self.config.action_dim
        while not self._stop.is_set():
            try:
                for cam, sub in self.cams.items():
                    got = sub.take_latest()
                    if got is not None:
                        (img, stamp), _ = got
                        if img.ndim == 3 and img.shape[2] == 3:
                            self.view.image(f"/camera/{cam}", img, stamp, cam)
                for js, _ in self.joints.take_all():
                    self.view.values("/joint_states", {"name": js["names"], "position": js["position"],
                                                       "velocity": js["velocity"]}, js["stamp_ns"])
                for row, _ in self.steps.take_all():
                    try:
                        step = StepRow.from_row(row, obs_dim_of(row.size, a), a)
                    except ValueError:
                        continue
                    self.view.values("/control/step", {
                        "intervention": step.intervention, "hold": step.hold, "policy_version": step.policy_version,
                        "obs": step.obs, "policy_action": np.nan_to_num(step.policy_action),
                        "human_action": np.nan_to_num(step.human_action), "executed_action": step.executed_action})
                for act, _ in self.teleop.take_all():
                    self.view.values("/teleop/action", {"action": act})
                for sub in self.events:
                    for ev, _ in sub.take_all():
                        self.view.values(sub.topic, {"event": ev})
            except Exception as exc:  # noqa: BLE001 - a viewer must never take the graph down
                if not self.context.ok():
                    return
                self.get_logger().error(f"live view: {exc!r}")
            time.sleep(0.01)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=2)
        self.view.close()
        self.polled.destroy()


def main() -> None:
    main_entry(LiveViewNode)


if __name__ == "__main__":
    main()
