"""Preflight (issue #8): refuses when a topic is missing, a rate is off by more than 20%, the clocks
disagree by more than 50 ms, or the robot stands outside its limits, naming the problem; passes on
the running simulator. The judging is ROS-free; the node runs against real publishers."""
from __future__ import annotations

import json

import numpy as np
import yaml

from conftest import wait_exit
from robot_rl import config
from robot_rl.preflight import PreflightConfig, TopicExpectation, TopicObservation, evaluate

MS = 1_000_000


def stream(rate_hz: float, seconds: float = 3.0, offset_ms: float = 5.0, jitter_ms: float = 3.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(0, seconds, 1 / rate_hz) * 1e9
    return TopicObservation(receive_ns=[int(v) for v in t],
                            offsets_ns=[int((offset_ms + j) * MS) for j in rng.uniform(0, jitter_ms, len(t))])


def cfg_two_topics() -> PreflightConfig:
    return PreflightConfig(topics=[TopicExpectation("/joint_states", "sensor_msgs/msg/JointState", 100.0),
                                   TopicExpectation("/camera/front/image_raw", "sensor_msgs/msg/Image", 30.0)])


def test_a_good_robot_passes():
    res = evaluate(cfg_two_topics(), {"/joint_states": stream(100), "/camera/front/image_raw": stream(30)},
                   ee_pose=np.array([0.4, 0.0, 0.2]))
    assert res["ok"], res["problems"]
    assert abs(res["topics"]["/joint_states"]["rate_hz"] - 100) < 1
    assert 4.9 <= res["topics"]["/camera/front/image_raw"]["clock_offset_ms"] <= 8


def test_each_problem_is_refused_and_named():
    cfg = cfg_two_topics()
    # missing camera
    res = evaluate(cfg, {"/joint_states": stream(100)})
    assert not res["ok"] and res["problems"] == ["missing: no sensor_msgs/msg/Image on /camera/front/image_raw in 3 s"]
    # a rate 25% low fails, 15% low passes
    res = evaluate(cfg, {"/joint_states": stream(75), "/camera/front/image_raw": stream(30)})
    assert [p.split(" at ")[0] for p in res["problems"]] == ["rate: /joint_states"]
    assert evaluate(cfg, {"/joint_states": stream(85), "/camera/front/image_raw": stream(30)})["ok"]
    # clocks: 80 ms behind, or stamps 60 ms in the future, fail; 40 ms passes
    for off, ok in ((80, False), (-60, False), (40, True)):
        res = evaluate(cfg, {"/joint_states": stream(100), "/camera/front/image_raw": stream(30, offset_ms=off)})
        assert res["ok"] == ok, (off, res)
        if not ok:
            assert res["problems"][0].startswith("clock: /camera/front/image_raw stamps disagree")
    # the end effector outside the description's workspace box; a joint outside its limits (arm6's
    # joint2 stops at 1.8 rad), found by name whatever order the driver publishes in
    names = [f"joint{i}" for i in range(1, 7)]
    good = {"/joint_states": stream(100), "/camera/front/image_raw": stream(30)}
    res = evaluate(cfg, good, ee_pose=np.array([0.4, 0.0, 0.55]), joints=np.array([0.2, 2.0, 0, 0, 0, 0])[::-1],
                   joint_names=names[::-1])
    assert [p.split(" is ")[0].split(" at ")[0] for p in res["problems"]] == ["limits: end effector z = 0.550",
                                                                            "limits: joint joint2"]
    # a driver that names the joints its own way: refused, naming them, until joint_names maps them
    driver = [f"arm_{j}" for j in names]
    res = evaluate(cfg, good, joints=np.zeros(6), joint_names=driver)
    assert len(res["problems"]) == 1 and res["problems"][0].startswith("joints: /joint_states lacks joint1, joint2")
    cfg.joint_names = ",".join(driver)
    assert evaluate(cfg, good, joints=np.zeros(6), joint_names=driver)["ok"]
    cfg.robot = "no_such_robot"
    assert evaluate(cfg, good)["problems"][0].startswith("robot: robot 'no_such_robot': no such description")


def run_preflight(procs, tmp_path, cfg: PreflightConfig, name: str):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config.to_dict(cfg)))
    node = procs.node("preflight_node", name, config=str(path), report_path=str(tmp_path / f"{name}.json"))
    code = wait_exit(node, 60)
    return code, json.loads((tmp_path / f"{name}.json").read_text()), node.log_path.read_text()


def test_preflight_node_on_the_simulator_and_a_robot_with_problems(procs, tmp_path):
    """The running sim robot (realtime, 10 Hz) passes; expecting a camera it lacks, a rate it does
    not publish at, or a joint-state publisher whose clock is 120 ms off, fails with the reason."""
    procs.node("sim_robot", "sim", mode="realtime", control_hz=10.0, cameras="front,wrist", image_width=64,
               image_height=64)
    code, rep, log = run_preflight(procs, tmp_path, PreflightConfig(listen_s=3.0), "good")
    assert code == 0 and rep["ok"], log[-3000:]
    assert rep["clock"] == "sim (/clock)" and abs(rep["topics"]["/ee_pose"]["rate_hz"] - 10) < 2

    cfg = PreflightConfig(listen_s=3.0)
    cfg.topics[0].rate_hz = 30.0                                   # the driver publishes joint states at 30 Hz?
    cfg.topics.append(TopicExpectation("/camera/side/image_raw", "sensor_msgs/msg/Image", 10.0))
    code, rep, log = run_preflight(procs, tmp_path, cfg, "bad")
    assert code == 1 and not rep["ok"]
    assert any(p.startswith("rate: /joint_states at ") for p in rep["problems"]), rep["problems"]
    assert "missing: no sensor_msgs/msg/Image on /camera/side/image_raw in 3 s" in rep["problems"]
    assert "preflight FAILED" in log

    procs.node("synthetic_source", "skewed", topic="/arm2/joint_states", kind="joint_state", rate_hz=50.0,
               qos="reliable", stamp_offset_s=-0.12)
    # a second machine's driver whose clock runs 120 ms behind ours, judged against this machine's
    # wall clock: the simulator's /clock (still running here) is remapped away for this check
    cfg = PreflightConfig(listen_s=2.0, topics=[TopicExpectation("/arm2/joint_states", "sensor_msgs/msg/JointState", 50.0)])
    path = tmp_path / "skew.yaml"
    path.write_text(yaml.safe_dump(config.to_dict(cfg)))
    from robot_rl.graph import NodeSpec
    spec = NodeSpec(name="skew", module="preflight_node", parameters={"config": str(path),
                    "report_path": str(tmp_path / "skew.json")}, remappings={"/clock": "/no_clock"})
    node = procs.start(spec.command(), "skew")
    assert wait_exit(node, 60) == 1, node.log_path.read_text()[-3000:]
    rep = json.loads((tmp_path / "skew.json").read_text())
    assert rep["clock"] == "wall"
    assert len(rep["problems"]) == 1 and rep["problems"][0].startswith(
        "clock: /arm2/joint_states stamps disagree with this machine's clock by 12"), rep["problems"]


def test_preflight_waits_for_a_publisher_discovered_late(procs, tmp_path):
    """A driver that comes up 4 s after the preflight node (longer than the 3 s listen window)
    still passes: the window opens once its publisher is discovered. With discovery_s 0 the
    window opens at once and the topic is missing."""
    import time

    from robot_rl.graph import NodeSpec

    def start(name: str, discovery_s: float):
        cfg = PreflightConfig(listen_s=3.0, discovery_s=discovery_s,
                              topics=[TopicExpectation("/late/joint_states", "sensor_msgs/msg/JointState", 50.0,
                                                       stamped=False)])
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config.to_dict(cfg)))
        spec = NodeSpec(name=name, module="preflight_node", parameters={
            "config": str(path), "report_path": str(tmp_path / f"{name}.json")}, remappings={"/clock": "/no_clock"})
        return procs.start(spec.command(), name)

    waiting, hasty = start("waiting", 10.0), start("hasty", 0.0)
    time.sleep(4.0)
    procs.node("synthetic_source", "late", topic="/late/joint_states", kind="joint_state", rate_hz=50.0, qos="reliable")
    assert wait_exit(waiting, 60) == 0, waiting.log_path.read_text()[-3000:]
    assert wait_exit(hasty, 60) == 1
    assert json.loads((tmp_path / "hasty.json").read_text())["problems"] == [
        "missing: no sensor_msgs/msg/JointState on /late/joint_states in 3 s"]
    assert "no publisher discovered in 0 s on: /late/joint_states" in hasty.log_path.read_text()
