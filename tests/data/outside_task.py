"""A task no one in robot_rl wrote: reach a floating marker (the smallest complete task)."""
import mujoco
import numpy as np

from robot_rl.sim.experts import Expert
from robot_rl.tasks.base import Task, start_pose


class ReachExpert(Expert):
    def act(self, obs, info):
        pos, yaw = self.env.ee_pose()
        return self._toward(pos, yaw, info["state"]["goal"], yaw, 1.0)


class Reach(Task):
    name = "reach"
    max_steps = 40
    expert = ReachExpert

    def build(self, spec, ee_body, site_pos, site_quat):
        body = spec.worldbody.add_body(name="goal", pos=[0.45, 0.0, 0.1])
        body.add_geom(name="goal", type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[0.015], rgba=[0.1, 0.8, 0.2, 1],
                      contype=0, conaffinity=0)

    def bind(self, model):
        self.body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "goal")

    def reset(self, model, data, rng):
        model.body_pos[self.body] = [rng.uniform(0.35, 0.5), rng.uniform(-0.15, 0.15), rng.uniform(0.05, 0.2)]
        return start_pose(rng)

    def state(self, model, data):
        return {"goal": model.body_pos[self.body].copy()}

    def success(self, model, data, ee_pos):
        return bool(np.linalg.norm(model.body_pos[self.body] - ee_pos) < 0.015)

    def reward(self, model, data, ee_pos):
        return -float(np.linalg.norm(model.body_pos[self.body] - ee_pos))   # dense: closer is better

    def progress(self, model, data, ee_pos, gripper_opening):
        return -float(np.linalg.norm(model.body_pos[self.body] - ee_pos))
