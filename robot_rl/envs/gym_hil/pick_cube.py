"""gym-hil's PandaPickCube: lift the cube 10 cm. Its scripted expert (demonstrations and the
simulated human) reads the cube's position from the env's block_pos sensor."""
from __future__ import annotations

import numpy as np

from robot_rl.sim.experts import Expert
from robot_rl.sim.gym_mapping import GymTask
from robot_rl.tasks.grasp import GraspLabels, grasp_phase

HALF = 0.02          # the cube's half size
LIFT = 0.10          # success: the cube 10 cm above where it started, in the hand


class PickCubeExpert(Expert):
    """Above the cube, down to it, close, lift (the env keeps the tool pointing down, never turned)."""

    def act(self, obs, info):
        pos, _ = self.env.ee_pose()
        cube = info["state"]["cube_pos"] + self.bias
        above, grasp = cube + [0, 0, 0.08], np.array([cube[0], cube[1], HALF])
        if self.phase == 0:    # above the cube, open
            a = self._toward(pos, 0.0, above, 0.0, 1.0)
            self._next(np.linalg.norm(pos[:2] - above[:2]) < 0.005 and abs(pos[2] - above[2]) < 0.02
                       or self.phase_steps > 40)
        elif self.phase == 1:  # straight down
            a = self._toward(pos, 0.0, grasp, 0.0, 1.0, max_step=0.7)
            self._next(abs(pos[2] - grasp[2]) < 0.008 or self.phase_steps > 20)
        elif self.phase == 2:  # close and wait for the fingers
            a = self._toward(pos, 0.0, grasp, 0.0, -1.0)
            self._next(self.phase_steps >= 5)
        else:                  # lift
            a = self._toward(pos, 0.0, grasp + [0, 0, LIFT + 0.05], 0.0, -1.0)
        return a

    def replan(self, info):
        pos, _ = self.env.ee_pose()
        cube = info["state"]["cube_pos"] + self.bias
        over = np.linalg.norm(pos[:2] - cube[:2]) < 0.008
        closing = self.env.gripper_opening() < 0.9
        lifting = closing and info["state"]["cube_pos"][2] > HALF + 0.005 and np.linalg.norm(pos - cube) < 0.03
        self.phase = grasp_phase(lifting, over and abs(pos[2] - HALF) < 0.012, over and pos[2] < cube[2] + 0.10)
        self.phase_steps = 0


class PickCube(GraspLabels, GymTask):
    """Lift the cube 10 cm (gym-hil's success). The learner may use where successful episodes
    grasped (GraspLabels), as pick_cube's."""
    name = "gym_hil_pick_cube"
    expert = PickCubeExpert

    def state_progress(self, state, ee_pos, gripper_opening):
        # as pick_cube's: closer to the cube, closing on it, then the cube higher (a lift counts double)
        cube = state["cube_pos"]
        distance = float(np.linalg.norm(cube - ee_pos))
        closing = 0.02 * (1.0 - gripper_opening) if distance < 0.03 else 0.0
        return -distance + closing + 2.0 * max(float(cube[2]) - HALF, 0.0)
