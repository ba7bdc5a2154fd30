"""What every node process of ours shares: environment, parameters, executor, clean shutdown.

A node module defines a config dataclass (subclass of NodeConfig) and a RobotRLNode subclass
whose constructor calls `super().__init__("default_name", MyNodeConfig)`, and ends with:

    if __name__ == "__main__":
        main_entry(MyNode)

Parameters are the ROS parameters (`--ros-args -p key:=value`, what `robot-rl up` passes), declared
from the dataclass fields and validated by robot_rl.config, so a bad value stops the node with one
clear line and exit code 2.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import time
import typing
from dataclasses import dataclass
from typing import Any, Callable, Literal, TypeVar

from robot_rl import ros_env

ros_env.ensure_prepared()  # before rclpy is imported: may re-exec this process once

import rclpy  # noqa: E402
from rclpy.duration import Duration  # noqa: E402
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import (  # noqa: E402
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from rcl_interfaces.msg import ParameterDescriptor  # noqa: E402

from robot_rl import config as cfg  # noqa: E402

EXIT_CONFIG_ERROR = 2
ACK_TIMEOUT_S = 5.0   # a stopping node waits this long in all for its reliable subscribers' acknowledgements
C = TypeVar("C", bound="NodeConfig")


@dataclass
class NodeConfig:
    """Parameters every node has."""

    # events: rclpy.experimental.EventsExecutor (lowest latency here); single: SingleThreadedExecutor.
    # Never MultiThreadedExecutor: in rclpy 9.1.2 it delivered 83 of 2500 messages at 500 Hz.
    executor: Literal["events", "single"] = "events"


# --- QoS presets, named in the README's interface table -----------------------------------------
def qos(name: str, depth: int | None = None) -> QoSProfile:
    """sensor: best effort, keep last 5 (camera images: a late frame is worthless);
    reliable: reliable, keep last 100 (proprio, commands, step records: every sample counts);
    latched: reliable + transient local, depth 1 (policy updates, robot description)."""
    if name == "sensor":
        return QoSProfile(depth=depth or 5, reliability=ReliabilityPolicy.BEST_EFFORT,
                          history=HistoryPolicy.KEEP_LAST)
    if name == "reliable":
        return QoSProfile(depth=depth or 100, reliability=ReliabilityPolicy.RELIABLE,
                          history=HistoryPolicy.KEEP_LAST)
    if name == "latched":
        return QoSProfile(depth=depth or 1, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL, history=HistoryPolicy.KEEP_LAST)
    raise ValueError(f"unknown QoS preset {name!r} (sensor, reliable, latched)")


# --- parameters -------------------------------------------------------------------------------
def _ros_value(value: Any) -> Any:
    """ROS parameters have no None, tuple or Path: map config defaults onto what they have."""
    if isinstance(value, tuple):
        return list(value)
    if value is None:
        return ""
    return value if isinstance(value, (bool, int, float, str, list)) else str(value)


def declare_config(node: Node, cls: type[C]) -> C:
    """Declare one ROS parameter per dataclass field and build the validated config from them."""
    hints = typing.get_type_hints(cls)
    descriptor = ParameterDescriptor(dynamic_typing=True)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        has_default = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
        default = field.default if field.default is not dataclasses.MISSING else (
            field.default_factory() if has_default else None)
        param = node.declare_parameter(field.name, _ros_value(default) if has_default else None, descriptor)
        if param.type_ == Parameter.Type.NOT_SET:
            if has_default:
                values[field.name] = default
            continue  # a required field left unset: from_dict reports it missing
        value = param.value
        if isinstance(value, str) and value == "" and _optional(hints[field.name]):
            value = None
        if isinstance(value, (list, tuple)) or type(value).__name__ == "array":
            value = list(value)
        values[field.name] = value
    # rclpy keeps the -p overrides it was given here; any not declared above is a typo.
    undeclared = sorted(set(node._parameter_overrides) - {f.name for f in dataclasses.fields(cls)}
                        - {"use_sim_time"})
    if undeclared:
        known = ", ".join(f.name for f in dataclasses.fields(cls))
        raise cfg.ConfigError(f"{undeclared[0]}: unknown parameter (known: {known})")
    return cfg.from_dict(cls, values)


def _optional(tp: Any) -> bool:
    return type(None) in typing.get_args(tp)


# --- main -------------------------------------------------------------------------------------
def make_executor(kind: str):
    if kind == "events":
        from rclpy.experimental import EventsExecutor

        return EventsExecutor()
    return SingleThreadedExecutor()


class RobotRLNode(Node):
    """Base for our nodes: `self.config` from parameters, and a way to end the process cleanly."""

    def __init__(self, default_name: str, config_cls: type[C]):
        super().__init__(default_name)
        self.config = declare_config(self, config_cls)
        self.exit_code = 0

    def stop(self, exit_code: int = 0) -> None:
        """End spinning (from a callback or the node's own thread): the process then cleans up and
        exits with exit_code. First it waits, up to ACK_TIMEOUT_S in all, until the subscribers of
        each reliable publisher acknowledged what it sent: a node that stops right after its last
        message (a replay's end, a source's last sample, the simulator's last step) would otherwise
        take the unacknowledged ones with it."""
        self.exit_code = exit_code
        unacked = self.unacknowledged(ACK_TIMEOUT_S)
        if unacked:
            self.get_logger().warning(f"stopping with messages on {', '.join(unacked)} not acknowledged by every "
                                      f"subscriber {ACK_TIMEOUT_S:g} s after they were sent")
        self.context.try_shutdown()

    def unacknowledged(self, timeout_s: float) -> list[str]:
        """The topics whose reliable publisher still has messages a subscriber has not acknowledged
        after waiting up to timeout_s for all of them together (best-effort publishers never wait)."""
        deadline = time.monotonic() + timeout_s
        late = []
        for pub in list(self.publishers):
            left = max(deadline - time.monotonic(), 0.0)
            try:
                if not pub.wait_for_all_acked(Duration(seconds=left)):
                    late.append(pub.topic_name)
            except Exception:  # noqa: BLE001 - a publisher destroyed meanwhile has nothing left to wait for
                continue
        return late

    def close(self) -> None:
        """Override to flush reports or files at shutdown (runs after spinning ends)."""


def spin_until_shutdown(executor, context, log=None) -> None:
    """Spin until the context shuts down (SIGINT/SIGTERM or node.stop()), or until the graph runner
    that started this process is gone: its death sends us SIGTERM (PR_SET_PDEATHSIG), and the node
    also looks for itself, so an orphan ends however that signal fares.

    A spin_once loop rather than executor.spin(): in rclpy 9.1.2, EventsExecutor.spin() never runs
    timer callbacks (measured here: 0 ticks of a 10 Hz timer in 5 s), while spin_once() runs them.
    """
    runner = int(os.environ.get(ros_env.RUNNER_PID_VAR, "0") or 0)
    while context.ok():
        executor.spin_once(timeout_sec=0.1)
        if runner and os.getppid() != runner:
            if log is not None:
                log.error(f"the graph runner (pid {runner}) is gone; stopping")
            return


def run_node(node_cls: Callable[[], RobotRLNode], argv: list[str] | None = None) -> int:
    """Init rclpy, build the node (its constructor reads its parameters), spin until SIGINT/SIGTERM
    or node.stop(), clean up. Returns the process exit code: 2 for bad parameters."""
    rclpy.init(args=sys.argv if argv is None else argv)
    node: RobotRLNode | None = None
    try:
        try:
            node = node_cls()
        except cfg.ConfigError as exc:
            rclpy.logging.get_logger(getattr(node_cls, "__name__", "node")).error(f"bad parameter: {exc}")
            return EXIT_CONFIG_ERROR
        executor = make_executor(node.config.executor)
        executor.add_node(node)
        try:
            spin_until_shutdown(executor, node.context, node.get_logger())
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        return node.exit_code
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        rclpy.try_shutdown()


def main_entry(node_cls: Callable[[], RobotRLNode]) -> None:
    """`if __name__ == "__main__": main_entry(MyNode)`"""
    sys.exit(run_node(node_cls))
