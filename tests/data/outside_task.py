"""A task no one in robot_rl wrote: reach a floating marker (the smallest complete task), with a
labeler and an auxiliary head for the learner."""
import mujoco
import numpy as np

from robot_rl.robot.features import ProprioLayout
from robot_rl.sim.experts import Expert
from robot_rl.tasks.base import Labeler, Task, start_pose


def goal_offsets(steps, success):
    """Where a successful episode's tool ended minus where it is at each step (NaN if it failed)."""
    ee = np.asarray(steps["obs"])[:, ProprioLayout.of_dim(steps["obs"].shape[1]).ee_pos]
    return ee[-1] - ee if success else np.full(ee.shape, np.nan)


def goal_head(columns, hidden):
    """An aux head (robot_rl.learn.aux) that learns goal_offsets from image features."""
    import torch
    from robot_rl.learn.aux import AuxHead
    from robot_rl.learn.nets import mlp

    class GoalHead(AuxHead):
        def __init__(self):
            super().__init__(label="goal", out_dim=3)
            self.register_buffer("columns", torch.as_tensor(list(columns)))
            self.net = mlp(len(columns), 3, [hidden])

        def forward(self, features, proprio):
            return self.net(features.index_select(1, self.columns))

        def loss(self, features, batch):
            known = self.known(batch)
            if not bool(known.any()):
                return features.new_zeros(()), {}
            err = ((self(features[known], None) - 10 * batch["labels"]["goal"][known]) ** 2).sum(-1).mean()
            return err, {"err_cm": float(err.detach().sqrt()) * 10}
    return GoalHead()


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

    def labelers(self):
        return {"goal": Labeler(3, goal_offsets)}

    def aux_head(self, name, columns, proprio_dim, hidden, options):
        return goal_head(columns, hidden) if name == "goal" else super().aux_head(name, columns, proprio_dim,
                                                                                   hidden, options)
