"""The hardware teleop devices: terminal keyboard, gamepad (Linux joystick API), 3Dconnexion
SpaceMouse (hidapi). Each turns its raw input into the motion axes, gripper and events that
`TeleopDevice.read()` maps to a `TeleopCommand`."""
from __future__ import annotations

import errno
import os
import select
import struct
import time
from typing import Optional

import numpy as np

from robot_rl.teleop.base import TeleopConfig, TeleopDevice, TeleopError


class KeyboardTeleop(TeleopDevice):
    """A terminal keyboard (works over ssh, no display): a key press moves that axis at full speed
    for `key_hold_s`; the terminal's key repeat keeps a held key moving."""

    name = "keyboard"
    MOTION_KEYS = {"w": (0, 1.0), "s": (0, -1.0), "a": (1, 1.0), "d": (1, -1.0),
                   "r": (2, 1.0), "f": (2, -1.0), "u": (3, 1.0), "o": (3, -1.0),
                   "j": (4, 1.0), "l": (4, -1.0), "q": (5, 1.0), "e": (5, -1.0)}
    EVENT_KEYS = {"\r": "success", "\n": "success", "x": "failure", "z": "rerecord", "n": "end_episode",
                  "!": "estop"}
    HELP = ("w/s x, a/d y, r/f z, u/o roll, j/l pitch, q/e yaw, space gripper, i intervene on/off, "
            "Enter success, x failure, z re-record, n end episode, ! e-stop")

    def __init__(self, config: Optional[TeleopConfig] = None, fd: Optional[int] = None,
                 key_hold_s: float = 0.15) -> None:
        super().__init__(config)
        self.fd = 0 if fd is None else fd
        self.key_hold_ns = int(key_hold_s * 1e9)
        self._until = np.zeros(6, dtype=np.int64)   # per axis: moving until this monotonic time
        self._dir = np.zeros(6)
        self._saved = None
        try:
            import termios
            import tty
            if os.isatty(self.fd):
                self._saved = termios.tcgetattr(self.fd)
                tty.setcbreak(self.fd)  # keys arrive one by one, unechoed; Ctrl-C still interrupts
        except (ImportError, OSError) as exc:
            raise TeleopError(f"keyboard: cannot use fd {self.fd} as a terminal ({exc})") from None

    def _poll(self) -> None:
        now = time.monotonic_ns()
        while select.select([self.fd], [], [], 0)[0]:
            data = os.read(self.fd, 64)
            if not data:
                break
            for ch in data.decode(errors="ignore"):
                self._key(ch.lower() if ch.isalpha() else ch, now)
        self.motion = np.where(self._until > now, self._dir, 0.0)

    def _key(self, ch: str, now: int) -> None:
        if ch in self.MOTION_KEYS:
            axis, sign = self.MOTION_KEYS[ch]
            self._dir[axis], self._until[axis] = sign, now + self.key_hold_ns
        elif ch == " ":
            self.gripper = -self.gripper
        elif ch == "i":
            self.toggle_intervention()
        elif ch in self.EVENT_KEYS:
            self._event(self.EVENT_KEYS[ch])

    def close(self) -> None:
        if self._saved is not None:
            import termios
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None


class GamepadTeleop(TeleopDevice):
    """A gamepad through the Linux joystick API (/dev/input/jsN, no extra package): left stick x/y,
    right stick vertical z and horizontal yaw, shoulder buttons roll (LB -, RB +), triggers pitch (LT
    -, RT +); A intervene on/off, B gripper, X success, Y failure, Back re-record, Start end episode.
    Axis and button numbers follow the xpad driver (Xbox layout)."""

    name = "gamepad"
    EVENT = struct.Struct("<IhBB")      # time ms, value, type, number
    BUTTON, AXIS, INIT = 0x01, 0x02, 0x80
    # joystick axis number -> (motion axis, sign): push forward = +x, left = +y, up = +z, left = +yaw
    AXES = {1: (0, -1.0), 0: (1, -1.0), 4: (2, -1.0), 3: (5, -1.0)}
    TRIGGERS = {2: -1.0, 5: 1.0}        # LT, RT: -32767 released .. 32767 pressed -> pitch
    ROLL_BUTTONS = {4: -1.0, 5: 1.0}    # LB, RB held
    BUTTONS = {0: "intervene", 1: "gripper", 2: "success", 3: "failure", 6: "rerecord", 7: "end_episode"}

    def __init__(self, config: Optional[TeleopConfig] = None, path: str = "/dev/input/js0") -> None:
        super().__init__(config)
        self.path = path
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            hint = " (is a gamepad plugged in? ls /dev/input/js*)" if exc.errno == errno.ENOENT else ""
            raise TeleopError(f"gamepad: cannot open {path}: {exc.strerror}{hint}") from None
        self._buf = b""
        self._triggers = {n: 0.0 for n in self.TRIGGERS}
        self._roll = {n: 0.0 for n in self.ROLL_BUTTONS}

    def _poll(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 8 * 64)
            except BlockingIOError:
                break
            except OSError as exc:
                raise TeleopError(f"gamepad {self.path}: {exc.strerror} (unplugged?)") from None
            if not chunk:
                break
            self._buf += chunk
        n = len(self._buf) // 8
        for i in range(n):
            _, value, kind, number = self.EVENT.unpack_from(self._buf, 8 * i)
            self._handle(value, kind, number)
        self._buf = self._buf[8 * n:]

    def _handle(self, value: int, kind: int, number: int) -> None:
        init = kind & self.INIT
        kind &= ~self.INIT
        if kind == self.AXIS and number in self.AXES:
            axis, sign = self.AXES[number]
            self.motion[axis] = sign * value / 32767.0
        elif kind == self.AXIS and number in self.TRIGGERS:
            self._triggers[number] = self.TRIGGERS[number] * (value + 32767) / 65534.0
            self.motion[4] = sum(self._triggers.values())
        elif kind == self.BUTTON and number in self.ROLL_BUTTONS:
            self._roll[number] = self.ROLL_BUTTONS[number] * (value == 1)
            self.motion[3] = sum(self._roll.values())
        elif kind == self.BUTTON and value == 1 and not init and number in self.BUTTONS:
            what = self.BUTTONS[number]
            if what == "intervene":
                self.toggle_intervention()
            elif what == "gripper":
                self.gripper = -self.gripper
            else:
                self._event(what)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class SpaceMouseTeleop(TeleopDevice):
    """A 3Dconnexion SpaceMouse over hidapi: translation -> x, y, z, tilt -> roll and pitch, twist ->
    yaw (rotations mapped as translations are: device -y -> robot x, device -x -> robot y); left button
    toggles the gripper, right button toggles intervention. By default moving the device starts an
    intervention (TeleopConfig.intervention = "motion"), as HIL-SERL's SpaceMouse wrapper does."""

    name = "spacemouse"
    VENDORS = (0x046D, 0x256F)          # Logitech-made 3Dconnexion devices, 3Dconnexion
    FULL_SCALE = 350.0

    def __init__(self, config: Optional[TeleopConfig] = None, path: Optional[bytes] = None) -> None:
        super().__init__(config or TeleopConfig(intervention="motion"))
        try:
            import hid
        except ImportError as exc:
            raise TeleopError(f"spacemouse needs hidapi (pip install hidapi): {exc}") from None
        if path is None:
            found = [d for d in hid.enumerate() if d["vendor_id"] in self.VENDORS]
            if not found:
                raise TeleopError("spacemouse: no 3Dconnexion device found (hid.enumerate() lists "
                                  f"{len(hid.enumerate())} HID devices; check the cable and udev permissions "
                                  "for /dev/hidraw*)")
            path = found[0]["path"]
        try:
            self.dev = hid.device()
            self.dev.open_path(path)
            self.dev.set_nonblocking(True)
        except (OSError, IOError) as exc:
            raise TeleopError(f"spacemouse: cannot open {path!r}: {exc}") from None
        self._buttons = 0

    def _poll(self) -> None:
        while True:
            try:
                report = self.dev.read(16)
            except (OSError, IOError) as exc:
                raise TeleopError(f"spacemouse: read failed ({exc}; unplugged?)") from None
            if not report:
                break
            self.handle_report(bytes(report))

    def handle_report(self, report: bytes) -> None:
        """One HID input report: id 1 translation (newer devices: translation + rotation in one),
        id 2 rotation, id 3 buttons."""
        if len(report) < 2:
            return
        rid = report[0]
        if rid in (1, 2) and len(report) >= 7:
            vals = struct.unpack_from("<3h", report, 1)
            if rid == 1:
                tx, ty, tz = (v / self.FULL_SCALE for v in vals)
                self.motion[0], self.motion[1], self.motion[2] = -ty, -tx, -tz
                if len(report) >= 13:  # newer devices: rotation in the same report
                    self._rotation(struct.unpack_from("<3h", report, 7))
            else:
                self._rotation(vals)
        elif rid == 3:
            buttons = report[1]
            pressed = buttons & ~self._buttons
            self._buttons = buttons
            if pressed & 0x01:
                self.gripper = -self.gripper
            if pressed & 0x02:
                self.toggle_intervention()

    def _rotation(self, vals) -> None:
        rx, ry, rz = (v / self.FULL_SCALE for v in vals)
        self.motion[3], self.motion[4], self.motion[5] = -ry, -rx, -rz

    def close(self) -> None:
        dev, self.dev = getattr(self, "dev", None), None
        if dev is not None:
            dev.close()


DEVICES = {"keyboard": KeyboardTeleop, "gamepad": GamepadTeleop, "spacemouse": SpaceMouseTeleop}


def open_device(kind: str, config: Optional[TeleopConfig] = None, **kwargs) -> TeleopDevice:
    if kind not in DEVICES:
        raise TeleopError(f"unknown teleop device {kind!r} (known: {', '.join(DEVICES)})")
    return DEVICES[kind](config, **kwargs)
