"""The safety layer between any action source (policy, human, script) and the robot. Pure Python.

It works on the command that goes to the robot: an end-effector target [x, y, z, yaw, gripper] or
joint targets [q..., gripper]. In order: a latched e-stop or any non-finite number (in the command
or the robot state) -> hold; then per-step delta clamp; position box (workspace or joint limits);
velocity limit against the measured state; gripper rate limit. Every clamp is counted by kind.
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Literal, Optional

import numpy as np


@dataclasses.dataclass
class SafetyConfig:
    mode: Literal["ee", "joint"] = "ee"
    low: list[float] = dataclasses.field(default_factory=lambda: [0.20, -0.35, 0.0, -3.1])     # xyz m, yaw rad (ee) or joint limits
    high: list[float] = dataclasses.field(default_factory=lambda: [0.65, 0.35, 0.40, 3.1])
    max_step: list[float] = dataclasses.field(default_factory=lambda: [0.03, 0.03, 0.03, 0.15])  # per control period
    max_velocity: list[float] = dataclasses.field(default_factory=lambda: [0.5, 0.5, 0.5, 2.0])  # per second vs measured
    gripper_max_rate: float = 4.0   # command units (-1..1) per second

    def validate(self) -> None:
        n = len(self.low)
        if not (len(self.high) == len(self.max_step) == len(self.max_velocity) == n):
            raise ValueError("low, high, max_step and max_velocity need one value per axis")
        if any(lo > hi for lo, hi in zip(self.low, self.high)) or min(self.max_step + self.max_velocity) <= 0:
            raise ValueError("need low <= high and positive max_step / max_velocity")


class SafetyLayer:
    def __init__(self, config: SafetyConfig, period_s: float) -> None:
        self.cfg, self.period = config, period_s
        self.low, self.high = np.asarray(config.low, float), np.asarray(config.high, float)
        self.max_step, self.max_vel = np.asarray(config.max_step, float), np.asarray(config.max_velocity, float)
        self.counts: collections.Counter[str] = collections.Counter()
        self.estopped = False
        self.last: Optional[np.ndarray] = None   # last command sent (axes + gripper)

    @property
    def n(self) -> int:
        return len(self.low)

    def estop(self) -> None:
        """Latch: every command is a hold until reset_estop()."""
        if not self.estopped:
            self.counts["estop"] += 1
        self.estopped = True

    def reset_estop(self) -> None:
        self.estopped = False
        self.last = None

    def filter(self, command: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, Optional[str]]:
        """(safe command, hold reason or None). `state` is the measured [axes...] of the robot."""
        command = np.asarray(command, dtype=np.float64).reshape(-1)
        state = np.asarray(state, dtype=np.float64).reshape(-1)
        if self.estopped:
            return self.hold(state), "estop"
        if state.shape[0] < self.n or not np.all(np.isfinite(state[:self.n])):
            self.counts["bad_state"] += 1
            return self.hold(state), "bad_state"
        if command.shape != (self.n + 1,) or not np.all(np.isfinite(command)):
            self.counts["bad_command"] += 1
            return self.hold(state), "bad_command"
        axes, g = command[:self.n].copy(), float(command[-1])
        ref = self.last[:self.n] if self.last is not None else state[:self.n]
        axes = self._clamp(axes, ref - self.max_step, ref + self.max_step, "step")
        axes = self._clamp(axes, self.low, self.high, "bounds")
        reach = self.max_vel * self.period
        axes = self._clamp(axes, state[:self.n] - reach, state[:self.n] + reach, "velocity")
        axes = np.clip(axes, self.low, self.high)  # velocity window may extend past the box
        g_clipped = float(np.clip(g, -1, 1))
        g_prev = self.last[-1] if self.last is not None else g_clipped
        g_lim = self.cfg.gripper_max_rate * self.period
        g_new = float(np.clip(g_clipped, g_prev - g_lim, g_prev + g_lim))
        if g_new != g:
            self.counts["gripper"] += 1
        out = np.append(axes, g_new)
        self.last = out
        return out, None

    def _clamp(self, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, kind: str) -> np.ndarray:
        y = np.clip(x, lo, hi)
        if np.any(y != x):
            self.counts[kind] += 1
        return y

    def hold(self, state: np.ndarray) -> np.ndarray:
        """The command that keeps the robot where it is (measured state clamped into bounds, gripper
        unchanged), recorded as the last command sent. A garbage state keeps the last safe command."""
        state = np.asarray(state, dtype=np.float64).reshape(-1)
        fallback = self.last if self.last is not None else np.append((self.low + self.high) / 2, 0.0)
        if state.shape[0] < self.n or not np.all(np.isfinite(state[:self.n])):
            out = fallback
        else:
            out = np.append(np.clip(state[:self.n], self.low, self.high), self.last[-1] if self.last is not None else 0.0)
        self.last = out
        return out
