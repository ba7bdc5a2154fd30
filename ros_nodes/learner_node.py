"""The learner node: runs robot_rl.learn's learner in this process and announces every exported
policy on /policy/update (std_msgs/String "path sha256", latched), which the control node loads,
checks and swaps in between two ticks; or, with `send: value` (a control node on another machine,
docs/TWO_HOSTS.md), sends the policy itself on /policy/model (std_msgs/UInt8MultiArray, latched:
robot_rl.policy.transfer's metadata + ONNX bytes), which the control node writes into its own
registry before the same checks. Glue only: the learner itself knows nothing of ROS.

Parameters: `config`, a LearnerConfig YAML (`robot-rl learn` writes runs/<policy>/learner.yaml),
`send` (path or value), `resume` (continue from the run's checkpoint; a learner the graph runner
restarts after a failure does so whenever there is one, since starting over would send the robot
untrained weights in place of what it learned) and `store_wait_s` (on a
learner host, wait this long for the replica store to appear: ros_nodes/episode_replica.py makes it
when the robot host first answers). The node exits when the learner finishes
(max_updates, idle_exit_s) or on SIGINT/SIGTERM, after a final export and checkpoint.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Literal

from ros_nodes.runtime import NodeConfig, RobotRLNode, main_entry, qos

from std_msgs.msg import String, UInt8MultiArray  # noqa: E402

from robot_rl import config, log, ros_env  # noqa: E402
from robot_rl.learn.learner import Learner  # noqa: E402
from robot_rl.learn.config import LearnerConfig  # noqa: E402
from robot_rl.policy.spec import PolicyError  # noqa: E402
from robot_rl.policy.transfer import pack  # noqa: E402
from robot_rl.ros_env import POLICY_MODEL_TOPIC  # noqa: E402
from robot_rl.store.schema import StoreError  # noqa: E402


@dataclass
class LearnerNodeConfig(NodeConfig):
    config: str = ""
    send: Literal["path", "value"] = "path"   # value: the policy's bytes, for a control node on another host
    resume: bool = False
    store_wait_s: float = 0.0       # wait this long for the store to exist (0: it must exist at start)

    def validate(self) -> None:
        if not self.config:
            raise ValueError("config (a LearnerConfig YAML) is required")
        if not self.store_wait_s >= 0:
            raise ValueError("store_wait_s must be >= 0")


class LearnerNode(RobotRLNode):
    def __init__(self):
        super().__init__("learner_node", LearnerNodeConfig)
        log.setup()   # the learner's progress line and events, on this process's stderr
        lcfg = config.load(LearnerConfig, self.config.config)
        self._wait_for_store(lcfg.store)
        if self.config.send == "value":
            self.pub_model = self.create_publisher(UInt8MultiArray, POLICY_MODEL_TOPIC, qos("latched"))
        else:
            self.pub = self.create_publisher(String, "/policy/update", qos("latched"))
        resume = self.config.resume
        restarts = int(os.environ.get(ros_env.RESTARTS_VAR, "0") or 0)
        if restarts:
            resume = resume or Learner.checkpoint_file(lcfg).exists()
            self.get_logger().warning(f"restarted after a failure ({restarts}): "
                                      + ("continuing from the run's checkpoint" if resume else
                                         "no checkpoint yet, starting over"))
        try:
            self.learner = Learner(lcfg, on_export=self._announce, resume=resume)
        except (StoreError, PolicyError, OSError, ValueError) as exc:
            raise config.ConfigError(str(exc)) from None
        if self.learner.resumed_from is not None:
            self.get_logger().info(f"resumed from {self.learner.checkpoint_path} at update {self.learner.resumed_from}")
        self.result: dict = {}
        self.failed = False
        self.thread = threading.Thread(target=self._run, daemon=True, name="learner")
        self.thread.start()
        self.create_timer(0.5, self._check_done)

    def _wait_for_store(self, store: str) -> None:
        deadline = time.monotonic() + self.config.store_wait_s
        if not os.path.exists(os.path.join(store, "zarr.json")) and self.config.store_wait_s > 0:
            self.get_logger().info(f"waiting up to {self.config.store_wait_s:g} s for the store {store}")
        while not os.path.exists(os.path.join(store, "zarr.json")) and time.monotonic() < deadline:
            time.sleep(0.2)

    def _announce(self, path, sha256: str) -> None:
        if not self.context.ok():
            return
        if self.config.send == "value":
            payload = pack(path)
            self.pub_model.publish(UInt8MultiArray(data=payload))
            self.get_logger().info(f"sent {path} ({len(payload):,} bytes) on /policy/model")
        else:
            self.pub.publish(String(data=f"{path} {sha256}"))
            self.get_logger().info(f"announced {path} on /policy/update")

    def _run(self) -> None:
        try:
            self.result = self.learner.run()
        except Exception as exc:  # noqa: BLE001 - reported, and the process exits non-zero
            self.failed = True
            self.get_logger().error(f"learner failed: {type(exc).__name__}: {exc}")

    def _check_done(self) -> None:
        if not self.thread.is_alive():
            if not self.failed:
                self.get_logger().info(f"learner finished: {self.result}")
            self.stop(1 if self.failed else 0)

    def close(self) -> None:
        self.learner.stop()
        self.thread.join(timeout=120)


if __name__ == "__main__":
    main_entry(LearnerNode)
