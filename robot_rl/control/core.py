"""One control tick, ROS-free: inputs fresh? -> policy (or the human, while intervening) -> command
-> safety layer -> a step record with everything the store's steps table needs.

The control node (#5, ros_nodes) calls tick() from its paced loop; policies are swapped between two
ticks by replacing one reference, after they were loaded and checked elsewhere (try_load).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import numpy as np

from robot_rl.control.safety import SafetyConfig, SafetyLayer
from robot_rl.control.watchdog import Watchdog
from robot_rl.policy.runtime import PolicyRuntime
from robot_rl.policy.spec import ObsSpec, PolicyError


@dataclasses.dataclass
class StepRecord:
    t_ns: int
    policy_action: Optional[np.ndarray]      # None while holding (the policy did not run)
    base_action: Optional[np.ndarray]        # residual mode: the base policy's action
    human_action: Optional[np.ndarray]
    command: np.ndarray                      # what was sent, after the safety layer
    executed_action: np.ndarray              # that command in action space (what the robot was told to do)
    intervention: bool
    hold: Optional[str]                      # why the robot was held ("stale: camera", "estop", ...), or None
    policy_version: str


class EeDeltaCommand:
    """action [dx, dy, dz, dyaw, grip] in [-1, 1] + state [x, y, z, yaw] -> target [x, y, z, yaw, grip]
    (the simulator's ee_delta convention); action_of() maps a command back (what was executed)."""

    def __init__(self, max_pos_step: float = 0.03, max_yaw_step: float = 0.15) -> None:
        self.scale = np.array([max_pos_step] * 3 + [max_yaw_step])

    def __call__(self, action: np.ndarray, state: np.ndarray) -> np.ndarray:
        a = np.asarray(action, dtype=np.float64)
        return np.append(np.asarray(state[:4], float) + a[:4] * self.scale, a[4])

    def action_of(self, command: np.ndarray, state: np.ndarray) -> np.ndarray:
        c = np.asarray(command, dtype=np.float64)
        return np.append((c[:4] - np.asarray(state[:4], float)) / self.scale, c[4])


class JointDeltaCommand:
    """action [dq_1..dq_n, grip] in [-1, 1] + state [q_1..q_n] -> target [q_1..q_n, grip]
    (joint position control, as ros2_control's forward_command_controller takes it)."""

    def __init__(self, max_step: list[float]) -> None:
        self.scale = np.asarray(max_step, dtype=np.float64)
        self.n = self.scale.shape[0]

    def __call__(self, action: np.ndarray, state: np.ndarray) -> np.ndarray:
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (self.n + 1,):  # the safety layer holds on a wrong-sized command
            return a
        return np.append(np.asarray(state[:self.n], float) + a[:self.n] * self.scale, a[self.n])

    def action_of(self, command: np.ndarray, state: np.ndarray) -> np.ndarray:
        c = np.asarray(command, dtype=np.float64)
        return np.append((c[:self.n] - np.asarray(state[:self.n], float)) / self.scale, c[self.n])


def ee_delta_command(max_pos_step: float = 0.03, max_yaw_step: float = 0.15) -> EeDeltaCommand:
    return EeDeltaCommand(max_pos_step, max_yaw_step)


def joint_delta_command(max_step: list[float]) -> JointDeltaCommand:
    return JointDeltaCommand(max_step)


def ee_safety(rate_hz: float, max_ee_speed: float = 0.3, max_yaw_rate: float = 1.5) -> tuple[SafetyConfig, EeDeltaCommand]:
    """The ee-mode safety limits and action scaling of a control loop at rate_hz: an action of 1
    moves max_ee_speed (m/s) / max_yaw_rate (rad/s), so one policy means the same motion at any
    rate; measured velocity may reach twice that. The control node and the session's evaluation
    both build theirs here, so an evaluation clamps as the robot's loop does."""
    period = 1.0 / rate_hz
    step = [max_ee_speed * period] * 3 + [max_yaw_rate * period]
    return (SafetyConfig(max_step=step, max_velocity=[2 * max_ee_speed] * 3 + [2 * max_yaw_rate]),
            ee_delta_command(step[0], step[3]))


class ControlCore:
    """policy=None is teleop-only mode: the human's action drives, and without one the robot holds."""

    def __init__(self, policy: Any, safety: SafetyLayer, watchdog: Watchdog,
                 to_command: "EeDeltaCommand | JointDeltaCommand") -> None:
        self.policy, self.safety, self.watchdog, self.to_command = policy, safety, watchdog, to_command
        self.swaps = 0

    def try_load(self, path: str, sha256: str = "", expected_obs: Optional[list[ObsSpec]] = None,
                 expected_action_dim: Optional[int] = None,
                 run_between: Optional[Callable[[Callable[[], Any]], Any]] = None) -> tuple[Optional[PolicyRuntime], str]:
        """Load and check a new policy (off the loop thread). (runtime, "ok") or (None, why not)."""
        try:
            rt = PolicyRuntime.from_file(path, sha256, expected_obs=expected_obs, expected_action_dim=expected_action_dim,
                                         run_between=run_between)
        except PolicyError as exc:
            return None, str(exc)
        return rt, "ok"

    def swap(self, policy: Any) -> None:
        """Between two ticks: one reference assignment."""
        self.policy = policy
        self.swaps += 1

    def tick(self, now_ns: int, obs: dict[str, np.ndarray], state: np.ndarray,
             human_action: Optional[np.ndarray] = None) -> StepRecord:
        policy = self.policy  # one read: a swap during this tick takes effect at the next
        version = getattr(policy, "version", "teleop")
        if not self.watchdog.ok(now_ns):
            stale = self.watchdog.stale(now_ns)
            return self._held(now_ns, state, human_action, version,
                              "stale: " + ", ".join(stale) if stale else "waiting for fresh inputs")
        if policy is None:
            if human_action is None:
                return self._held(now_ns, state, None, version, "no operator")
            action = base = None
        else:
            action = np.asarray(policy(obs), dtype=np.float64)
            base = getattr(policy, "last_base", None)
        chosen = np.asarray(human_action, dtype=np.float64) if human_action is not None else action
        cmd, hold = self.safety.filter(self.to_command(chosen, state), state)
        return StepRecord(now_ns, action, None if base is None else np.asarray(base), human_action, cmd,
                          self.to_command.action_of(cmd, state), human_action is not None, hold, version)

    def _held(self, now_ns: int, state: np.ndarray, human_action: Optional[np.ndarray], version: str,
              why: str) -> StepRecord:
        reset = getattr(self.policy, "reset", None)
        if reset is not None:   # a chunked policy's earlier chunks are for steps that did not run
            reset()
        cmd = self.safety.hold(state)
        return StepRecord(now_ns, None, None, human_action, cmd, self.to_command.action_of(cmd, state),
                          human_action is not None, why, version)
