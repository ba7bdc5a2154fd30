"""The control node in its own process driving the sim robot node in another, over ROS 2."""
from __future__ import annotations

import hashlib
import json
import signal
import sys
import time

import numpy as np
import torch

from conftest import REPO, read_json, wait_exit
from robot_rl.policy import ActionSpec, ObsSpec, PolicyMetadata
from robot_rl.policy.export import export
from robot_rl.policy.models import MLPPolicy
from robot_rl.policy.registry import PolicyRegistry

PROPRIO = ObsSpec("proprio", [17])
ACTION = ActionSpec(["dx", "dy", "dz", "dyaw", "gripper"], [-1.0] * 5, [1.0] * 5)


def publish(registry, seed, obs=PROPRIO):
    torch.manual_seed(seed)
    meta = PolicyMetadata(name="pol", obs=[obs], action=ACTION)
    return registry.publish(export(MLPPolicy(obs, ACTION, hidden=(32,)), meta)[0], meta)


def test_control_node_drives_the_sim_and_hot_swaps_only_good_policies(procs, tmp_path):
    reg = PolicyRegistry(tmp_path / "policies")
    v1 = publish(reg, 0)
    v2 = publish(reg, 1)
    bad_spec = publish(reg, 2, obs=ObsSpec("proprio", [9]))
    truncated = tmp_path / "truncated.onnx"
    data = v2.read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    truncated.with_suffix(".json").write_text(v2.with_suffix(".json").read_text())
    sim = procs.node("sim_robot", "sim", mode="realtime", control_hz=20.0, cameras="",
                     report_path=str(tmp_path / "sim.json"))
    ctl = procs.node("control_node", "control", policy=str(v1), registry=str(reg.root), rate_hz=20.0,
                     report_path=str(tmp_path / "ctl.json"))
    sha2 = hashlib.sha256(data).hexdigest()
    client = procs.start([sys.executable, str(REPO / "tests" / "control_client.py"), "1.0",
                          f"{v2} {sha2}", f"{truncated}", f"{v1} {'0' * 64}", f"{bad_spec}"], "client")
    assert wait_exit(client, 60) == 0, client.log_path.read_text()[-2000:]
    time.sleep(1.0)
    sim.send_signal(signal.SIGKILL)  # the robot goes silent: the node must hold
    time.sleep(1.0)
    ctl.send_signal(signal.SIGINT)
    assert wait_exit(ctl, 20) == 0, ctl.log_path.read_text()[-3000:]
    rep = read_json(tmp_path / "ctl.json")
    swaps = rep["swaps"]
    assert [s["ok"] for s in swaps] == [True, False, False, False], swaps
    assert "truncated or changed" in swaps[1]["why"]
    assert "not the announced" in swaps[2]["why"]
    assert "expects observations" in swaps[3]["why"]
    assert rep["policy"] == "pol/v0002"  # the good update is running, the bad ones never replaced it
    assert rep["ticks"] > 60 and rep["max_gap_ms"] < 2 * 50  # no missed tick around the swaps
    assert rep["stale_events"] >= 1  # held when the sim went silent
    log = ctl.log_path.read_text()
    assert "policy update refused, keeping pol/v0002" in log
