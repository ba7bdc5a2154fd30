"""Policies by value (robot_rl.policy.transfer): what a learner on one machine sends and a control
node on another writes into its own registry, checked before anything loads it; and the control
node swapping in a policy that arrived by value over ROS 2."""
from __future__ import annotations

import json
import signal
import struct
import sys
import time

import pytest

from conftest import REPO, publish_mlp, read_json, wait_exit
from robot_rl.policy import ActionSpec, ObsSpec
from robot_rl.policy.registry import PolicyRegistry
from robot_rl.policy.spec import PolicyError
from robot_rl.policy.transfer import MAGIC, pack, receive

PROPRIO = ObsSpec("proprio", [17])


def repack(payload: bytes, **meta) -> bytes:
    """The payload with metadata fields changed (the header's length kept right)."""
    n = struct.unpack(">I", payload[len(MAGIC):len(MAGIC) + 4])[0]
    header = json.loads(payload[len(MAGIC) + 4:len(MAGIC) + 4 + n])
    header.update(meta)
    raw = json.dumps(header).encode()
    return MAGIC + struct.pack(">I", len(raw)) + raw + payload[len(MAGIC) + 4 + n:]
ACTION = ActionSpec(["dx", "dy", "dz", "dyaw", "gripper"], [-1.0] * 5, [1.0] * 5)


def test_a_policy_by_value_lands_in_the_other_registry_as_it_was(tmp_path):
    learner, robot = PolicyRegistry(tmp_path / "learner"), PolicyRegistry(tmp_path / "robot")
    publish_mlp(learner, "pol", PROPRIO, ACTION, seed=0)
    v2 = publish_mlp(learner, "pol", PROPRIO, ACTION, seed=1)
    payload = pack(v2)
    path, sha = receive(robot, payload)
    assert path == robot.root / "pol" / "v0002.onnx" and path.read_bytes() == v2.read_bytes()
    assert path.with_suffix(".json").read_text() != "" and robot.versions("pol") == ["v0002"]
    assert receive(robot, payload) == (path, sha)           # a latched re-delivery changes nothing

    def refused(data: bytes, message: str) -> None:
        before = sorted(p.name for p in robot.root.rglob("*"))
        with pytest.raises(PolicyError, match=message):
            receive(robot, data)
        assert sorted(p.name for p in robot.root.rglob("*")) == before   # nothing written

    flipped = bytearray(payload)
    flipped[-100] ^= 0xFF
    refused(bytes(flipped), "sha256 is not its metadata's")
    refused(payload[:-10], "sha256 is not its metadata's")
    refused(payload[:len(MAGIC) + 2], "truncated in its header")
    refused(b"PK\x03\x04" + payload[4:], "bad header")
    refused(repack(payload, name="../x"), "use letters, digits")
    refused(repack(payload, version="latest"), "is not vNNNN")
    refused(payload[:len(MAGIC)] + b"\xff\xff\xff\xff" + payload[len(MAGIC) + 4:], "does not fit")
    # the same version with other bytes: a version never changes
    other = pack(publish_mlp(PolicyRegistry(tmp_path / "third"), "pol", PROPRIO, ACTION, seed=5))
    refused(repack(other, version="v0002"), "already in")
    with pytest.raises(PolicyError, match="over the limit"):
        receive(robot, payload, max_bytes=100)


@pytest.mark.ros
def test_the_control_node_swaps_in_a_policy_sent_by_value_and_refuses_a_changed_one(procs, tmp_path):
    learner, robot = PolicyRegistry(tmp_path / "learner"), PolicyRegistry(tmp_path / "robot")
    v1 = publish_mlp(robot, "pol", PROPRIO, ACTION, seed=0)            # what the robot runs now
    publish_mlp(learner, "pol", PROPRIO, ACTION, seed=0)
    v2 = publish_mlp(learner, "pol", PROPRIO, ACTION, seed=1)         # trained elsewhere
    good = pack(v2)
    bad = bytearray(good)
    bad[-50] ^= 0xFF
    (tmp_path / "good.bin").write_bytes(good)
    (tmp_path / "bad.bin").write_bytes(bytes(bad))
    procs.node("sim_robot", "sim", mode="realtime", control_hz=20.0, cameras="")
    ctl = procs.node("control_node", "control", policy=str(v1), registry=str(robot.root), rate_hz=20.0,
                     report_path=str(tmp_path / "ctl.json"))
    sender = procs.start([sys.executable, str(REPO / "tests" / "control_client.py"), "1.5", "--model",
                          str(tmp_path / "bad.bin"), str(tmp_path / "good.bin")], "sender")
    assert wait_exit(sender, 60) == 0, sender.log_path.read_text()[-2000:]
    time.sleep(1.0)
    ctl.send_signal(signal.SIGINT)
    assert wait_exit(ctl, 20) == 0, ctl.log_path.read_text()[-3000:]
    rep = read_json(tmp_path / "ctl.json")
    assert [s["ok"] for s in rep["swaps"]] == [False, True], rep["swaps"]
    assert "sha256 is not its metadata's" in rep["swaps"][0]["why"]
    assert rep["policy"] == "pol/v0002"
    assert (robot.root / "pol" / "v0002.onnx").read_bytes() == v2.read_bytes()
