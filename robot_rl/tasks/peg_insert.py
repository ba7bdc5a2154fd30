"""peg_insert: insert a held square peg 2 cm deep into a hole with 2 mm total clearance; its
scripted expert; for the learner, where successful episodes ended (the `goal` label and head)."""
from __future__ import annotations

import mujoco
import numpy as np

from robot_rl.sim.experts import Expert, nearest_yaw
from robot_rl.tasks.base import Task, start_pose
from robot_rl.tasks.grasp import GoalLabels

PEG_HALF = 0.011          # 22 mm square peg
HOLE_HALF = 0.012         # 24 mm square hole: 2 mm total clearance, 1 mm a side
HOLE_DEPTH = 0.04
PEG_BELOW_TIP = 0.05      # the peg sticks out this far below the end-effector site (past the fingertips)
LEAD_IN = 0.005           # a 45-degree lead-in this high around the mouth, as machined holes have
# peg and lead-in: sliding 0.3 (a dry 1.0 would hold a peg on a 45-degree face), MuJoCo's
# torsional and rolling defaults
FRICTION = [0.3, 0.005, 0.0001]


class PegInsertExpert(Expert):
    """Over the hole with the peg square to it, then down slowly, still centring: from ALIGNED_M
    off the centre the lead-in takes the peg the rest of the way."""
    ALIGNED_M = 0.0025
    ALIGNED_RAD = 0.03

    def _aligned(self, pos, yaw, hole) -> bool:
        """The peg over the hole (within ALIGNED_M across) and square to it (within ALIGNED_RAD)."""
        return bool(np.linalg.norm(pos[:2] - hole[:2]) < self.ALIGNED_M
                    and abs(nearest_yaw(0.0, yaw) - yaw) < self.ALIGNED_RAD)

    def act(self, obs, info):
        pos, yaw = self.env.ee_pose()
        hole = info["state"]["hole_pos"] + self.bias
        target_yaw = nearest_yaw(0.0, yaw)
        above = np.array([hole[0], hole[1], hole[2] + 0.02 + PEG_BELOW_TIP])
        inside = np.array([hole[0], hole[1], hole[2] - 0.03 + PEG_BELOW_TIP])
        if self.phase == 0:
            a = self._toward(pos, yaw, above, target_yaw, -1.0)
            self._next(self._aligned(pos, yaw, above) and abs(pos[2] - above[2]) < 0.01 or self.phase_steps > 60)
        else:
            target = np.array([above[0], above[1], inside[2]])
            a = self._toward(pos, yaw, target, target_yaw, -1.0, max_step=0.35)
        return a

    def replan(self, info):
        pos, yaw = self.env.ee_pose()
        hole = info["state"]["hole_pos"] + self.bias
        over = self._aligned(pos, yaw, hole) and pos[2] < hole[2] + 0.03 + PEG_BELOW_TIP
        self.phase, self.phase_steps = (1 if over else 0), 0


class PegOutcome:
    """How a peg_insert episode ended (the task's `outcomes`): whether the peg's tip got over the
    hole where it would fit (its offset and turn within the clearance), got down to the rim there,
    and how deep it went; with its closest approach across and the deepest its tip got below the
    rim."""
    OUTCOMES = ("success", "never over the hole", "over the hole, never down to it",
                "stopped on the rim", "in the hole, not deep enough")

    def __init__(self, env) -> None:
        self.env = env
        self.over = self.down = False
        self.closest_xy, self.depth = np.inf, -np.inf
        self.tracked = False

    def step(self, info: dict) -> None:
        state = info.get("state", {})
        if "peg_tip" not in state:
            return
        self.tracked = True
        tip, top = state["peg_tip"], state["hole_pos"]
        across = float(np.max(np.abs(tip[:2] - top[:2])))
        self.closest_xy = min(self.closest_xy, across)
        _, yaw = self.env.ee_pose()
        turn = abs(yaw - nearest_yaw(0.0, yaw))
        over = across + PEG_HALF * (np.cos(turn) + np.sin(turn)) < HOLE_HALF
        self.over |= over
        self.down |= over and tip[2] - top[2] < 0.005
        self.depth = max(self.depth, float(top[2] - tip[2]))

    def result(self, success: bool):
        """{"outcome", "closest_xy_cm", "depth_cm"}; None if no step saw the hole."""
        if not self.tracked:
            return None
        k = (0 if success else 1 if not self.over else 2 if not self.down else
             3 if self.depth < 0.002 else 4)
        return {"outcome": self.OUTCOMES[k], "closest_xy_cm": round(100 * self.closest_xy, 2),
                "depth_cm": round(100 * self.depth, 2)}


class PegInsert(GoalLabels, Task):
    """Insert a held square peg 2 cm deep into a hole with 2 mm total clearance. The learner may use
    where successful episodes ended, the peg in the hole (GoalLabels)."""
    name = "peg_insert"
    expert = PegInsertExpert
    outcomes = PegOutcome
    start_gripper = 0.0

    def build(self, spec, ee_body, site_pos, site_quat) -> None:
        hole = spec.worldbody.add_body(name="hole", pos=[0.43, 0, 0])
        wall = (0.05 - HOLE_HALF) / 2  # half-thickness of each wall of a 10 cm block
        off = HOLE_HALF + wall
        for i, (px, py, sx, sy) in enumerate([(off, 0, wall, 0.05), (-off, 0, wall, 0.05),
                                               (0, off, HOLE_HALF, wall), (0, -off, HOLE_HALF, wall)]):
            hole.add_geom(name=f"hole_wall{i}", type=mujoco.mjtGeom.mjGEOM_BOX, size=[sx, sy, HOLE_DEPTH / 2],
                          pos=[px, py, HOLE_DEPTH / 2], rgba=[.2, .45, .75, 1], contype=1, conaffinity=1)
        # The lead-in: a square bar along each edge of the mouth, turned 45 degrees about its length
        # so that one face rises from the edge outward: a peg that lands on it within LEAD_IN of the
        # hole slides in (the delta controller takes the contact's push as the new pose).
        side, length = LEAD_IN * np.sqrt(2), HOLE_HALF + 2 * LEAD_IN
        out = HOLE_HALF + LEAD_IN
        for i, (px, py, axis) in enumerate([(out, 0, "y"), (-out, 0, "y"), (0, out, "x"), (0, -out, "x")]):
            turn = [np.cos(np.pi / 8), 0, np.sin(np.pi / 8), 0] if axis == "y" else [np.cos(np.pi / 8), np.sin(np.pi / 8), 0, 0]
            hole.add_geom(name=f"hole_lead_in{i}", type=mujoco.mjtGeom.mjGEOM_BOX,
                          size=[side / 2, length, side / 2] if axis == "y" else [length, side / 2, side / 2],
                          pos=[px, py, HOLE_DEPTH], quat=turn, rgba=[.2, .45, .75, 1], contype=1, conaffinity=1,
                          friction=FRICTION)
        # The peg is held rigidly along the site's z axis, its tip PEG_BELOW_TIP past the site.
        rot = np.zeros(9)
        mujoco.mju_quat2Mat(rot, np.asarray(site_quat, dtype=np.float64))
        center = np.asarray(site_pos) + rot.reshape(3, 3) @ np.array([0, 0, 0.04 - PEG_BELOW_TIP])
        spec.body(ee_body).add_geom(name="peg", type=mujoco.mjtGeom.mjGEOM_BOX, size=[PEG_HALF, PEG_HALF, 0.04],
                                    pos=center, quat=site_quat, rgba=[.9, .75, .2, 1], contype=1, conaffinity=1,
                                    mass=0.05, friction=FRICTION)

    def bind(self, model: mujoco.MjModel) -> None:
        self.body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "hole")
        self.peg = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "peg")

    def reset(self, model, data, rng):
        x, y = rng.uniform(0.38, 0.48), rng.uniform(-0.10, 0.10)
        model.body_pos[self.body] = [x, y, 0.0]
        return start_pose(rng)

    def state(self, model, data):
        return {"hole_pos": model.body_pos[self.body].copy() + [0, 0, HOLE_DEPTH], "peg_tip": self.peg_tip(data)}

    def peg_tip(self, data) -> np.ndarray:
        mat = data.geom_xmat[self.peg].reshape(3, 3)
        return data.geom_xpos[self.peg] - mat[:, 2] * 0.04

    def success(self, model, data, ee_pos):
        tip = self.peg_tip(data)
        hole = model.body_pos[self.body]
        return bool(tip[2] <= HOLE_DEPTH - 0.02 and np.linalg.norm(tip[:2] - hole[:2]) < HOLE_HALF)

    def progress(self, model, data, ee_pos, gripper_opening):
        # the peg's tip closer to where success puts it (2 cm down the hole)
        hole = model.body_pos[self.body]
        return float(-np.linalg.norm(self.peg_tip(data) - [hole[0], hole[1], HOLE_DEPTH - 0.02]))
