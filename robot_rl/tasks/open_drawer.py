"""open_drawer: grasp a drawer's handle and pull the drawer open 10 cm along its slide (an
articulated fixture: the motion is the drawer's, not the robot's to choose); its scripted expert and
how an episode ended.

The cabinet stands with its front to the robot (-x); the seed places it and turns it a little about
z, so the pull is along the cabinet's axis, not the world's x. The handle is a horizontal bar on
standoffs in front of the drawer's face: a top-down gripper closes across it.
"""
from __future__ import annotations

import mujoco
import numpy as np

from robot_rl.sim.experts import Expert, nearest_yaw
from robot_rl.tasks.base import Task, start_pose
from robot_rl.tasks.grasp import GraspLabels, GraspOutcome, grasp_phase

OPEN_M = 0.10              # the drawer this far out: success
TRAVEL = 0.16              # the slide's range
HANDLE_Z = 0.07            # the handle bar's height above the table
HANDLE_OUT = 0.035         # the bar's distance in front of the drawer's face
HANDLE_R = 0.008           # the bar's radius
CAB_HALF = (0.09, 0.12, 0.06)   # the drawer box's half sizes (depth, width, height)
OUTCOMES = ("success", "never reached the handle", "reached, never closed on it", "closed, never pulled it",
            "pulled, not far enough")
REACH_M = 0.03


class OpenDrawerExpert(Expert):
    """Above the handle, turned across it, down, close, pull along the slide, hold."""

    def _scene(self, info) -> tuple[np.ndarray, float, np.ndarray, float, np.ndarray]:
        pos, yaw = self.env.ee_pose()
        s = info["state"]
        handle = s["handle_pos"] + self.bias
        # fingers across the bar: their closing line along the cabinet's axis (mod pi: a symmetric grip)
        return pos, yaw, handle, nearest_yaw(float(s["cabinet_yaw"][0]) - self.env.grip_axis_yaw, yaw, np.pi), \
            s["pull_dir"]

    def act(self, obs, info):
        pos, yaw, handle, grip_yaw, pull = self._scene(info)
        above = handle + [0, 0, 0.07]
        if self.phase == 0:    # above the handle, turned across it, open
            a = self._toward(pos, yaw, above, grip_yaw, 1.0)
            self._next(np.linalg.norm(pos[:2] - above[:2]) < 0.005 and abs(pos[2] - above[2]) < 0.02
                       and abs(grip_yaw - yaw) < 0.05 or self.phase_steps > 40)
        elif self.phase == 1:  # straight down around the bar
            a = self._toward(pos, yaw, handle, grip_yaw, 1.0, max_step=0.7)
            self._next(abs(pos[2] - handle[2]) < 0.006 or self.phase_steps > 20)
        elif self.phase == 2:  # close and wait for the fingers to stop
            a = self._toward(pos, yaw, handle, grip_yaw, -1.0)
            self._next(self.phase_steps >= 4)
        else:                  # pull along the slide, past the success opening
            a = self._toward(pos, yaw, handle + pull * (OPEN_M + 0.03 - info["state"]["opening"][0]), grip_yaw,
                             -1.0, max_step=0.6)
        return a

    def replan(self, info):
        pos, yaw, handle, grip_yaw, _ = self._scene(info)
        lined_up = np.linalg.norm(pos[:2] - handle[:2]) < 0.008 and abs(grip_yaw - yaw) < 0.08
        holding = self.env.gripper_opening() < 0.9 and np.linalg.norm(pos - handle) < 0.02
        pulling = holding and info["state"]["opening"][0] > 0.005
        self.phase = grasp_phase(pulling, lined_up and abs(pos[2] - handle[2]) < 0.01,
                                 lined_up and pos[2] < handle[2] + 0.09)
        self.phase_steps = 0


class OpenDrawerOutcome(GraspOutcome):
    """never reached the handle, never closed on it, never pulled it (1 cm), pulled not far enough."""
    OUTCOMES = OUTCOMES
    key = "handle_pos"
    REACH_M = REACH_M

    def moved(self, state):
        return float(state["opening"][0])


class OpenDrawer(GraspLabels, Task):
    """Pull a drawer open >= 10 cm by its handle. Sparse success. The learner may use where
    successful episodes grasped the handle (GraspLabels)."""
    name = "open_drawer"
    max_steps = 100
    expert = OpenDrawerExpert
    outcomes = OpenDrawerOutcome

    def build(self, spec, ee_body, site_pos, site_quat) -> None:
        dx, dy, dz = CAB_HALF
        cab = spec.worldbody.add_body(name="cabinet", pos=[0.55, 0, 0])
        grey = [.55, .5, .45, 1]
        # the housing: top, sides and back around the drawer (fixed), open towards -x
        for name, pos, size in [("top", [0, 0, 2 * dz + 0.01], [dx + 0.01, dy + 0.02, 0.01]),
                                ("left", [0, dy + 0.015, dz + 0.005], [dx + 0.01, 0.005, dz + 0.005]),
                                ("right", [0, -dy - 0.015, dz + 0.005], [dx + 0.01, 0.005, dz + 0.005]),
                                ("back", [dx + 0.015, 0, dz + 0.005], [0.005, dy + 0.02, dz + 0.015])]:
            cab.add_geom(name=f"cabinet_{name}", type=mujoco.mjtGeom.mjGEOM_BOX, pos=pos, size=size, rgba=grey,
                         contype=2, conaffinity=2)
        drawer = cab.add_body(name="drawer", pos=[0, 0, dz + 0.002])
        drawer.add_joint(name="drawer_slide", type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[-1, 0, 0],
                         range=[0, TRAVEL], damping=2.0, frictionloss=0.3)
        wood = [.7, .5, .3, 1]
        # the drawer: a front panel and a floor (what a gripper could touch), then the handle
        drawer.add_geom(name="drawer_front", type=mujoco.mjtGeom.mjGEOM_BOX, pos=[-dx, 0, 0],
                        size=[0.006, dy, dz - 0.004], rgba=wood, mass=0.4, contype=1, conaffinity=1)
        drawer.add_geom(name="drawer_floor", type=mujoco.mjtGeom.mjGEOM_BOX, pos=[0, 0, -dz + 0.008],
                        size=[dx, dy - 0.002, 0.004], rgba=wood, mass=0.3, contype=1, conaffinity=1)
        hz = HANDLE_Z - (dz + 0.002)
        for side in (-1, 1):
            drawer.add_geom(name=f"handle_post{side + 1}", type=mujoco.mjtGeom.mjGEOM_BOX,
                            pos=[-dx - HANDLE_OUT / 2, side * 0.045, hz], size=[HANDLE_OUT / 2, 0.005, 0.005],
                            rgba=[.3, .3, .3, 1], mass=0.01, contype=1, conaffinity=1)
        drawer.add_geom(name="handle", type=mujoco.mjtGeom.mjGEOM_CAPSULE, fromto=[-dx - HANDLE_OUT, -0.05, hz,
                                                                                  -dx - HANDLE_OUT, 0.05, hz],
                        size=[HANDLE_R, 0, 0], rgba=[.85, .85, .85, 1], mass=0.02, condim=4, friction=[1.2, 0.02, 0.002],
                        contype=1, conaffinity=1)
        drawer.add_site(name="handle_site", pos=[-dx - HANDLE_OUT, 0, hz])

    def bind(self, model: mujoco.MjModel) -> None:
        self.cabinet = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "cabinet")
        joint = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, "drawer_slide")
        self.qadr, self.dadr = model.jnt_qposadr[joint], model.jnt_dofadr[joint]
        self.handle = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, "handle_site")

    def reset(self, model, data, rng):
        x, y, yaw = rng.uniform(0.52, 0.58), rng.uniform(-0.10, 0.10), rng.uniform(-0.25, 0.25)
        model.body_pos[self.cabinet] = [x, y, 0.0]
        model.body_quat[self.cabinet] = [np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)]
        data.qpos[self.qadr] = 0.0
        data.qvel[self.dadr] = 0.0
        return start_pose(rng)

    def opening(self, data) -> float:
        return float(data.qpos[self.qadr])

    def state(self, model, data):
        quat = model.body_quat[self.cabinet]
        yaw = 2 * np.arctan2(quat[3], quat[0])
        return {"handle_pos": data.site_xpos[self.handle].copy(), "cabinet_yaw": np.array([yaw]),
                "pull_dir": np.array([-np.cos(yaw), -np.sin(yaw), 0.0]), "opening": np.array([self.opening(data)])}

    def success(self, model, data, ee_pos):
        return self.opening(data) >= OPEN_M

    def progress(self, model, data, ee_pos, gripper_opening):
        # closer to the handle, closing on it (worth 2 cm), then the drawer further out (counts double:
        # the hand stays on the handle)
        distance = float(np.linalg.norm(data.site_xpos[self.handle] - ee_pos))
        closing = 0.02 * (1.0 - gripper_opening) if distance < 0.03 else 0.0
        return -distance + closing + 2.0 * self.opening(data)
