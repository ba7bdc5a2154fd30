"""Real rclpy nodes in separate processes, over our loopback DDS profile: nothing dropped."""
from __future__ import annotations

import os
import re
import signal
import time

import pytest

from conftest import read_json, wait_exit, wait_until

pytestmark = pytest.mark.ros


def _stream(procs, tmp_path, kind, msg_type, qos, rate_hz, count, **source_params):
    monitor = procs.node("topic_monitor", "monitor", topic="/stream", msg_type=msg_type, qos=qos,
                         check_frame_counter=kind == "image",
                         expected_count=count, duration_s=count / rate_hz + 30.0, status_period_s=0.0,
                         report_path=str(tmp_path / "monitor.json"))
    source = procs.node("synthetic_source", "source", topic="/stream", kind=kind, qos=qos, rate_hz=rate_hz,
                        count=count, wait_for_subscribers=1, report_path=str(tmp_path / "source.json"),
                        **source_params)
    assert wait_exit(source, count / rate_hz + 60) == 0, source.log_path.read_text()
    assert wait_exit(monitor, 40) == 0, monitor.log_path.read_text()
    return read_json(tmp_path / "source.json"), read_json(tmp_path / "monitor.json")


def test_rgb_640x480_at_30hz_best_effort_drops_nothing_over_10s(procs, tmp_path):
    sent, got = _stream(procs, tmp_path, "image", "sensor_msgs/msg/Image", "sensor", 30.0, 300,
                        width=640, height=480, encoding="rgb8")
    assert sent["published"] == 300
    assert sent["elapsed_s"] >= 9.5  # it really streamed for ~10 s at 30 Hz
    assert got["received"] == 300, got
    assert got["missing_frames"] == []  # every frame, by its embedded frame counter
    assert got["out_of_order"] == 0
    assert 25 <= got["rate_hz"] <= 35, got


def test_joint_state_at_500hz_drops_nothing(procs, tmp_path):
    sent, got = _stream(procs, tmp_path, "joint_state", "sensor_msgs/msg/JointState", "reliable", 500.0, 2500,
                        joints=7)
    assert sent["published"] == got["received"] == 2500, (sent, got)
    assert got["out_of_order"] == 0


def test_a_stopping_node_waits_for_a_paused_subscriber_to_acknowledge(procs, tmp_path):
    # The subscriber is paused (SIGSTOP: it can acknowledge nothing) mid-stream and resumed a second
    # after the source published its last frame and called stop(): the source is still there to
    # resend what it missed (RobotRLNode.stop() waits up to ACK_TIMEOUT_S), so nothing is lost.
    count = 30
    monitor = procs.node("topic_monitor", "monitor", topic="/stream", msg_type="sensor_msgs/msg/Image",
                         qos="reliable", check_frame_counter=True, expected_count=count, duration_s=60.0,
                         status_period_s=0.2, report_path=str(tmp_path / "monitor.json"))
    source = procs.node("synthetic_source", "source", topic="/stream", kind="image", qos="reliable", rate_hz=10.0,
                        count=count, wait_for_subscribers=1, settle_s=0.0, width=320, height=240,
                        encoding="rgb8", report_path=str(tmp_path / "source.json"))
    def receiving():   # the monitor's status line counts a message
        return re.search(r"/stream: [\d.]+ Hz, [1-9]\d* msgs", monitor.log_path.read_text(errors="replace"))
    assert wait_until(receiving, 60), source.log_path.read_text()
    os.kill(monitor.pid, signal.SIGSTOP)
    try:
        assert wait_until(lambda: "done" in source.log_path.read_text(errors="replace"), 60), \
            source.log_path.read_text()
        time.sleep(1.0)
        assert source.poll() is None, "the source exited with frames unacknowledged"
    finally:
        os.kill(monitor.pid, signal.SIGCONT)
    assert wait_exit(source, 30) == 0, source.log_path.read_text()
    assert wait_exit(monitor, 30) == 0, monitor.log_path.read_text()
    got = read_json(tmp_path / "monitor.json")
    assert got["received"] == count and got["missing_frames"] == [], got
    assert "not acknowledged" not in source.log_path.read_text()
