"""One control tick, ROS-free: inputs fresh? -> policy (or the human, while intervening) -> command
-> safety layer -> a step record with everything the store's steps table needs.

The control node (#5, ros_nodes) calls tick() from its paced loop; policies are swapped between two
ticks by replacing one reference, after they were loaded and checked elsewhere (try_load).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Optional

import numpy as np

from robot_rl.control.safety import SafetyConfig, SafetyLayer
from robot_rl.control.watchdog import Watchdog
from robot_rl.policy.runtime import PolicyRuntime
from robot_rl.policy.spec import ObsSpec, PolicyError
from robot_rl.robot.description import RobotDescription


@dataclasses.dataclass
class StepRecord:
    t_ns: int
    policy_action: Optional[np.ndarray]      # None while holding (the policy did not run)
    base_action: Optional[np.ndarray]        # residual mode: the base policy's action
    human_action: Optional[np.ndarray]
    command: Optional[np.ndarray]            # what to send, after the safety layer; None: send nothing
    executed_action: Optional[np.ndarray]    # that command in action space (what the robot was told to do)
    intervention: bool
    hold: Optional[str]                      # why the robot was held ("stale: camera", "estop", ...), or None
    policy_version: str


class DeltaCommand:
    """action [d_1..d_k, grip] in [-1, 1] + state [s_1..s_k] -> target [s + d * scale, grip]; action_of()
    maps a command back (what was executed). The state and target per command mode: ee [x, y, z,
    yaw] (an end-effector target, the simulator's ee_delta convention), ee_rpy [x, y, z, roll, pitch,
    yaw], joint [q_1..q_n] (joint positions, as ros2_control's forward_command_controller takes them)."""

    def __init__(self, scale: list[float], gripper: bool = True) -> None:
        self.scale = np.asarray(scale, dtype=np.float64)
        self.n = self.scale.shape[0]
        self.g = int(gripper)     # the action and the command end with the gripper's value (or not)

    def __call__(self, action: np.ndarray, state: np.ndarray) -> np.ndarray:
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (self.n + self.g,):  # the safety layer holds on a wrong-sized command
            return a
        return np.concatenate([np.asarray(state[:self.n], float) + a[:self.n] * self.scale, a[self.n:]])

    def split(self, command: np.ndarray) -> tuple[np.ndarray, Optional[float]]:
        """A command's target (its first n values) and its gripper value (None without a gripper)."""
        return command[:self.n], (float(command[self.n]) if self.g else None)

    def action_of(self, command: np.ndarray, state: np.ndarray) -> np.ndarray:
        c = np.asarray(command, dtype=np.float64)
        return np.concatenate([(c[:self.n] - np.asarray(state[:self.n], float)) / self.scale, c[self.n:self.n + self.g]])


def robot_control(d: RobotDescription, rate_hz: float = 0.0, mode: str = "", max_ee_speed: float = 0.0,
                  max_yaw_rate: float = 0.0, max_joint_speed: float = 0.0,
                  joint_lower: Optional[list[float]] = None, joint_upper: Optional[list[float]] = None,
                  ) -> tuple[SafetyConfig, DeltaCommand]:
    """The safety limits and action scaling of a robot's control loop, from its description (0 or
    "": the description's rate, mode and speeds). An action of 1 moves max_ee_speed (m/s) /
    max_yaw_rate (rad/s, every rotation axis) / max_joint_speed (rad/s), so one policy means the
    same motion at any rate; measured velocity may reach twice that. The box: the workspace (ee
    modes: position, and the tilt and yaw ranges) or the joint limits (joint; from the model when
    not given). The control node, the evaluation and the in-process rollout all build theirs here,
    so each clamps as the robot's loop does."""
    cmd = d.command
    period = 1.0 / (rate_hz or cmd.rate_hz)
    mode = mode or cmd.mode
    if mode in ("ee", "ee_rpy"):
        ee, rot = max_ee_speed or cmd.max_ee_speed, max_yaw_rate or cmd.max_yaw_rate
        ws = d.workspace
        rot_low, rot_high = ([ws.tilt[0]] * 2 if mode == "ee_rpy" else []) + [ws.yaw[0]], \
            ([ws.tilt[1]] * 2 if mode == "ee_rpy" else []) + [ws.yaw[1]]
        step = [ee * period] * 3 + [rot * period] * len(rot_low)
        return (SafetyConfig(mode="ee", low=[*ws.low, *rot_low], high=[*ws.high, *rot_high], max_step=step,
                             max_velocity=[2 * ee] * 3 + [2 * rot] * len(rot_low), gripper=d.has_gripper,
                             gripper_max_rate=d.gripper.max_rate),
                DeltaCommand(step, d.has_gripper))
    if joint_lower is None or joint_upper is None:
        from robot_rl.robot.kinematics import Kinematics
        lower, upper = Kinematics(d).joint_limits()
        joint_lower, joint_upper = lower.tolist(), upper.tolist()
    speed = max_joint_speed or cmd.max_joint_speed
    step = [speed * period] * d.n
    return (SafetyConfig(mode="joint", low=list(joint_lower), high=list(joint_upper), max_step=step,
                         max_velocity=[2 * speed] * d.n, gripper=d.has_gripper, gripper_max_rate=d.gripper.max_rate),
            DeltaCommand(step, d.has_gripper))


class ControlCore:
    """policy=None is teleop-only mode: the human's action drives, and without one the robot holds.

    tick() never raises and never leaves the robot without a decision: a policy that raises or
    returns anything but `action_dim` finite numbers is a fault; the core then holds for that tick
    and goes back to the policy that ran before the last swap (if any), and `faults` / `last_fault`
    say what happened (the control node puts them on /diagnostics)."""

    def __init__(self, policy: Any, safety: SafetyLayer, watchdog: Watchdog,
                 to_command: DeltaCommand) -> None:
        self.policy, self.safety, self.watchdog, self.to_command = policy, safety, watchdog, to_command
        self.action_dim = safety.cfg.action_dim
        self.previous: Any = None     # the policy before the last swap: the fallback on a fault
        self.swaps = 0
        self.faults = 0
        self.last_fault = ""

    def try_load(self, path: str, sha256: str = "", expected_obs: Optional[list[ObsSpec]] = None,
                 expected_action_dim: Optional[int] = None,
                 run_between: Optional[Callable[[Callable[[], Any]], Any]] = None,
                 **checks: Any) -> tuple[Optional[PolicyRuntime], str]:
        """Load and check a new policy (off the loop thread). (runtime, "ok") or (None, why not)."""
        try:
            rt = PolicyRuntime.from_file(path, sha256, expected_obs=expected_obs, expected_action_dim=expected_action_dim,
                                         run_between=run_between, **checks)
        except PolicyError as exc:
            return None, str(exc)
        return rt, "ok"

    def swap(self, policy: Any) -> None:
        """Between two ticks: one reference assignment."""
        self.previous = self.policy
        self.policy = policy
        self.swaps += 1

    def tick(self, now_ns: int, obs: dict[str, np.ndarray], state: np.ndarray,
             human_action: Optional[np.ndarray] = None, ran: Optional[tuple[Any, Any]] = None) -> StepRecord:
        """`ran`: (action, base action) of the policy on these observations when the caller ran it
        already (a simulated human judges the policy's action before it decides to take over)."""
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
            try:
                action, base = ran if ran is not None else (policy(obs), getattr(policy, "last_base", None))
                action = np.asarray(action, dtype=np.float64)
                why = (f"returned shape {action.shape}, the robot takes ({self.action_dim},)"
                       if action.shape != (self.action_dim,) else
                       "" if all(map(math.isfinite, action.tolist())) else "returned a non-finite action")
            except Exception as exc:  # noqa: BLE001 - a policy fault must become a hold, never a missing command
                why = f"raised {exc.__class__.__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
            if why:
                return self._fault(now_ns, state, human_action, policy, why)
        chosen = np.asarray(human_action, dtype=np.float64) if human_action is not None else action
        try:
            cmd, hold = self.safety.filter(self.to_command(chosen, state), state)
        except Exception:  # noqa: BLE001 - a command that cannot even be formed (wrong size) holds
            self.safety.counts["bad_command"] += 1
            cmd, hold = self.safety.hold(state), "bad_command"
        return StepRecord(now_ns, action, None if base is None else np.asarray(base), human_action, cmd,
                          self._executed(cmd, state), human_action is not None, hold, version)

    def _fault(self, now_ns: int, state: np.ndarray, human_action: Optional[np.ndarray], policy: Any,
               why: str) -> StepRecord:
        """The running policy failed this tick: hold, and fall back to the one before it."""
        self.faults += 1
        version = getattr(policy, "version", "policy")
        msg = f"policy {version} fault: {why.strip()}"
        if self.previous is not None and self.policy is policy:
            self.policy, self.previous = self.previous, None
            msg += f"; back to {getattr(self.policy, 'version', 'the previous policy')}"
        self.last_fault = msg
        return self._held(now_ns, state, human_action, version, msg)

    def _executed(self, cmd: Optional[np.ndarray], state: np.ndarray) -> Optional[np.ndarray]:
        if cmd is None:
            return None
        try:
            return self.to_command.action_of(cmd, state)
        except Exception:  # noqa: BLE001 - a state the command cannot be expressed against
            return np.full(cmd.shape, np.nan)

    def _held(self, now_ns: int, state: np.ndarray, human_action: Optional[np.ndarray], version: str,
              why: str) -> StepRecord:
        reset = getattr(self.policy, "reset", None)
        if reset is not None:   # a chunked policy's earlier chunks are for steps that did not run
            reset()
        cmd = self.safety.hold(state)
        return StepRecord(now_ns, None, None, human_action, cmd, self._executed(cmd, state),
                          human_action is not None, why, version)
