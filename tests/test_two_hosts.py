"""A graph that spans two machines (issue #35, first part): two network namespaces joined by a veth
pair, each with its own /dev/shm and machine id (what makes Fast DDS take them for two hosts), one
`robot-rl up CONFIG --host NAME` in each. DDS reaches the other host on the named addresses only;
the default (loopback) reaches nothing outside its machine; a cut link stops the flow and a
restored one resumes it."""
from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time

import pytest
import yaml

from conftest import ROBOT_RL, wait_exit, wait_until

pytestmark = pytest.mark.ros


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


class TwoHosts:
    """Namespaces `a` and `b`, addresses `addr[a]`, `addr[b]` on one /24, and `run(host, cmd)`:
    the command as if on that machine."""

    def __init__(self, tmp_path):
        tag = f"{os.getpid() % 10000}{random.randrange(100)}"
        self.ns = {"a": f"rra{tag}", "b": f"rrb{tag}"}
        self.dev = {"a": f"rva{tag}", "b": f"rvb{tag}"}
        net = f"10.{random.randrange(100, 250)}.{random.randrange(256)}"
        self.addr = {"a": f"{net}.1", "b": f"{net}.2"}
        self.tmp = tmp_path
        made = _ip("netns", "add", self.ns["a"])
        if made.returncode != 0:
            pytest.skip(f"this kernel or user may not make network namespaces: {made.stderr.strip()}")
        for cmd in (["netns", "add", self.ns["b"]],
                    ["link", "add", self.dev["a"], "type", "veth", "peer", "name", self.dev["b"]]):
            r = _ip(*cmd)
            assert r.returncode == 0, r.stderr
        for h in "ab":
            for cmd in (["link", "set", self.dev[h], "netns", self.ns[h]],
                        ["-n", self.ns[h], "addr", "add", f"{self.addr[h]}/24", "dev", self.dev[h]],
                        ["-n", self.ns[h], "link", "set", self.dev[h], "up"],
                        ["-n", self.ns[h], "link", "set", "lo", "up"]):
                r = _ip(*cmd)
                assert r.returncode == 0, r.stderr
            (tmp_path / f"machine-id-{h}").write_text(f"{random.getrandbits(128):032x}\n")

    def command(self, host: str, cmd: list[str]) -> list[str]:
        inner = (f"mount -t tmpfs tmpfs /dev/shm && mount --bind {self.tmp}/machine-id-{host} /etc/machine-id"
                 f" && exec {' '.join(cmd)}")
        return ["ip", "netns", "exec", self.ns[host], "unshare", "--mount", "--propagation", "private",
                "bash", "-c", inner]

    def link(self, up: bool) -> None:
        r = _ip("-n", self.ns["a"], "link", "set", self.dev["a"], "up" if up else "down")
        assert r.returncode == 0, r.stderr

    def remove(self) -> None:
        for h in "ab":
            _ip("netns", "del", self.ns[h])   # takes its end of the veth pair with it


@pytest.fixture
def hosts(tmp_path):
    if not os.path.exists("/etc/machine-id"):
        pytest.skip("no /etc/machine-id to give each namespace its own")
    h = TwoHosts(tmp_path)
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
