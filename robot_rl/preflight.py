"""Preflight: before a policy may move the robot, check that every input it needs is there, at its
rate, stamped by a clock that agrees with ours, and that the robot stands inside the limits the
safety layer will enforce (a robot outside them would have its first command clamped into a jump).

ROS-free: `evaluate` judges what `ros_nodes/preflight_node.py` observed on the topics.

- missing: a topic with no message within the listening window
- rate: measured rate off the expected one by more than `rate_tolerance` (default 20%)
- clock: a topic's stamps disagree with our clock by more than `max_clock_offset_s` (50 ms).
  The offset is estimated as the smallest (receive time - stamp) over the window: transport and
  sensor delays only add to it, so the minimum is the best bound on the clocks' disagreement; a
  negative one (stamps from the future) is a clock ahead of ours. With `/clock` published (the
  simulator), "our clock" is sim time, as a node with use_sim_time sees it.
- joints: /joint_states names every joint of the robot's description (under the names the
  driver uses, `joint_names`, when they differ from the description's: a mapping, not a new robot)
- limits: the end effector's position inside the description's workspace box and every joint
  inside the description's limits.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional

import numpy as np

from robot_rl.robot import DEFAULT_ROBOT, canonical, driver_joints, load as load_robot


@dataclasses.dataclass
class TopicExpectation:
    topic: str
    type: str                    # pkg/msg/Type
    rate_hz: float = 0.0         # expected rate; 0: only present
    stamped: bool = True         # has header.stamp: its clock is checked


def _sim_topics() -> list[TopicExpectation]:
    return [TopicExpectation("/joint_states", "sensor_msgs/msg/JointState", 10.0),
            TopicExpectation("/ee_pose", "geometry_msgs/msg/PoseStamped", 10.0),
            TopicExpectation("/gripper/opening", "std_msgs/msg/Float64", 10.0, stamped=False),
            TopicExpectation("/camera/front/image_raw", "sensor_msgs/msg/Image", 10.0),
            TopicExpectation("/camera/wrist/image_raw", "sensor_msgs/msg/Image", 10.0)]


@dataclasses.dataclass
class PreflightConfig:
    topics: list[TopicExpectation] = dataclasses.field(default_factory=_sim_topics)
    listen_s: float = 3.0
    # before listening, wait up to this long until every topic's publisher has been discovered
    # (DDS discovery of a freshly started node occasionally takes seconds, and a window that
    # opens before it would call a topic missing that is there)
    discovery_s: float = 5.0
    rate_tolerance: float = 0.2
    max_clock_offset_s: float = 0.05
    # the robot description (builtin name or YAML path): its joints, their limits and the
    # workspace box the control node's safety layer enforces
    robot: str = DEFAULT_ROBOT
    # the driver's names of the description's joints, in the description's order ("" = the same
    # names); the control node's joint_names parameter takes the same list
    joint_names: str = ""

    def validate(self) -> None:
        if self.listen_s <= 0 or not 0 < self.rate_tolerance < 1 or self.max_clock_offset_s <= 0 or self.discovery_s < 0:
            raise ValueError("listen_s > 0, discovery_s >= 0, rate_tolerance in (0, 1), max_clock_offset_s > 0")
        self.driver_joints()

    def driver_joints(self) -> list[str]:
        """The names /joint_states must carry, in the description's joint order."""
        d = load_robot(self.robot)
        return driver_joints(d.joints, self.joint_names, d.name)


@dataclasses.dataclass
class TopicObservation:
    """What the preflight node saw on one topic during the window."""
    receive_ns: list[int] = dataclasses.field(default_factory=list)     # monotonic receive times
    offsets_ns: list[int] = dataclasses.field(default_factory=list)     # our clock - stamp, per message
    last: Any = None                                                     # the last message's values


def measured_rate(receive_ns: list[int]) -> float:
    if len(receive_ns) < 2:
        return 0.0
    span = (receive_ns[-1] - receive_ns[0]) / 1e9
    return (len(receive_ns) - 1) / span if span > 0 else math.inf


def robot_limits(robot: str) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(joint names, joint lower, joint upper, workspace low, workspace high) of a description."""
    from robot_rl.robot.kinematics import Kinematics
    d = load_robot(robot)
    lower, upper = Kinematics(d).joint_limits()   # as the control node enforces them
    return d.joints, lower, upper, np.asarray(d.workspace.low), np.asarray(d.workspace.high)


def evaluate(cfg: PreflightConfig, seen: dict[str, TopicObservation], ee_pose: Optional[np.ndarray] = None,
             joints: Optional[np.ndarray] = None, joint_names: Optional[list[str]] = None) -> dict[str, Any]:
    """{"ok": bool, "problems": [one line each], "topics": {topic: figures}}. ee_pose: [x, y, z, ...];
    joints / joint_names: the last /joint_states positions and names."""
    problems, topics = [], {}
    limits = None
    try:
        cfg.validate()
        limits = robot_limits(cfg.robot)
    except (ValueError, FileNotFoundError) as exc:
        problems.append(f"robot: {exc}")
    for t in cfg.topics:
        obs = seen.get(t.topic, TopicObservation())
        row: dict[str, Any] = {"messages": len(obs.receive_ns)}
        topics[t.topic] = row
        if not obs.receive_ns:
            problems.append(f"missing: no {t.type} on {t.topic} in {cfg.listen_s:g} s")
            continue
        if t.rate_hz > 0:
            rate = measured_rate(obs.receive_ns)
            row["rate_hz"] = round(rate, 2)
            if abs(rate - t.rate_hz) > cfg.rate_tolerance * t.rate_hz:
                problems.append(f"rate: {t.topic} at {rate:.1f} Hz, expected {t.rate_hz:g} Hz "
                                f"(+-{cfg.rate_tolerance:.0%})")
        if t.stamped and obs.offsets_ns:
            offset = min(obs.offsets_ns) / 1e9
            row["clock_offset_ms"] = round(offset * 1e3, 2)
            if abs(offset) > cfg.max_clock_offset_s:
                ahead = " (stamps ahead of our clock)" if offset < 0 else ""
                problems.append(f"clock: {t.topic} stamps disagree with this machine's clock by {abs(offset) * 1e3:.0f} ms"
                                f"{ahead}, more than {cfg.max_clock_offset_s * 1e3:.0f} ms: synchronize the clocks "
                                f"(chrony/PTP) or fix the driver's stamps")
    if limits is not None:
        problems += _limit_problems(cfg, limits, ee_pose, joints, joint_names)
    return {"ok": not problems, "problems": problems, "topics": topics}


def _limit_problems(cfg: PreflightConfig, limits, ee_pose, joints, joint_names) -> list[str]:
    problems = []
    names, lower, upper, ws_low, ws_high = limits
    if ee_pose is not None:
        # position only: the yaw the safety layer bounds is relative to the robot model's home
        # orientation, which the control node knows and this check does not
        pose = np.asarray(ee_pose[:3], float)
        for i, axis in enumerate(("x", "y", "z")):
            if not ws_low[i] <= pose[i] <= ws_high[i]:
                problems.append(f"limits: end effector {axis} = {pose[i]:.3f} is outside the workspace box "
                                f"[{ws_low[i]:g}, {ws_high[i]:g}]: jog it inside before a policy may move it")
    if joints is None:
        return problems
    q, driver = np.asarray(joints, float), cfg.driver_joints()
    if joint_names is not None:
        missing = [j for j in driver if j not in joint_names]
        if missing:
            return problems + [f"joints: /joint_states lacks {', '.join(missing)} of robot {cfg.robot} (it names "
                               f"{', '.join(joint_names[:12]) or 'none'}); give the driver's names as joint_names"]
        q = q[[joint_names.index(j) for j in driver]] if len(q) == len(joint_names) else q
    if len(q) != len(names):
        return problems + [f"joints: {len(q)} positions on /joint_states, robot {cfg.robot} has {len(names)} joints"]
    for i in np.flatnonzero((q < lower) | (q > upper)):
        problems.append(f"limits: joint {driver[i]} at {q[i]:.3f} rad is outside [{lower[i]:.3f}, {upper[i]:.3f}]")
    return problems


def run_preflight(cfg: PreflightConfig, out_dir, sim: bool = False, task: str = "pick_cube",
                  dds: Optional[str] = None) -> int:
    """Run the preflight node (and with sim, the simulated robot to check) as a graph; 0 = go.
    Writes out_dir/preflight.yaml (the config used) and out_dir/preflight.json (the report). A
    robot's driver runs outside robot_rl's environment, so without sim the graph meets it on ROS's
    own DDS settings."""
    import pathlib

    import yaml

    from robot_rl import config
    from robot_rl.graph import GraphConfig, GraphRunner, NodeSpec
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "preflight.yaml"
    path.write_text(yaml.safe_dump(config.to_dict(cfg), sort_keys=False))
    nodes = []
    if sim:
        nodes.append(NodeSpec(name="sim", module="sim_robot", required=False, parameters={
            "task": task, "robot": canonical(cfg.robot), "mode": "realtime", "control_hz": 10.0, "physics_hz": 500.0,
            "cameras": "front,wrist", "image_width": 128, "image_height": 128}))
    nodes.append(NodeSpec(name="preflight", module="preflight_node", parameters={
        "config": str(path), "report_path": str(out_dir / "preflight.json")}))
    from robot_rl import ros_env
    graph = GraphConfig(name="preflight", nodes=nodes, dds=dds or ("loopback" if sim else "system"),  # type: ignore[arg-type]
                        domain_id=ros_env.sim_graph_domain() if sim else None)
    return GraphRunner(graph).run()
