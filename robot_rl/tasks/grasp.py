"""Where a successful episode grasped, as per-step hindsight labels: the `grasp` labeler and head
(robot_rl.tasks.grasp_head) that a task whose success follows a grasp takes on by mixing in
`GraspLabels` (pick_cube, open_drawer).

In an episode labelled a success, the end-effector position at which the gripper last closed is
where the object was, and its yaw there how the object was turned. From every step of the final
attempt, `grasp_pos - ee_pos` says where the object lies relative to the gripper and
`grasp_yaw - ee_yaw` how far the gripper must still turn: what a policy must read from its cameras
and what a sparse reward teaches slowly. Nothing privileged: it comes from the recorded proprio and
commands, on a real robot as in the simulator.

Only the final attempt is labelled, from where the gripper re-opened after the close before the
last one: an earlier attempt may have pushed or dropped the object, so before it the object was
elsewhere (bench/grasp_labels.py scores labels against the simulator's truth; docs/BENCHMARKS.md).

`goal_offsets` is the same label with where a successful episode ended in place of where it
grasped: the `goal` label and head of `GoalLabels` (peg_insert: its peg is in the hand from the
start; the last step is the peg in the hole).

Layouts: the proprio features of robot_rl.robot.features (the ee position and yaw columns); the
action's last dimension is the gripper command, > 0 open, <= 0 closed.
"""
from __future__ import annotations

import numpy as np

from typing import Any, Optional

from robot_rl.robot.features import ProprioLayout
from robot_rl.tasks.base import Labeler

GRASP_DIM = 4            # a target's width: [dx, dy, dz, dyaw]


def gripper_closes(executed_action: np.ndarray) -> np.ndarray:
    """Step indices of the episode's open -> closed gripper commands (the last action dimension,
    > 0 open). A held step's command is NaN (nothing commanded): a close is the first finite closed
    command after a finite open one, held steps between them skipped."""
    grip = np.asarray(executed_action, np.float64)[:, -1]
    commanded = np.flatnonzero(np.isfinite(grip))
    g = grip[commanded]
    return commanded[np.flatnonzero((g[:-1] > 0) & (g[1:] <= 0)) + 1]


def grasp_offsets(obs: np.ndarray, executed_action: np.ndarray, success: bool) -> np.ndarray:
    """[L, 4] float32: the ee position at the episode's last open -> closed command minus each
    step's ee position (metres), then the ee yaw there minus each step's (radians, wrapped to
    [-pi, pi)), from the step the final attempt began (the first open command after the
    previous close; the first step if there was none) to the end; NaN before it. NaN everywhere
    when the episode did not succeed, never switched the gripper from open to closed (one that holds
    its tool from the start), or has no ee position there."""
    obs, out, lay = _unlabelled(obs, success)
    if lay is None:
        return out
    closes = gripper_closes(executed_action)
    if not len(closes):
        return out
    start = 0
    if len(closes) > 1:   # the first open command after the previous close (exists: the last close follows one)
        grip = np.asarray(executed_action, np.float64)[:, -1]
        start = closes[-2] + int(np.flatnonzero(grip[closes[-2]:] > 0)[0])
    return _offsets(obs, lay, int(closes[-1]), start, out)


def goal_offsets(obs: np.ndarray, success: bool) -> np.ndarray:
    """[L, 4] float32: the ee pose at the last step of a successful episode (where the task was
    done: a peg in its hole) minus each step's, as grasp_offsets; NaN everywhere when the episode
    did not succeed or has no ee pose."""
    obs, out, lay = _unlabelled(obs, success)
    if lay is None:
        return out
    return _offsets(obs, lay, obs.shape[0] - 1, 0, out)


def _unlabelled(obs: np.ndarray, success: bool) -> tuple[np.ndarray, np.ndarray, Optional[ProprioLayout]]:
    """(obs as float64, an all-NaN [L, 4] label, the proprio layout), the layout None when the
    episode gets no labels: not a success, under two steps, or not a robot's proprio vector (an
    imported store)."""
    obs = np.asarray(obs, np.float64)
    out = np.full((obs.shape[0], GRASP_DIM), np.nan, np.float32)
    if not success or obs.ndim != 2 or obs.shape[1] < 7 or obs.shape[0] < 2:
        return obs, out, None
    try:
        return obs, out, ProprioLayout.of_dim(obs.shape[1])
    except ValueError:
        return obs, out, None


def _offsets(obs: np.ndarray, lay: ProprioLayout, at: int, start: int, out: np.ndarray) -> np.ndarray:
    """out[start:] = the ee position and yaw at step `at` minus each step's (yaw wrapped to
    [-pi, pi)); out unchanged when the pose at `at` is not finite."""
    ee = obs[:, lay.ee_pos]
    yaw = obs[:, lay.ee_yaw]
    if not (np.isfinite(ee[at]).all() and np.isfinite(yaw[at])):
        return out
    out[start:, :3] = ee[at] - ee[start:]
    out[start:, 3] = (yaw[at] - yaw[start:] + np.pi) % (2 * np.pi) - np.pi
    return out


def grasp_phase(moving: bool, at_grasp: bool, over: bool) -> int:
    """The phase a grasp-then-move expert's plan has reached in the scene (Expert.replan): 3 holding
    the object and moving it, 2 around it at grasp height (close), 1 over it and turned to it
    (descend), else 0 (go above it)."""
    return 3 if moving else 2 if at_grasp else 1 if over else 0


class OffsetLabels:
    """A Task mix-in: one hindsight label of the form [dx, dy, dz, dyaw] named `label` (its
    `offsets(steps, success)`), the grasp head on it (robot_rl.tasks.grasp_head), and that head as
    the one a session's learner trains by default (Task.default_aux), its loss weighed
    `head_weight` against the critic's in the encoder."""
    label = ""
    head_weight = 1.0

    def offsets(self, steps, success: bool) -> np.ndarray:
        raise NotImplementedError

    def labelers(self):
        return {self.label: Labeler(GRASP_DIM, self.offsets)}

    def aux_head(self, name, columns, proprio_dim, hidden, options):
        if name != self.label:
            return super().aux_head(name, columns, proprio_dim, hidden, options)
        from robot_rl.tasks.grasp_head import GraspHead   # torch: only where a learner runs
        return GraspHead(columns, proprio_dim, hidden, options, label=self.label)

    def default_aux(self):
        # a session's learner predicts the label from every camera, from a batch of its own labelled
        # steps, and its actor and critic read that prediction (in the gripper's yaw frame)
        return {self.label: {"weight": self.head_weight, "batch": 64, "input": True, "options": {"frame": "gripper"}}}


class GraspLabels(OffsetLabels):
    """The `grasp` label (grasp_offsets) and head: where a successful episode grasped. Its loss
    weighs 4x in a session's encoder: where the head puts the object is where the policy closes
    (docs/BENCHMARKS.md, "Tasks", has the sessions at 1x and 4x)."""
    label = "grasp"
    head_weight = 4.0

    def offsets(self, steps, success):
        return grasp_offsets(steps["obs"], steps["executed_action"], success)


class GoalLabels(OffsetLabels):
    """The `goal` label (goal_offsets) and head: where a successful episode ended."""
    label = "goal"

    def offsets(self, steps, success):
        return goal_offsets(steps["obs"], success)


class GraspOutcome:
    """How an episode of a grasp-then-move task ended (a Task's `outcomes`): whether the gripper
    reached the object (within REACH_M of `key` in the task's state), closed near it, moved it at
    least MOVED_M (`moved(state)`), and its closest approach (3D and horizontally). A task names
    its categories in OUTCOMES: success, then never reached, never closed, never moved, moved but
    not enough; and in FAILED the category of an episode its failure predicate ended."""
    OUTCOMES: tuple[str, ...] = ()
    FAILED = "ended by the task's failure predicate"
    key = ""
    REACH_M = 0.03
    MOVED_M = 0.01

    def __init__(self, env) -> None:
        self.env = env
        self.reached = self.closed = False
        self.moved_max, self.closest, self.closest_xy = 0.0, np.inf, np.inf
        self.tracked = self.failed = False

    def moved(self, state: dict) -> float:
        raise NotImplementedError

    def step(self, info: dict) -> None:
        state = info.get("state", {})
        if self.key not in state:
            return
        self.tracked = True
        self.failed |= bool(info.get("failure", False))
        target, ee = state[self.key], self.env.ee_pose()[0]
        distance = float(np.linalg.norm(target - ee))
        self.closest = min(self.closest, distance)
        self.closest_xy = min(self.closest_xy, float(np.linalg.norm(target[:2] - ee[:2])))
        near = distance < self.REACH_M
        self.reached |= near
        self.closed |= near and self.env.gripper_opening() < 0.5
        self.moved_max = max(self.moved_max, self.moved(state))

    def result(self, success: bool) -> Optional[dict[str, Any]]:
        """{"outcome", "closest_cm", "closest_xy_cm", "moved_cm"}; None if no step saw the object."""
        if not self.tracked:
            return None
        k = (0 if success else 1 if not self.reached else 2 if not self.closed else
             3 if self.moved_max < self.MOVED_M else 4)
        return {"outcome": self.FAILED if self.failed else self.OUTCOMES[k], "closest_cm": round(100 * self.closest, 1),
                "closest_xy_cm": round(100 * self.closest_xy, 1), "moved_cm": round(100 * self.moved_max, 1)}
