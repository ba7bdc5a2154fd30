"""The episode server, on the robot host: makes its store's committed episodes available to
replicas on other hosts (docs/TWO_HOSTS.md). Glue over robot_rl.store.replica.EpisodeSource.

Publishes /store/announce (std_msgs/String JSON {source, spec, episodes}) as soon as an episode
is committed (the store is looked at every `poll_s`) and every `announce_period_s` in any case; answers each request on /store/request (std_msgs/String JSON {episode}) with
that committed episode on /store/episode (std_msgs/UInt8MultiArray: robot_rl.store.replica's
payload, with its digest). It only reads the store (the recorder writes it) and may start before
the store exists.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

from ros_nodes.runtime import NodeConfig, RobotRLNode, main_entry, qos

from std_msgs.msg import String, UInt8MultiArray  # noqa: E402

from robot_rl.ros_env import EPISODE_TOPIC  # noqa: E402
from robot_rl.store.replica import EpisodeSource  # noqa: E402


@dataclass
class EpisodeServerConfig(NodeConfig):
    store: str = ""                 # the recorder's store on this host
    announce_period_s: float = 1.0
    poll_s: float = 0.1

    def validate(self) -> None:
        if not self.store:
            raise ValueError("store (the recorder's store path) is required")
        if not 0 < self.poll_s <= self.announce_period_s:
            raise ValueError("need 0 < poll_s <= announce_period_s")


class EpisodeServer(RobotRLNode):
    def __init__(self):
        super().__init__("episode_server", EpisodeServerConfig)
        self.source = EpisodeSource(self.config.store)
        self.pub_announce = self.create_publisher(String, "/store/announce", qos("latched"))
        self.pub_episode = self.create_publisher(UInt8MultiArray, EPISODE_TOPIC, qos("reliable", depth=2))
        self.create_subscription(String, "/store/request", self._on_request, qos("reliable"))
        self.create_timer(self.config.poll_s, self._announce)
        self.sent = 0
        self._announced = (-1, 0.0)   # (episodes, when)

    def _announce(self) -> None:
        try:
            ann = self.source.announcement()
        except Exception as exc:  # noqa: BLE001 - a store being made, or damaged: said, tried again
            self.get_logger().error(f"cannot read {self.config.store}: {exc}")
            return
        now = time.monotonic()
        if ann is not None and (ann["episodes"] != self._announced[0]
                                or now - self._announced[1] >= self.config.announce_period_s):
            self.pub_announce.publish(String(data=json.dumps(ann)))
            self._announced = (ann["episodes"], now)

    def _on_request(self, msg: String) -> None:
        try:
            index = int(json.loads(msg.data)["episode"])
        except (ValueError, KeyError, TypeError) as exc:
            self.get_logger().warning(f"bad request {msg.data[:80]!r}: {exc}")
            return
        t0 = time.monotonic()
        try:
            payload = self.source.packet(index)
        except Exception as exc:  # noqa: BLE001 - reported; the replica asks again
            self.get_logger().warning(f"episode {index} not sent: {type(exc).__name__}: {exc}")
            return
        self.pub_episode.publish(UInt8MultiArray(data=payload))
        self.sent += 1
        self.get_logger().info(f"sent episode {index} ({len(payload):,} bytes, packed in "
                               f"{time.monotonic() - t0:.2f} s)")


if __name__ == "__main__":
    main_entry(EpisodeServer)
