"""Tasks: the objects a task adds to the scene, how the seed randomises them, and success.

Every random draw comes from the generator the environment seeds, in a fixed order, so a seed
fully determines object and start poses.
"""
from __future__ import annotations

import mujoco
import numpy as np

from robot_rl.robot.kinematics import yaw_of

CUBE_HALF = 0.02
PEG_HALF = 0.011          # 22 mm square peg
HOLE_HALF = 0.012         # 24 mm square hole: 2 mm total clearance, 1 mm a side
HOLE_DEPTH = 0.04
PEG_BELOW_TIP = 0.05      # the peg sticks out this far below the end-effector site (past the fingertips)


class Task:
    name = "task"
    max_steps = 100
    start_gripper = 1.0   # 1 open, 0 closed

    def build(self, spec: mujoco.MjSpec, ee_body: str, site_pos: np.ndarray, site_quat: np.ndarray) -> None:
        """Add the task's bodies. ee_body holds the end-effector site at site_pos/site_quat."""
        raise NotImplementedError

    def bind(self, model: mujoco.MjModel) -> None:
        """Look up ids once the model is compiled."""

    def reset(self, model: mujoco.MjModel, data: mujoco.MjData, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """Place objects; return the start end-effector (position, yaw)."""
        raise NotImplementedError

    def success(self, model: mujoco.MjModel, data: mujoco.MjData, ee_pos: np.ndarray) -> bool:
        raise NotImplementedError

    def state(self, model: mujoco.MjModel, data: mujoco.MjData) -> dict[str, np.ndarray]:
        """Privileged object state, for scripted experts and the simulated human (never the policy)."""
        return {}

    def progress(self, model: mujoco.MjModel, data: mujoco.MjData, ee_pos: np.ndarray, gripper_opening: float) -> float:
        """How far along the task the scene is, in metres, higher is better: what a person watching
        sees as "getting there" whatever route the robot takes (the simulated human's progress judge).
        gripper_opening: 1 open, 0 closed."""
        raise NotImplementedError


def _start_pose(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    pos = np.array([rng.uniform(0.30, 0.42), rng.uniform(-0.10, 0.10), rng.uniform(0.16, 0.24)])
    return pos, float(rng.uniform(-0.3, 0.3))


class PickCube(Task):
    """Grasp a randomly placed and turned cube and lift it >= 5 cm. Sparse success."""
    name = "pick_cube"

    def build(self, spec, ee_body, site_pos, site_quat) -> None:
        body = spec.worldbody.add_body(name="cube", pos=[0.42, 0, CUBE_HALF])
        body.add_freejoint(name="cube_free")
        body.add_geom(name="cube", type=mujoco.mjtGeom.mjGEOM_BOX, size=[CUBE_HALF] * 3, rgba=[.85, .15, .12, 1],
                      mass=0.05, contype=1, conaffinity=1, condim=4, friction=[1.2, 0.02, 0.002])

    def bind(self, model: mujoco.MjModel) -> None:
        self.body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "cube")
        joint = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, "cube_free")
        self.qadr = model.jnt_qposadr[joint]

    def reset(self, model, data, rng):
        x, y, yaw = rng.uniform(0.36, 0.50), rng.uniform(-0.12, 0.12), rng.uniform(-np.pi / 4, np.pi / 4)
        data.qpos[self.qadr:self.qadr + 7] = [x, y, CUBE_HALF, np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)]
        return _start_pose(rng)

    def state(self, model, data):
        return {"cube_pos": data.xpos[self.body].copy(), "cube_yaw": np.array([yaw_of(data.xquat[self.body])])}

    def success(self, model, data, ee_pos):
        cube = data.xpos[self.body]
        return bool(cube[2] >= CUBE_HALF + 0.05 and np.linalg.norm(cube - ee_pos) < 0.04)

    def progress(self, model, data, ee_pos, gripper_opening):
        # closer to the cube, closing on it (worth 2 cm), then the cube higher (a lift counts double:
        # the hand stays on the cube)
        cube = data.xpos[self.body]
        distance = float(np.linalg.norm(cube - ee_pos))
        closing = 0.02 * (1.0 - gripper_opening) if distance < 0.03 else 0.0
        return -distance + closing + 2.0 * max(float(cube[2]) - CUBE_HALF, 0.0)


class PegInsert(Task):
    """Insert a held square peg 2 cm deep into a hole with 2 mm total clearance."""
    name = "peg_insert"
    start_gripper = 0.0

    def build(self, spec, ee_body, site_pos, site_quat) -> None:
        hole = spec.worldbody.add_body(name="hole", pos=[0.43, 0, 0])
        wall = (0.05 - HOLE_HALF) / 2  # half-thickness of each wall of a 10 cm block
        off = HOLE_HALF + wall
        for i, (px, py, sx, sy) in enumerate([(off, 0, wall, 0.05), (-off, 0, wall, 0.05),
                                               (0, off, HOLE_HALF, wall), (0, -off, HOLE_HALF, wall)]):
            hole.add_geom(name=f"hole_wall{i}", type=mujoco.mjtGeom.mjGEOM_BOX, size=[sx, sy, HOLE_DEPTH / 2],
                          pos=[px, py, HOLE_DEPTH / 2], rgba=[.2, .45, .75, 1], contype=1, conaffinity=1)
        # The peg is held rigidly along the site's z axis, its tip PEG_BELOW_TIP past the site.
        rot = np.zeros(9)
        mujoco.mju_quat2Mat(rot, np.asarray(site_quat, dtype=np.float64))
        center = np.asarray(site_pos) + rot.reshape(3, 3) @ np.array([0, 0, 0.04 - PEG_BELOW_TIP])
        spec.body(ee_body).add_geom(name="peg", type=mujoco.mjtGeom.mjGEOM_BOX, size=[PEG_HALF, PEG_HALF, 0.04],
                                    pos=center, quat=site_quat, rgba=[.9, .75, .2, 1], contype=1, conaffinity=1,
                                    mass=0.05)

    def bind(self, model: mujoco.MjModel) -> None:
        self.body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "hole")
        self.peg = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "peg")

    def reset(self, model, data, rng):
        x, y = rng.uniform(0.38, 0.48), rng.uniform(-0.10, 0.10)
        model.body_pos[self.body] = [x, y, 0.0]
        return _start_pose(rng)

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


TASKS = {t.name: t for t in (PickCube, PegInsert)}
