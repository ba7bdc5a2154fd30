"""The episode replica, on the learner host: keeps a store here equal to the robot host's, episode
by episode, for a learner to follow (docs/TWO_HOSTS.md). Glue over robot_rl.store.replica.

Reads /store/announce; asks for the replica's next episode on /store/request while the robot
host has more, again after `retry_s` without an answer (longer each time); applies each answer on
/store/episode (checked against its digest, written, committed, read back and checked again). A
damaged answer is asked for again; an answer that is not the next episode is ignored. When the link
goes away it keeps asking; when it comes back the replica catches up. Writes `report_path` (JSON:
the episodes applied, with digests) after each episode.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

from ros_nodes.runtime import NodeConfig, RobotRLNode, main_entry, qos

from std_msgs.msg import String, UInt8MultiArray  # noqa: E402

from robot_rl.ros_env import EPISODE_TOPIC  # noqa: E402
from robot_rl.store.replica import Fetcher, NotNext, Replica, ReplicaError  # noqa: E402
from robot_rl.store.schema import StoreError  # noqa: E402


@dataclass
class EpisodeReplicaConfig(NodeConfig):
    store: str = ""              # the replica's path on this host (made on the first announcement)
    retry_s: float = 5.0         # ask again after this long without an answer (doubling, up to max_retry_s)
    max_retry_s: float = 60.0
    report_path: str = ""

    def validate(self) -> None:
        if not self.store:
            raise ValueError("store (the replica's path on this host) is required")
        Fetcher(self.retry_s, self.max_retry_s)


class EpisodeReplica(RobotRLNode):
    def __init__(self):
        super().__init__("episode_replica", EpisodeReplicaConfig)
        c = self.config
        self.replica: Replica | None = None
        self.fetcher = Fetcher(c.retry_s, c.max_retry_s)
        self.source_has = 0
        self.asked_at = 0.0
        self.applied: list[dict] = []
        self.damaged = 0
        self.pub_request = self.create_publisher(String, "/store/request", qos("reliable"))
        self.create_subscription(String, "/store/announce", self._on_announce, qos("latched"))
        self.create_subscription(UInt8MultiArray, EPISODE_TOPIC, self._on_episode, qos("reliable", depth=2))
        self.create_timer(0.2, self._ask)

    def _on_announce(self, msg: String) -> None:
        try:
            ann = json.loads(msg.data)
            if self.replica is None:
                self.replica = Replica(self.config.store, ann)
                self.get_logger().info(f"replica {self.config.store} of store {self.replica.source}: "
                                       f"{self.replica.episodes} episodes here, {ann['episodes']} there")
            elif ann["source"] != self.replica.source:
                raise ReplicaError(f"the robot host now serves store {ann['source']}, this replica copies "
                                   f"{self.replica.source}; start a new replica")
            self.source_has = int(ann["episodes"])
        except StoreError as exc:    # another store's replica, or a damaged one: nothing is written
            self.get_logger().error(str(exc))
            self.stop(1)
            return
        except (ValueError, KeyError, TypeError) as exc:
            self.get_logger().warning(f"bad announcement: {exc}")
        self._ask()

    def _ask(self) -> None:
        if self.replica is None:
            return
        index = self.fetcher.due(self.replica.episodes, self.source_has, time.monotonic())
        if index is not None:
            self.asked_at = time.monotonic()
            self.pub_request.publish(String(data=json.dumps({"episode": index})))

    def _on_episode(self, msg: UInt8MultiArray) -> None:
        if self.replica is None:
            return
        try:
            got = self.replica.apply(bytes(msg.data))
        except NotNext:
            return
        except ReplicaError as exc:
            self.damaged += 1
            self.get_logger().warning(f"{exc}; asking again")
            self.fetcher.failed()
            self._ask()
            return
        wait_s = time.monotonic() - self.asked_at
        self.applied.append({"index": got.index, "digest": got.digest, "steps": got.steps, "bytes": got.nbytes, "wire_bytes": len(msg.data),
                             "fetch_s": round(wait_s, 3), "applied_ns": time.time_ns()})
        self.get_logger().info(f"episode {got.index}: {got.steps} steps, {got.nbytes / 1e6:.1f} MB, digest "
                               f"{got.digest[:12]} equal after {wait_s:.2f} s ({self.replica.episodes}/{self.source_has})")
        self._write_report()
        self._ask()

    def _write_report(self) -> None:
        if not self.config.report_path:
            return
        tmp = f"{self.config.report_path}.tmp"
        with open(tmp, "w") as f:
            json.dump({"episodes": self.replica.episodes if self.replica else 0, "source_has": self.source_has,
                       "applied": self.applied, "damaged": self.damaged, "retries": self.fetcher.retries}, f)
        os.replace(tmp, self.config.report_path)

    def close(self) -> None:
        if self.replica is not None:
            self.replica.close()
        self._write_report()


if __name__ == "__main__":
    main_entry(EpisodeReplica)
