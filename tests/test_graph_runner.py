"""`robot-rl up`: real node processes, log prefixes, signals, restarts, failures, bad configs."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest
import yaml
from pathlib import Path

from conftest import ROBOT_RL, children_of, pid_alive, wait_exit, wait_until

pytestmark = pytest.mark.ros
DATA = Path(__file__).parent / "data"


def write_graph(tmp_path, nodes, **extra) -> str:
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump({"name": "test", "nodes": nodes, **extra}))
    return str(path)


def talker(rate=100.0, **kw):
    return {"name": "talker", "module": "synthetic_source",
            "parameters": {"topic": "/chatter", "kind": "joint_state", "rate_hz": rate, "qos": "reliable"}, **kw}


def listener(tmp_path, **params):
    return {"name": "listener", "module": "topic_monitor",
            "parameters": {"topic": "/chatter", "msg_type": "sensor_msgs/msg/JointState", "qos": "reliable",
                           "status_period_s": 0.5, "report_path": str(tmp_path / "listener.json"), **params}}


def up(procs, graph, *args):
    return procs.start([*ROBOT_RL, "up", graph, *args], "up")


def log_of(proc) -> str:
    return proc.log_path.read_text(errors="replace")


def test_two_node_graph_talks_and_ends_with_its_required_node(procs, tmp_path):
    graph = write_graph(tmp_path, [talker(), listener(tmp_path, expected_count=200, duration_s=30.0)])
    runner = up(procs, graph)
    assert wait_exit(runner, 60) == 0, log_of(runner)
    report = json.loads((tmp_path / "listener.json").read_text())
    assert report["received"] == 200
    log = log_of(runner)
    assert re.search(r"^\[talker\s*\] .*publishing joint_state on /chatter", log, re.M), log
    assert re.search(r"^\[listener\s*\] .*/chatter: .* Hz", log, re.M), log
    assert "required node listener exited with code 0" in log


def test_sigint_stops_every_process_cleanly(procs, tmp_path):
    # The shutdown timeout is wide so that a slow machine is not taken for a stubborn node: this test
    # is about every node ending on SIGINT by itself (the escalation has its own test below).
    graph = write_graph(tmp_path, [talker(), listener(tmp_path)], shutdown_timeout_s=30.0)
    runner = up(procs, graph)
    # Both nodes up and talking: the listener reports messages.
    assert wait_until(lambda: re.search(r"\[listener\s*\] .* [1-9]\d* msgs", log_of(runner)), 30), log_of(runner)
    kids = children_of(runner.pid)
    assert len(kids) == 2
    runner.send_signal(signal.SIGINT)
    code = wait_exit(runner, 40)
    assert wait_until(lambda: not any(pid_alive(p) for p in kids), 5)
    assert code == 0, log_of(runner)
    assert "stopping 2 node(s) (SIGINT)" in log_of(runner)
    assert "killing" not in log_of(runner)
    # The listener shut down cleanly: it wrote its report on the way out.
    assert json.loads((tmp_path / "listener.json").read_text())["received"] > 0


def test_node_that_ignores_sigint_is_killed_after_the_shutdown_timeout(procs, tmp_path):
    stubborn = {"name": "stubborn", "module": "outside_nodes.stubborn", "required": False,
                "env": {"PYTHONPATH": str(DATA)}, "parameters": {"ready_path": str(tmp_path / "ready")}}
    graph = write_graph(tmp_path, [talker(), stubborn], shutdown_timeout_s=1.0)
    runner = up(procs, graph)
    assert wait_until(lambda: (tmp_path / "ready").exists(), 30), log_of(runner)
    kids = children_of(runner.pid)
    assert len(kids) == 2
    runner.send_signal(signal.SIGINT)
    wait_exit(runner, 30)
    assert wait_until(lambda: not any(pid_alive(p) for p in kids), 5)
    assert "killing stubborn: still running 1 s after SIGINT" in log_of(runner)


def test_killed_required_node_makes_up_exit_nonzero(procs, tmp_path):
    graph = write_graph(tmp_path, [talker(), listener(tmp_path)])
    runner = up(procs, graph)
    # Wait for what we read: the runner logs "started X (pid N)" just after starting X.
    assert wait_until(lambda: "started listener (pid" in log_of(runner), 30), log_of(runner)
    talker_pid = int(re.search(r"started talker \(pid (\d+)\)", log_of(runner)).group(1))
    listener_pid = int(re.search(r"started listener \(pid (\d+)\)", log_of(runner)).group(1))
    os.kill(talker_pid, signal.SIGKILL)
    assert wait_exit(runner, 15) == 1, log_of(runner)
    assert "required node talker was killed by SIGKILL" in log_of(runner)
    assert not pid_alive(listener_pid)


def test_node_restarts_on_failure_then_graph_keeps_running(procs, tmp_path):
    graph = write_graph(tmp_path, [talker(required=False, restart="on-failure", restart_delay_s=0.2),
                                   listener(tmp_path)])
    runner = up(procs, graph)
    assert wait_until(lambda: "started talker (pid" in log_of(runner), 30)
    first = int(re.search(r"started talker \(pid (\d+)\)", log_of(runner)).group(1))
    assert wait_until(lambda: first in children_of(runner.pid), 10)
    os.kill(first, signal.SIGKILL)
    assert wait_until(lambda: len(re.findall(r"started talker \(pid", log_of(runner))) == 2, 15), log_of(runner)
    assert "talker was killed by SIGKILL; restarting in 0.2 s (1/3)" in log_of(runner)
    second = int(re.findall(r"started talker \(pid (\d+)\)", log_of(runner))[-1])
    assert second != first and pid_alive(second)
    assert runner.poll() is None  # the graph survived
    runner.send_signal(signal.SIGTERM)
    assert wait_exit(runner, 10) == 0


def test_killed_runner_leaves_no_orphans(procs, tmp_path):
    graph = write_graph(tmp_path, [talker(), listener(tmp_path)])
    runner = up(procs, graph)
    assert wait_until(lambda: len(children_of(runner.pid)) == 2, 30)
    kids = children_of(runner.pid)
    assert wait_until(lambda: "msgs" in log_of(runner), 30)
    runner.kill()
    runner.wait()
    # each child gets SIGTERM from the kernel (PR_SET_PDEATHSIG) and shuts down as on Ctrl-C; the
    # wait is wide so that a loaded machine is not taken for an orphan
    assert wait_until(lambda: not any(pid_alive(p) for p in kids), 45), [p for p in kids if pid_alive(p)]


def test_a_node_ends_by_itself_once_its_runner_is_gone(procs, tmp_path):
    """Without the kernel's SIGTERM on the parent's death (PR_SET_PDEATHSIG, not set here), a node
    started by a runner (ROBOT_RL_RUNNER_PID) notices the runner is gone and ends."""
    from robot_rl.graph import NodeSpec

    node = NodeSpec(name="talker", module="synthetic_source", parameters=talker()["parameters"]).command()
    parent = procs.start([sys.executable, "-c", (
        "import os, subprocess, sys, time\n"
        "env = dict(os.environ, ROBOT_RL_RUNNER_PID=str(os.getpid()))\n"
        f"p = subprocess.Popen({node!r}, env=env, start_new_session=True, stdout=open({str(tmp_path / 'node.log')!r}, 'w'),"
        " stderr=subprocess.STDOUT)\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(600)\n")], "parent")
    assert wait_until(lambda: "publishing joint_state" in (tmp_path / "node.log").read_text()
                      if (tmp_path / "node.log").exists() else False, 30)
    child = int(parent.log_path.read_text().split()[0])
    parent.kill()
    parent.wait()
    assert wait_until(lambda: not pid_alive(child), 45), (tmp_path / "node.log").read_text()[-2000:]
    assert f"the graph runner (pid {parent.pid}) is gone; stopping" in (tmp_path / "node.log").read_text()


def test_duration_stops_the_graph(procs, tmp_path):
    graph = write_graph(tmp_path, [talker(), listener(tmp_path)])
    runner = up(procs, graph, "--duration", "3")
    assert wait_exit(runner, 30) == 0, log_of(runner)
    assert "--duration 3 s reached" in log_of(runner)


@pytest.mark.parametrize("params, message", [
    ({"qos": "sometimes"}, "bad parameter: qos: expected one of 'sensor', 'reliable', got 'sometimes'"),
    ({"rate_hz": 30.0}, "bad parameter: rate_hz: unknown parameter (known: executor, topic"),
    ({"msg_type": "sensor_msgs/msg/Nope"}, "bad parameter: unknown message type 'sensor_msgs/msg/Nope'"),
])
def test_bad_node_parameter_fails_the_graph_with_a_clear_line(procs, tmp_path, params, message):
    graph = write_graph(tmp_path, [listener(tmp_path, **params)])
    runner = up(procs, graph)
    assert wait_exit(runner, 30) == 1
    log = log_of(runner)
    assert message in log, log
    assert "required node listener exited with code 2" in log


@pytest.mark.parametrize("content, message", [
    ({"name": "g", "nodes": [{"name": "a", "module": "topic_monitor", "colour": "red"}]},
     "nodes[0].colour: unknown key"),
    ({"name": "g", "nodes": [{"name": "a", "module": "topic_monitor", "required": "yes"}]},
     "nodes[0].required: expected true or false, got 'yes'"),
    ({"name": "g", "nodes": [{"name": "a", "module": "m", "parameters": {"p": {"x": 1}}}]},
     "parameter 'p' must be a bool, number, string"),
    ({"name": "g", "nodes": []}, "a graph needs at least one node"),
    ({"name": "g", "nodes": [{"name": "a", "module": "m"}, {"name": "a", "module": "m"}]}, "duplicate node name 'a'"),
    ({"name": "g", "domain_id": 500, "nodes": [{"name": "a", "module": "m"}]}, "domain id must be an integer in 0..101"),
    (None, "no such config file"),
    ({"name": "g", "hosts": {"robot": {"address": "10.0.0.1"}}, "nodes": [{"name": "a", "module": "m", "host": "pc"}]},
     "node a: host 'pc' is not one of robot"),
    ({"name": "g", "hosts": {"robot": {"address": "robot.local"}}, "nodes": [{"name": "a", "module": "m", "host": "robot"}]},
     "host robot: address 'robot.local' is not an IPv4 address"),
    ({"name": "g", "nodes": [{"name": "a", "module": "m", "host": "robot"}]}, "node a names a host, but the graph has no hosts"),
])
def test_bad_config_is_one_line_and_exit_2(tmp_path, content, message):
    path = tmp_path / "graph.yaml"
    if content is not None:
        path.write_text(yaml.safe_dump(content))
    proc = subprocess.run([*ROBOT_RL, "up", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("robot-rl up: error: ") and message in lines[0], lines[0]
    assert proc.stdout == ""


def test_partial_output_line_never_blocks_the_runner(procs, tmp_path):
    """A child that prints a progress bar without a newline, then hangs, must not stall output
    forwarding or signal handling for the rest of the graph."""
    (tmp_path / "extra_nodes").mkdir()
    (tmp_path / "extra_nodes" / "progress.py").write_text(
        "import sys, time\n"
        "sys.stdout.write('progress 10%\\r'); sys.stdout.flush()\n"
        "time.sleep(600)\n")
    progress = {"name": "progress", "module": "extra_nodes.progress", "required": False,
                "env": {"PYTHONPATH": str(tmp_path)}}
    runner = up(procs, write_graph(tmp_path, [progress, talker(), listener(tmp_path)]))
    assert wait_until(lambda: re.search(r"\[listener\s*\] .* [1-9]\d* msgs", log_of(runner)), 30), log_of(runner)
    runner.send_signal(signal.SIGINT)
    assert wait_exit(runner, 30) == 0, log_of(runner)
    assert re.search(r"^\[progress\s*\] progress 10%", log_of(runner), re.M), log_of(runner)


@pytest.mark.parametrize("args, env, message", [
    (["--domain-id", "500"], {}, "domain id must be an integer in 0..101, got 500"),
    (["--host", "robot"], {}, "--host 'robot' is not one of the graph's hosts (none)"),
    ([], {"ROS_DOMAIN_ID": "abc"}, "ROS_DOMAIN_ID in the environment must be an integer in 0..101, got 'abc'"),
])
def test_bad_domain_id_from_cli_or_environment_is_one_line(tmp_path, args, env, message):
    graph = write_graph(tmp_path, [talker()])
    proc = subprocess.run([*ROBOT_RL, "up", graph, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert message in lines[0], lines[0]
