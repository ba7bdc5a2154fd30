"""The sim robot node in its own process, driven over ROS 2 (loopback DDS) by a client process."""
from __future__ import annotations

import signal
import sys

import pytest

from conftest import REPO, read_json, wait_exit

CLIENT = [sys.executable, str(REPO / "tests" / "sim_client.py")]


def _stop(proc):
    proc.send_signal(signal.SIGINT)
    return wait_exit(proc, 20)


@pytest.mark.parametrize("task", ["pick_cube", "peg_insert"])
def test_lockstep_over_ros_reproduces_the_gym_run_step_for_step(procs, tmp_path, task):
    node = procs.node("sim_robot", "sim", task=task, seed=5, mode="lockstep", cameras="", max_joint_speed=10.0,
                      report_path=str(tmp_path / "node.json"))
    client = procs.start(CLIENT + ["lockstep", task, "5", "40", str(tmp_path / "client.json")], "client")
    assert wait_exit(client, 120) == 0, client.log_path.read_text()[-3000:]
    res = read_json(tmp_path / "client.json")
    assert res["steps"] >= 10 and res["identical"], res
    # stamped from sim time: one control period (0.1 s) per command
    assert all(b - a == 100_000_000 for a, b in zip(res["stamps"], res["stamps"][1:]))
    assert _stop(node) == 0
    report = read_json(tmp_path / "node.json")
    assert report["accepted"] == res["steps"] and not report["rejected"]
    assert report["success"] == res["success"]  # the task outcome through ROS is the gym one


def test_bad_commands_are_rejected_counted_and_the_robot_holds(procs, tmp_path):
    node = procs.node("sim_robot", "sim", mode="lockstep", cameras="", report_path=str(tmp_path / "node.json"))
    client = procs.start(CLIENT + ["bad", str(tmp_path / "client.json")], "client")
    assert wait_exit(client, 120) == 0, client.log_path.read_text()[-3000:]
    res = read_json(tmp_path / "client.json")
    for case, moved in res["moved"].items():
        assert moved < 1e-3, (case, moved)
    assert res["good_moved"] > 0.01  # and a good command afterwards moves it
    assert _stop(node) == 0  # still alive after all of it
    rejected = read_json(tmp_path / "node.json")["rejected"]
    assert rejected == {"not_finite": 2, "wrong_size": 1, "joint_limits": 1, "too_fast": 1, "workspace": 1,
                        "malformed": 1}, rejected


def test_realtime_node_streams_state_and_images_and_answers_a_command(procs, tmp_path):
    node = procs.node("sim_robot", "sim", mode="realtime", control_hz=30.0, physics_hz=510.0,
                      report_path=str(tmp_path / "node.json"))
    client = procs.start(CLIENT + ["realtime", str(tmp_path / "client.json")], "client")
    assert wait_exit(client, 120) == 0, client.log_path.read_text()[-3000:]
    res = read_json(tmp_path / "client.json")
    assert res["state_rate"] > 5 and res["image_rate"] > 1 and res["stamps_increase"]
    assert res["moved"] > 0.03
    assert _stop(node) == 0
    report = read_json(tmp_path / "node.json")
    assert report["steps"] > 30 and report["rtf"] > 0
