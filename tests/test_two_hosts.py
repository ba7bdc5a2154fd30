"""A graph that spans two machines (issue #35, first part): two network namespaces joined by a veth
pair, each with its own /dev/shm and machine id (what makes Fast DDS take them for two hosts), one
`robot-rl up CONFIG --host NAME` in each. DDS reaches the other host on the named addresses only;
the default (loopback) reaches nothing outside its machine; a cut link stops the flow and a
restored one resumes it."""
from __future__ import annotations

import os
import re
import signal
import time

import pytest
import yaml

from conftest import ROBOT_RL, wait_exit, wait_until
from netns import NamespacesRefused, TwoHosts

pytestmark = pytest.mark.ros


@pytest.fixture
def hosts(tmp_path):
    if not os.path.exists("/etc/machine-id"):
        pytest.skip("no /etc/machine-id to give each namespace its own")
    try:
        h = TwoHosts(tmp_path)
    except NamespacesRefused as exc:
        pytest.skip(str(exc))
    yield h
    h.remove()


def graph(tmp_path, hosts: TwoHosts) -> str:
    nodes = [{"name": "talker", "module": "synthetic_source", "host": "robot",
              "parameters": {"topic": "/chatter", "kind": "joint_state", "rate_hz": 50.0, "qos": "reliable"}},
             {"name": "listener", "module": "topic_monitor", "host": "learner",
              "parameters": {"topic": "/chatter", "msg_type": "sensor_msgs/msg/JointState", "qos": "reliable",
                             "status_period_s": 0.5, "report_path": str(tmp_path / "listener.json")}}]
    path = tmp_path / "two_hosts.yaml"
    path.write_text(yaml.safe_dump({"name": "two_hosts", "nodes": nodes, "hosts": {
        "robot": {"address": hosts.addr["a"]}, "learner": {"address": hosts.addr["b"]}}}))
    return str(path)


def received(proc) -> int:
    counts = re.findall(r"/chatter: [\d.]+ Hz, (\d+) msgs", proc.log_path.read_text(errors="replace"))
    return int(counts[-1]) if counts else 0


def test_two_hosts_talk_on_their_addresses_only_and_survive_a_cut_link(procs, tmp_path, hosts):
    config = graph(tmp_path, hosts)
    # the learner host alone: the robot host's talker, started with the default (loopback) DDS,
    # stays on its machine
    learner = procs.start(hosts.command("b", [*ROBOT_RL, "up", config, "--host", "learner"]), "learner_host")
    solo = tmp_path / "talker_only.yaml"
    solo.write_text(yaml.safe_dump({"name": "solo", "nodes": [
        {k: v for k, v in yaml.safe_load(open(config))["nodes"][0].items() if k != "host"}]}))
    loopback = procs.start(hosts.command("a", [*ROBOT_RL, "up", str(solo)]), "robot_loopback")
    assert wait_until(lambda: "publishing joint_state" in loopback.log_path.read_text(errors="replace"), 60)
    assert wait_until(lambda: received(learner) > 0, 8) is False, "loopback DDS reached the other host"
    loopback.send_signal(signal.SIGINT)
    assert wait_exit(loopback, 30) == 0

    # the robot host's part of the same graph: DDS on the two addresses
    robot = procs.start(hosts.command("a", [*ROBOT_RL, "up", config, "--host", "robot"]), "robot_host")
    assert wait_until(lambda: received(learner) >= 100, 60), learner.log_path.read_text(errors="replace")[-2000:]
    log = robot.log_path.read_text(errors="replace")
    assert f"host robot ({hosts.addr['a']}), DDS to {hosts.addr['b']}" in log, log

    # cut the link: nothing arrives while it is down; it resumes once it is back
    hosts.link(False)
    time.sleep(1.5)                     # what was in flight lands
    at_cut = received(learner)
    time.sleep(3.0)
    assert received(learner) == at_cut
    hosts.link(True)
    assert wait_until(lambda: received(learner) >= at_cut + 50, 60), learner.log_path.read_text(errors="replace")[-2000:]

    for proc in (robot, learner):
        proc.send_signal(signal.SIGINT)
    assert wait_exit(robot, 30) == 0 and wait_exit(learner, 30) == 0


def _durable_steps(store) -> int:
    """Steps on the robot host's disk, the episode being recorded included."""
    from robot_rl.store import layout
    attrs = layout.read_root_attrs(store)
    rec = attrs.get("recording")
    return int(rec["durable"]["steps"]) if rec and rec.get("durable") else int(attrs["commit"]["steps"])


def test_a_session_across_a_lossy_slow_link_replicates_every_episode_and_swaps_policies(procs, tmp_path, hosts):
    """Issue #35 end to end: the robot graph (simulator, control, recorder, the simulated human
    correcting a BC base, the episode server) on one host, the learner with its replica on the
    other, over a link that drops 5% of frames each way and carries 100 Mbit/s. Every episode the
    learner host holds equals the robot host's by digest; a policy trained there is swapped in on the
    robot host; a 10 s cut leaves the robot acting and recording, and the replica catches up after."""
    import dataclasses
    import shutil
    import subprocess
    import sys

    from conftest import read_json
    from robot_rl import config, sim
    from robot_rl.learn.config import LearnerConfig
    from robot_rl.policy.registry import PolicyRegistry
    from robot_rl.record.graph import RecordingGraph, recording_nodes
    from robot_rl.sim.experts import make_expert
    from robot_rl.sim.rollout import rollout, sim_store_spec
    from robot_rl.store import EpisodeStore, StoreWriter
    from robot_rl.store.replica import episode_digest

    # a BC base from three expert demonstrations, in both hosts' registries
    demos = tmp_path / "demos.zarr"
    env = sim.make("pick_cube", image_size=[64, 64])
    with StoreWriter(demos, sim_store_spec(env)) as w:
        for seed in range(3):
            rollout(env, w, seed, operator=make_expert(env, seed=seed))
    env.close()
    bc = subprocess.run([sys.executable, "-m", "robot_rl.cli", "bc", "--store", str(demos), "--policy", "base",
                         "--steps", "50"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert bc.returncode == 0, bc.stderr[-2000:]
    learner_reg, robot_reg = tmp_path / "policies", tmp_path / "robot_policies"
    shutil.copytree(learner_reg / "base", robot_reg / "base")

    robot_store, replica = tmp_path / "robot.zarr", tmp_path / "replica.zarr"
    rec = RecordingGraph(store=str(robot_store), episodes=100, teleop="corrector", cameras="front",
                         image_size=64, policy=str(robot_reg / "base" / "v0001.onnx"), registry=str(robot_reg),
                         max_episode_s=8.0, reset_wait_s=0.5)
    nodes = []
    for spec in recording_nodes(rec):
        if spec.name == "control":
            spec.parameters["report_path"] = str(tmp_path / "control.json")
        nodes.append({**dataclasses.asdict(spec), "host": "robot"})
    nodes.append({"name": "server", "module": "episode_server", "host": "robot",
                  "parameters": {"store": str(robot_store)}})
    lcfg = LearnerConfig(store=str(replica), policy="pol", mode="residual", base=str(tmp_path / "runs/base/bc.safetensors"),
                         cameras="", registry=str(learner_reg), run_dir=str(tmp_path / "run"), batch=32, utd=1000.0,
                         export_every_s=2.0, checkpoint_every_s=1e6, plot_every_s=1e6, seed=1)
    (tmp_path / "learner.yaml").write_text(yaml.safe_dump(config.to_dict(lcfg)))
    nodes += [{"name": "replica", "module": "episode_replica", "host": "learner",
               "parameters": {"store": str(replica), "report_path": str(tmp_path / "replica.json"), "retry_s": 3.0}},
              {"name": "learner", "module": "learner_node", "host": "learner",
               "parameters": {"config": str(tmp_path / "learner.yaml"), "send": "value", "store_wait_s": 300.0}}]
    graph_path = tmp_path / "session.yaml"
    graph_path.write_text(yaml.safe_dump({"name": "two_host_session", "nodes": nodes, "hosts": {
        "robot": {"address": hosts.addr["a"]}, "learner": {"address": hosts.addr["b"]}}}))

    hosts.impair(loss_pct=5, rate_mbit=100)
    learner = procs.start(hosts.command("b", [*ROBOT_RL, "up", str(graph_path), "--host", "learner"]), "learner_host")
    robot = procs.start(hosts.command("a", [*ROBOT_RL, "up", str(graph_path), "--host", "robot"]), "robot_host")
    logs = lambda: (robot.log_path.read_text(errors="replace")[-3000:]  # noqa: E731
                    + learner.log_path.read_text(errors="replace")[-3000:])
    replicated = lambda: (read_json(tmp_path / "replica.json")["episodes"]  # noqa: E731
                          if (tmp_path / "replica.json").exists() else 0)
    assert wait_until(lambda: replicated() >= 2, 240), logs()
    assert wait_until(lambda: "pol" in PolicyRegistry(robot_reg).names() and PolicyRegistry(robot_reg).versions("pol")
                      and "swapped" in robot.log_path.read_text(errors="replace"), 180), logs()

    # the link cut for 10 s: the robot keeps acting and recording; nothing reaches the replica
    hosts.link(False)
    time.sleep(1.0)
    steps_at_cut, replica_at_cut = _durable_steps(robot_store), replicated()
    time.sleep(10.0)
    assert _durable_steps(robot_store) >= steps_at_cut + 30, "the robot stopped recording while the link was down"
    assert replicated() == replica_at_cut
    hosts.link(True)
    committed = len(EpisodeStore.open(robot_store))
    assert committed > replica_at_cut, "no episode was committed during the cut"
    assert wait_until(lambda: replicated() >= committed, 180), logs()

    for proc in (robot, learner):
        proc.send_signal(signal.SIGINT)
    assert wait_exit(robot, 60) == 0 and wait_exit(learner, 120) == 0, logs()
    source, copy = EpisodeStore.open(robot_store), EpisodeStore.open(replica)
    assert committed <= len(copy) <= len(source)
    for i in range(len(copy)):
        assert episode_digest(copy, i) == episode_digest(source, i), f"episode {i} differs"
    assert hosts.dropped() > 0                          # the loss rules did drop frames
    swaps = read_json(tmp_path / "control.json")["swaps"]
    assert any(s["ok"] and s["path"].startswith(str(robot_reg / "pol")) for s in swaps), swaps
