"""The teleop node in its own process, fed by Linux joystick events through a FIFO."""
from __future__ import annotations

import json
import os
import signal
import struct
import sys
import time

from conftest import REPO, wait_exit


def js_event(value, kind, number):
    return struct.pack("<IhBB", 0, value, kind, number)


def test_teleop_node_publishes_gamepad_actions_interventions_and_events(procs, tmp_path):
    fifo = tmp_path / "js0"
    os.mkfifo(fifo)
    keep = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer open before the node does
    writer = os.open(fifo, os.O_WRONLY)
    try:
        node = procs.node("teleop_node", "teleop", device="gamepad", gamepad_path=str(fifo), rate_hz=50.0)
        listener = procs.start([sys.executable, str(REPO / "tests" / "teleop_listener.py"), "8"], "listener")
        time.sleep(4.0)  # start-up and discovery
        os.write(writer, js_event(-32767, 2, 1) + js_event(1, 1, 0) + js_event(0, 1, 0))  # stick forward, A
        time.sleep(1.0)
        os.write(writer, js_event(1, 1, 2) + js_event(0, 2, 1))  # X: success, stick released
        assert wait_exit(listener, 30) == 0, listener.log_path.read_text()[-2000:]
        node.send_signal(signal.SIGINT)
        assert wait_exit(node, 20) == 0, node.log_path.read_text()[-2000:]
    finally:
        os.close(writer)
        os.close(keep)
    heard = json.loads(listener.log_path.read_text().strip().splitlines()[-1])
    assert heard["event"] == ["intervention_on", "success"]
    assert any(a[0] == 1.0 and a[4] == 1.0 for a in heard["action"])      # full forward, gripper open
    assert heard["action"][-1][:4] == [0.0, 0.0, 0.0, 0.0]                 # released
    assert False in heard["intervention"] and heard["intervention"][-1] is True


def test_teleop_node_without_its_device_exits_2(procs, tmp_path):
    node = procs.node("teleop_node", "teleop", device="gamepad", gamepad_path=str(tmp_path / "nope"))
    assert wait_exit(node, 30) == 2
    assert "gamepad plugged in" in node.log_path.read_text()
