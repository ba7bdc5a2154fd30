"""pick_cube: grasp a randomly placed and turned cube and lift it 5 cm; its scripted expert, and
how an episode ended, by how far it got (never reached the cube, never closed on it, ...): where a
policy fails is what says what to fix."""
from __future__ import annotations

import mujoco
import numpy as np

from robot_rl.robot.kinematics import yaw_of
from robot_rl.sim.experts import Expert, nearest_yaw
from robot_rl.tasks.base import Task, start_pose
from robot_rl.tasks.grasp import GraspLabels, GraspOutcome, grasp_phase

CUBE_HALF = 0.02
OUTCOMES = ("success", "never reached the cube", "reached, never closed on it", "closed, never lifted it",
            "lifted, then lost it")
REACH_M = 0.03        # the gripper within 3 cm of the cube's centre: reached
LIFT_M = 0.01         # the cube 1 cm off the table: lifted


class PickCubeExpert(Expert):
    """Above the cube, turn to its faces, descend, close, lift."""

    def _scene(self, info) -> tuple[np.ndarray, float, np.ndarray, float]:
        """Gripper position and yaw, where the expert thinks the cube is, the cube's nearest face yaw."""
        pos, yaw = self.env.ee_pose()
        return pos, yaw, info["state"]["cube_pos"] + self.bias, nearest_yaw(float(info["state"]["cube_yaw"][0]), yaw)

    def act(self, obs, info):
        pos, yaw, cube, cube_yaw = self._scene(info)
        above = cube + [0, 0, 0.08]
        grasp = np.array([cube[0], cube[1], CUBE_HALF])
        if self.phase == 0:    # above the cube, turned to its faces, open
            a = self._toward(pos, yaw, above, cube_yaw, 1.0)
            self._next(np.linalg.norm(pos[:2] - above[:2]) < 0.004 and abs(pos[2] - above[2]) < 0.02
                       and abs(cube_yaw - yaw) < 0.04 or self.phase_steps > 40)
        elif self.phase == 1:  # straight down
            a = self._toward(pos, yaw, grasp, cube_yaw, 1.0, max_step=0.7)
            self._next(abs(pos[2] - grasp[2]) < 0.006 or self.phase_steps > 20)
        elif self.phase == 2:  # close and wait for the fingers to stop
            a = self._toward(pos, yaw, grasp, cube_yaw, -1.0)
            self._next(self.phase_steps >= 4)
        else:                  # lift
            a = self._toward(pos, yaw, grasp + [0, 0, 0.12], cube_yaw, -1.0)
        return a

    def replan(self, info):
        pos, yaw, cube, cube_yaw = self._scene(info)
        lined_up = np.linalg.norm(pos[:2] - cube[:2]) < 0.006 and abs(cube_yaw - yaw) < 0.06
        closing = self.env.gripper_opening() < 0.9
        lifting = closing and info["state"]["cube_pos"][2] > CUBE_HALF + 0.005 and np.linalg.norm(pos - cube) < 0.03
        # over it, turned to its faces: at grasp height, or at most 2 cm above the hover height
        self.phase = grasp_phase(lifting, lined_up and abs(pos[2] - CUBE_HALF) < 0.01,
                                 lined_up and pos[2] < cube[2] + 0.10)
        self.phase_steps = 0



class PickCubeOutcome(GraspOutcome):
    """never reached the cube, never closed on it, never lifted it (1 cm), lifted then lost it."""
    OUTCOMES = OUTCOMES
    FAILED = "knocked the cube off the table"
    key = "cube_pos"
    REACH_M, MOVED_M = REACH_M, LIFT_M

    def moved(self, state):
        return float(state["cube_pos"][2]) - CUBE_HALF


class PickCube(GraspLabels, Task):
    """Grasp a randomly placed and turned cube and lift it >= 5 cm. Sparse success. The learner may
    use where successful episodes grasped (GraspLabels)."""
    name = "pick_cube"
    expert = PickCubeExpert
    outcomes = PickCubeOutcome

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
        return start_pose(rng)

    def state(self, model, data):
        return {"cube_pos": data.xpos[self.body].copy(), "cube_yaw": np.array([yaw_of(data.xquat[self.body])])}

    def success(self, model, data, ee_pos):
        cube = data.xpos[self.body]
        return bool(cube[2] >= CUBE_HALF + 0.05 and np.linalg.norm(cube - ee_pos) < 0.04)

    def failure(self, model, data, ee_pos):
        # off the table (its top is z = 0): nothing brings it back within the episode
        return bool(data.xpos[self.body][2] < 0.0)

    def progress(self, model, data, ee_pos, gripper_opening):
        # closer to the cube, closing on it (worth 2 cm), then the cube higher (a lift counts double:
        # the hand stays on the cube)
        cube = data.xpos[self.body]
        distance = float(np.linalg.norm(cube - ee_pos))
        closing = 0.02 * (1.0 - gripper_opening) if distance < 0.03 else 0.0
        return -distance + closing + 2.0 * max(float(cube[2]) - CUBE_HALF, 0.0)
