"""The safety layer between any action source (policy, human, script) and the robot. Pure Python.

It works on the command that goes to the robot: an end-effector target [x, y, z, yaw, gripper] or
joint targets [q..., gripper] (no gripper value for a robot without one: `gripper: false`). In
order: a latched e-stop, a state or command that is not finite numbers of the right length -> hold;
then per-step delta clamp (against the last command); position box (workspace or joint limits); at
most one step (and the velocity limit) from the measured state; gripper rate limit. Every clamp is counted by kind.

A hold commands where the robot is measured (never a target elsewhere, also outside the box), or
nothing at all when no measurement or earlier command says where that is. Measured outside the box,
a running robot is led back toward it within the step limit, never snapped onto its face.
"""
from __future__ import annotations

import collections
import dataclasses
import math
from typing import Any, Literal, Optional

import numpy as np


@dataclasses.dataclass
class SafetyConfig:
    """Built from the robot's description by robot_rl.control.core.robot_control."""
    low: list[float]            # the box: tool xyz m + yaw rad (ee), or joint limits rad (joint)
    high: list[float]
    max_step: list[float]       # per control period
    max_velocity: list[float]   # per second, against the measured state
    mode: Literal["ee", "joint"] = "ee"
    gripper_max_rate: float = 4.0   # command units (-1..1) per second; a robot's description sets its own
    gripper: bool = True            # the command ends with a gripper value (false: a robot without a gripper)

    @property
    def action_dim(self) -> int:
        """The values of a command (and of the action it comes from): one per axis, then the gripper's."""
        return len(self.low) + int(self.gripper)

    def validate(self) -> None:
        n = len(self.low)
        if not (len(self.high) == len(self.max_step) == len(self.max_velocity) == n):
            raise ValueError("low, high, max_step and max_velocity need one value per axis")
        if any(lo > hi for lo, hi in zip(self.low, self.high)) or min(self.max_step + self.max_velocity) <= 0:
            raise ValueError("need low <= high and positive max_step / max_velocity")
        if not self.gripper_max_rate > 0:
            raise ValueError("gripper_max_rate must be > 0 (command units per second)")


class SafetyLayer:
    """Plain Python floats inside: with 4-8 axes, numpy's per-call overhead made filter() ~80 us
    (twenty small calls); on floats it is ~15 us. Inputs and outputs are numpy arrays."""

    def __init__(self, config: SafetyConfig, period_s: float) -> None:
        config.validate()
        self.cfg, self.period = config, period_s
        self.low, self.high = np.asarray(config.low, float), np.asarray(config.high, float)
        self.max_step, self.max_vel = np.asarray(config.max_step, float), np.asarray(config.max_velocity, float)
        self._lo, self._hi = [float(v) for v in config.low], [float(v) for v in config.high]
        self._step = [float(v) for v in config.max_step]
        self._reach = [float(v) * period_s for v in config.max_velocity]
        # how far from the measured state a command may be: one step, or less where the velocity limit says so
        self._near = [min(a, b) for a, b in zip(self._step, self._reach)]
        self._g_lim = float(config.gripper_max_rate) * period_s
        self.counts: collections.Counter[str] = collections.Counter()
        self.estopped = False
        self.last: Optional[np.ndarray] = None   # last command sent (axes + gripper)
        # The gripper command that keeps the gripper as it is, for a hold before any command was sent
        # (the control node sets it from the measured opening): never close a gripper by holding.
        self.gripper_at_rest = 0.0
        self._last: Optional[list[float]] = None  # the same, as floats

    @property
    def n(self) -> int:
        return len(self._lo)

    def estop(self) -> None:
        """Latch: every command is a hold until reset_estop()."""
        if not self.estopped:
            self.counts["estop"] += 1
        self.estopped = True

    def reset_estop(self) -> None:
        self.estopped = False
        self.last = self._last = None

    def filter(self, command: Any, state: Any) -> tuple[Optional[np.ndarray], Optional[str]]:
        """(safe command, hold reason or None). `state` is the measured [axes...] of the robot.

        The command is None only when the robot must not be commanded at all: a hold with no valid
        measurement and no earlier command (nothing says where the robot is). Any input, of any type
        or shape, gives a command or None, never an exception."""
        n = len(self._lo)
        st = _floats(state)
        if self.estopped:
            return self.hold(st), "estop"
        if st is None or len(st) < n or not all(map(math.isfinite, st[:n])):
            self.counts["bad_state"] += 1
            return self.hold(st), "bad_state"
        cmd = _floats(command)
        g_n = int(self.cfg.gripper)
        if cmd is None or len(cmd) != n + g_n or not all(map(math.isfinite, cmd)):
            self.counts["bad_command"] += 1
            return self.hold(st), "bad_command"
        last = self._last
        lo, hi, step, reach, near = self._lo, self._hi, self._step, self._reach, self._near
        ref = last if last is not None else st
        # The per-step clamp is relative to the last command, unless the robot is measured farther
        # from it than it can move in one period (the scene was reset, the arm was pushed or is
        # blocked): then relative to where the robot is, so the command never pulls it back.
        if last is not None and any(abs(last[i] - st[i]) > reach[i] for i in range(n)):
            ref = st
            self.counts["reanchor"] += 1
        out = [0.0] * (n + g_n)
        clamped_step = clamped_bounds = clamped_velocity = False
        for i in range(n):
            x = cmd[i]
            y = min(max(x, ref[i] - step[i]), ref[i] + step[i])      # per-step delta
            clamped_step |= y != x
            z = min(max(y, lo[i]), hi[i])                            # workspace / joint limits
            clamped_bounds |= z != y
            # Never farther from the measured state than one step (or the velocity limit allows):
            # inside the box this keeps z; measured outside the box, it leads back toward the box
            # by at most that much instead of jumping onto its face.
            v = min(max(z, st[i] - near[i]), st[i] + near[i])
            clamped_velocity |= v != z
            out[i] = v
        if clamped_step:
            self.counts["step"] += 1
        if clamped_bounds:
            self.counts["bounds"] += 1
        if clamped_velocity:
            self.counts["velocity"] += 1
        if not g_n:
            return self._sent(out), None
        g = cmd[n]
        g_clipped = min(max(g, -1.0), 1.0)
        # the first command after a start or an e-stop reset is rate limited from the gripper's rest
        g_prev = last[n] if last is not None else self.gripper_at_rest
        g_new = min(max(g_clipped, g_prev - self._g_lim), g_prev + self._g_lim)
        if g_new != g:
            self.counts["gripper"] += 1
        out[n] = g_new
        return self._sent(out), None

    def _sent(self, out: list[float]) -> np.ndarray:
        self._last = out
        self.last = np.array(out)
        return self.last

    def hold(self, state: Any) -> Optional[np.ndarray]:
        """The command that keeps the robot where it is: the measured state itself (not clamped
        into the box: a hold never moves the robot, wherever it is), the gripper's last command,
        recorded as the last command sent. Without a valid measurement: the last command sent, or
        None (send nothing) before any command was sent, since nothing says where the robot is."""
        n = len(self._lo)
        st = state if isinstance(state, list) else _floats(state)
        last = self._last
        if st is None or len(st) < n or not all(map(math.isfinite, st[:n])):
            return self._sent(list(last)) if last is not None else None
        if not self.cfg.gripper:
            return self._sent(list(st[:n]))
        grip = last[n] if last is not None else self.gripper_at_rest
        return self._sent(list(st[:n]) + [grip])


def _floats(x: Any) -> Optional[list[float]]:
    """x as a flat list of floats, or None where it is not numbers (a str, an object, ragged)."""
    if isinstance(x, (str, bytes)):
        return None
    try:
        return np.asarray(x, dtype=np.float64).reshape(-1).tolist()
    except (TypeError, ValueError):
        return None
