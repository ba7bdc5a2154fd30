"""The preflight node: waits (up to `discovery_s`) until every topic a policy needs has a discovered
publisher, listens to them for `listen_s`, then judges what it saw
with robot_rl.preflight.evaluate (missing topics, rates, clock agreement, the robot inside its
limits), prints one line per problem, writes a JSON report and exits 0 (go) or 1 (no go).
`robot-rl preflight` runs it; `robot-rl session` on a robot runs it before the policy moves.

Subscriptions are best effort, which matches reliable and best-effort publishers alike. "Our clock"
is this machine's wall clock, or sim time when /clock is published (the simulator stamps with it).
"""
from __future__ import annotations

import json
import pathlib
import time
from dataclasses import dataclass

import numpy as np

from ros_nodes.runtime import NodeConfig, RobotRLNode, main_entry, qos

from rosgraph_msgs.msg import Clock  # noqa: E402

from robot_rl import config  # noqa: E402
from robot_rl.preflight import PreflightConfig, TopicObservation, evaluate  # noqa: E402
from ros_nodes.topic_monitor import message_class  # noqa: E402


@dataclass
class PreflightNodeConfig(NodeConfig):
    config: str = ""          # a PreflightConfig YAML ("" = the simulator's interface at 10 Hz)
    report_path: str = ""


class PreflightNode(RobotRLNode):
    def __init__(self):
        super().__init__("preflight", PreflightNodeConfig)
        self.cfg = config.load(PreflightConfig, self.config.config or None)
        self.seen = {t.topic: TopicObservation() for t in self.cfg.topics}
        self.sim_clock = None      # (sim ns, monotonic ns at receipt) of the latest /clock
        self.ee_pose = self.joints = self.joint_names = None
        self.create_subscription(Clock, "/clock", self._on_clock, qos("sensor", 10))
        for t in self.cfg.topics:
            self.create_subscription(message_class(t.type), t.topic,
                                     lambda msg, t=t: self._on_msg(t, msg), qos("sensor", 50))
        self.listening = False
        self.discovery_deadline = time.monotonic() + self.cfg.discovery_s
        self.discovery_timer = self.create_timer(0.05, self._await_discovery)

    def _await_discovery(self) -> None:
        """Open the listen window once every topic has a discovered publisher, or at the deadline."""
        undiscovered = [t.topic for t in self.cfg.topics if self.count_publishers(t.topic) == 0]
        if undiscovered and time.monotonic() < self.discovery_deadline:
            return
        self.discovery_timer.cancel()
        if undiscovered:
            self.get_logger().warning(f"no publisher discovered in {self.cfg.discovery_s:g} s on: "
                                      f"{', '.join(undiscovered)}")
        self.seen = {t.topic: TopicObservation() for t in self.cfg.topics}   # the window starts now
        self.listening = True
        self.get_logger().info(f"listening to {len(self.cfg.topics)} topics for {self.cfg.listen_s:g} s")
        self.create_timer(self.cfg.listen_s, self._judge)

    def _on_clock(self, msg: Clock) -> None:
        self.sim_clock = (msg.clock.sec * 1_000_000_000 + msg.clock.nanosec, time.monotonic_ns())

    def _now_ns(self, mono: int) -> int:
        if self.sim_clock is not None:
            sim_ns, at = self.sim_clock
            return sim_ns + (mono - at)
        return time.time_ns() - (time.monotonic_ns() - mono)

    def _on_msg(self, t, msg) -> None:
        if not self.listening:
            return
        mono = time.monotonic_ns()
        obs = self.seen[t.topic]
        obs.receive_ns.append(mono)
        header = getattr(msg, "header", None)
        if t.stamped and header is not None:
            obs.offsets_ns.append(self._now_ns(mono) - (header.stamp.sec * 1_000_000_000 + header.stamp.nanosec))
        if t.topic == "/ee_pose":
            p = msg.pose.position
            self.ee_pose = np.array([p.x, p.y, p.z])
        elif t.topic == "/joint_states":
            self.joints = np.asarray(msg.position, float)
            self.joint_names = list(msg.name)

    def _judge(self) -> None:
        res = evaluate(self.cfg, self.seen, self.ee_pose, self.joints, self.joint_names)
        res["clock"] = "sim (/clock)" if self.sim_clock is not None else "wall"
        for topic, row in res["topics"].items():
            self.get_logger().info(f"{topic}: {json.dumps(row)}")
        if res["ok"]:
            self.get_logger().info(f"preflight OK: {len(self.cfg.topics)} topics present at their rates, clocks agree, "
                                   f"robot inside its limits")
        else:
            for p in res["problems"]:
                self.get_logger().error(f"preflight: {p}")
            self.get_logger().error(f"preflight FAILED ({len(res['problems'])} problem(s)): the policy may not move "
                                    f"the robot")
        if self.config.report_path:
            path = pathlib.Path(self.config.report_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(res, indent=1))
        self.stop(0 if res["ok"] else 1)


if __name__ == "__main__":
    main_entry(PreflightNode)
