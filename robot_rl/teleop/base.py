"""What every teleoperation device gives the stack, and the mapping from raw axes to actions.

A device turns a person's hand into a `TeleopCommand`: an end-effector delta action in [-1, 1]
(the control node's action convention: 1 = its max speed) for the robot's command mode (ee:
[dx, dy, dz, dyaw, gripper]; ee_rpy: [dx, dy, dz, droll, dpitch, dyaw, gripper]), whether the person
is intervening, and episode events. Every device reads six motion axes (x, y, z, roll, pitch, yaw). Keyboard, gamepad and SpaceMouse devices
(and the simulated human, which drives the simulator unattended) all produce it, so the teleop node,
the recorder and the control node never care which one is in use.
"""
from __future__ import annotations

import abc
import dataclasses
import time
from typing import Literal, Optional

import numpy as np

# Episode events a person can give from any device.
EVENTS = ("intervention_on", "intervention_off", "success", "failure", "rerecord", "end_episode", "estop")
ACTION_NAMES = ("dx", "dy", "dz", "dyaw", "gripper")
AXES = ("x", "y", "z", "roll", "pitch", "yaw")


class TeleopError(RuntimeError):
    """A device that cannot be opened or read (missing, unplugged, no permission)."""


@dataclasses.dataclass
class TeleopConfig:
    deadzone: float = 0.1                 # fraction of full deflection that counts as zero
    scale: list[float] = dataclasses.field(default_factory=lambda: [1.0] * 6)  # per motion axis (AXES)
    # the robot's command mode: ee (roll and pitch are not sent: the tool stays pointing down) or ee_rpy
    mode: Literal["ee", "ee_rpy"] = "ee"
    # Intervention: "toggle" (a button press starts/ends it) or "motion" (moving the device starts it,
    # `release_s` without motion ends it), as HIL-SERL's SpaceMouse wrapper does.
    intervention: str = "toggle"
    release_s: float = 0.5

    def validate(self) -> None:
        if not 0 <= self.deadzone < 1:
            raise ValueError(f"deadzone must be in [0, 1), got {self.deadzone}")
        if len(self.scale) != 6 or min(self.scale) < 0:
            raise ValueError("scale needs 6 non-negative values (x, y, z, roll, pitch, yaw)")
        if self.mode not in ("ee", "ee_rpy"):
            raise ValueError(f"mode must be ee or ee_rpy, got {self.mode!r}")
        if self.intervention not in ("toggle", "motion"):
            raise ValueError(f"intervention must be toggle or motion, got {self.intervention!r}")


@dataclasses.dataclass
class TeleopCommand:
    action: np.ndarray          # [dx, dy, dz, dyaw, gripper] (ee) or [dx, dy, dz, droll, dpitch, dyaw, gripper] in [-1, 1]
    intervening: bool
    events: list[str]           # since the previous read, oldest first
    t_ns: int                   # monotonic time of the read


def deadzone(x: np.ndarray, dz: float) -> np.ndarray:
    """Zero inside the deadzone, rescaled outside so the output still spans [-1, 1] without a jump."""
    x = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
    mag = np.abs(x)
    return np.where(mag <= dz, 0.0, np.sign(x) * (mag - dz) / (1.0 - dz))


class TeleopDevice(abc.ABC):
    """Base of all devices: subclasses implement _poll() (read what the hardware sent, update
    `motion` [6 raw axes in -1..1: x, y, z, roll, pitch, yaw] / `gripper` and call _event());
    read() does the rest."""

    name = "device"

    def __init__(self, config: Optional[TeleopConfig] = None) -> None:
        self.cfg = config or TeleopConfig()
        self.cfg.validate()
        self.motion = np.zeros(6)
        self.gripper = 1.0            # open
        self.intervening = False
        self._events: list[str] = []
        self._last_motion_ns = 0

    @abc.abstractmethod
    def _poll(self) -> None:
        """Consume all pending input without blocking."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _event(self, name: str) -> None:
        if name not in EVENTS:
            raise ValueError(f"unknown teleop event {name!r}")
        if name == "intervention_on":
            if self.intervening:
                return
            self.intervening = True
        elif name == "intervention_off":
            if not self.intervening:
                return
            self.intervening = False
        self._events.append(name)

    def toggle_intervention(self) -> None:
        self._event("intervention_off" if self.intervening else "intervention_on")

    def read(self) -> TeleopCommand:
        """The current command (never blocks)."""
        self._poll()
        now = time.monotonic_ns()
        axes = deadzone(self.motion, self.cfg.deadzone) * np.asarray(self.cfg.scale)
        axes = np.clip(axes, -1.0, 1.0)
        if self.cfg.intervention == "motion":
            if np.any(axes != 0):
                self._last_motion_ns = now
                self._event("intervention_on")
            elif self.intervening and now - self._last_motion_ns > self.cfg.release_s * 1e9:
                self._event("intervention_off")
        events, self._events = self._events, []
        motion = axes if self.cfg.mode == "ee_rpy" else axes[[0, 1, 2, 5]]
        return TeleopCommand(np.append(motion, self.gripper), self.intervening, events, now)
