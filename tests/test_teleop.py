"""Teleop devices on real file descriptors: a pseudo-terminal for the keyboard, a FIFO carrying
Linux joystick events for the gamepad, hidapi's real enumeration for the SpaceMouse."""
from __future__ import annotations

import os
import struct
import termios
import time

import numpy as np
import pytest

from robot_rl.teleop import (GamepadTeleop, KeyboardTeleop, SpaceMouseTeleop, TeleopConfig, TeleopDevice,
                             TeleopError, deadzone, open_device)


def test_deadzone_is_continuous_and_spans_the_range():
    x = np.array([-1.0, -0.1, -0.05, 0.0, 0.05, 0.1, 0.11, 0.55, 1.0, 3.0])
    y = deadzone(x, 0.1)
    assert y[0] == -1.0 and y[-2] == 1.0 and y[-1] == 1.0
    assert np.all(y[1:6] == 0.0)
    assert 0 < y[6] < 0.02 and y[7] == pytest.approx(0.5)


def test_keyboard_on_a_pseudo_terminal():
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    with KeyboardTeleop(fd=slave, key_hold_s=0.2) as kb:
        assert kb.read().action.tolist() == [0, 0, 0, 0, 1.0]
        os.write(master, b"wd")
        time.sleep(0.05)
        cmd = kb.read()
        assert cmd.action.tolist() == [1.0, -1.0, 0, 0, 1.0] and not cmd.intervening
        time.sleep(0.3)
        assert kb.read().action[:4].tolist() == [0, 0, 0, 0]  # released: the key stopped repeating
        os.write(master, b" i\r")
        time.sleep(0.05)
        cmd = kb.read()
        assert cmd.action[4] == -1.0 and cmd.intervening
        assert cmd.events == ["intervention_on", "success"]
        os.write(master, b"izn")
        time.sleep(0.05)
        cmd = kb.read()
        assert not cmd.intervening and cmd.events == ["intervention_off", "rerecord", "end_episode"]
        assert kb.read().events == []
    assert termios.tcgetattr(slave) == before  # the terminal is given back as it was
    os.close(master)
    os.close(slave)


def js_event(value, kind, number, t=0):
    return struct.pack("<IhBB", t, value, kind, number)


def test_gamepad_reads_linux_joystick_events(tmp_path):
    fifo = tmp_path / "js0"
    os.mkfifo(fifo)
    writer_fd = None
    pad = None
    try:
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # keep a reader so the writer can open
        writer_fd = os.open(fifo, os.O_WRONLY)
        pad = GamepadTeleop(TeleopConfig(deadzone=0.1), path=str(fifo))
        os.close(reader)
        # the driver's initial state burst (INIT flag) must not press buttons
        os.write(writer_fd, js_event(1, 0x81, 0) + js_event(0, 0x82, 1))
        cmd = pad.read()
        assert not cmd.intervening and cmd.events == []
        os.write(writer_fd, js_event(-32767, 2, 1) + js_event(16384, 2, 3) + js_event(1000, 2, 4))
        cmd = pad.read()
        assert cmd.action[0] == pytest.approx(1.0) and cmd.action[3] < -0.4 and cmd.action[2] == 0.0  # in deadzone
        os.write(writer_fd, js_event(1, 1, 0) + js_event(0, 1, 0) + js_event(1, 1, 1) + js_event(1, 1, 2)[:5])
        cmd = pad.read()
        assert cmd.intervening and cmd.action[4] == -1.0 and cmd.events == ["intervention_on"]
        os.write(writer_fd, js_event(1, 1, 2)[5:])  # the rest of a split event
        assert pad.read().events == ["success"]
    finally:
        if pad is not None:
            pad.close()
        if writer_fd is not None:
            os.close(writer_fd)


def test_missing_devices_are_clear_errors(tmp_path):
    with pytest.raises(TeleopError, match="gamepad plugged in"):
        GamepadTeleop(path=str(tmp_path / "js9"))
    with pytest.raises(TeleopError, match="no 3Dconnexion device found"):
        SpaceMouseTeleop()  # hidapi's real enumeration: this machine has none
    with pytest.raises(TeleopError, match="unknown teleop device"):
        open_device("theremin")
    with pytest.raises(ValueError):
        TeleopConfig(deadzone=1.5).validate()


def test_spacemouse_reports_and_motion_started_intervention():
    sm = SpaceMouseTeleop.__new__(SpaceMouseTeleop)  # the parser and mapping, without a device
    TeleopDevice.__init__(sm, TeleopConfig(intervention="motion", release_s=0.05, deadzone=0.05))
    sm._buttons, sm.dev = 0, None
    sm._poll = lambda: None
    sm.handle_report(struct.pack("<B3h", 1, 0, -350, 0))        # push forward (device -y)
    cmd = sm.read()
    assert cmd.action[0] == pytest.approx(1.0) and cmd.intervening and cmd.events == ["intervention_on"]
    sm.handle_report(struct.pack("<B3h", 2, 0, 0, 175))          # twist
    assert sm.read().action[3] == pytest.approx(-0.5 / 0.95 + 0.05 / 0.95, abs=1e-3)
    sm.handle_report(struct.pack("<B6h", 1, 0, 0, 0, 0, 0, 0))   # newer devices: one 13-byte report, released
    sm.handle_report(bytes([3, 0x01]))                           # left button: gripper
    sm.read()
    time.sleep(0.08)
    cmd = sm.read()
    assert not cmd.intervening and cmd.events == ["intervention_off"] and cmd.action[4] == -1.0


def test_every_device_drives_six_axes_in_ee_rpy_mode(tmp_path):
    """roll and pitch from each device: keyboard u/o and j/l, gamepad shoulders and triggers,
    SpaceMouse tilt; in ee mode they are not sent (the tool stays pointing down)."""
    sm = SpaceMouseTeleop.__new__(SpaceMouseTeleop)
    TeleopDevice.__init__(sm, TeleopConfig(deadzone=0.0, mode="ee_rpy"))
    sm._buttons, sm.dev, sm._poll = 0, None, lambda: None
    sm.handle_report(struct.pack("<B3h", 2, 175, -350, 70))     # tilt about device x and y, a little twist
    a = sm.read().action
    assert a.shape == (7,) and a[3] == pytest.approx(1.0) and a[4] == pytest.approx(-0.5) and a[5] == pytest.approx(-0.2)
    sm.cfg.mode = "ee"
    assert sm.read().action.tolist() == pytest.approx([0, 0, 0, -0.2, 1.0])

    fifo = tmp_path / "js0"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    writer = os.open(fifo, os.O_WRONLY)
    pad = GamepadTeleop(TeleopConfig(deadzone=0.0, mode="ee_rpy"), path=str(fifo))
    os.close(reader)
    try:
        os.write(writer, js_event(1, 1, 5) + js_event(32767, 2, 5) + js_event(-32767, 2, 2))   # RB held, RT full, LT released
        a = pad.read().action
        assert a[3] == 1.0 and a[4] == pytest.approx(1.0) and a[5] == 0.0
        os.write(writer, js_event(0, 1, 5) + js_event(1, 1, 4) + js_event(32767, 2, 2))   # RB up, LB held, LT full too
        a = pad.read().action
        assert a[3] == -1.0 and a[4] == pytest.approx(0.0)
    finally:
        pad.close()
        os.close(writer)

    master, slave = os.openpty()
    with KeyboardTeleop(TeleopConfig(deadzone=0.0, mode="ee_rpy"), fd=slave) as kb:
        os.write(master, b"uj")
        time.sleep(0.05)
        a = kb.read().action
        assert a.tolist()[:6] == [0, 0, 0, 1.0, 1.0, 0]
    os.close(master)
    os.close(slave)
