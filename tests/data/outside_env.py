"""A Gymnasium env written outside robot_rl, with conventions of its own, for tests/test_gym_env.py.

A Cartesian gantry (three slides: the joint positions are the tool's position) over a table with a
block on it. Its conventions differ from this stack's on purpose: observations nested
({"robot": {...}, "pixels": {...}}), motion in units of 5 cm, the gripper's command absolute in
[0 open, 2 closed] and its reading the finger gap in metres (0.08 open .. 0 closed), success under
info["is_success"], and the block placed from numpy's global generator (reset(seed=) alone does
not fix the layout). Registered as outside/GantryLift-v0 on import.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np

from robot_rl.sim.experts import Expert
from robot_rl.sim.gym_mapping import GymTask

STEP_M = 0.05        # an action of 1 moves 5 cm
GAP = 0.08           # the fingers' gap fully open
HALF = 0.02          # the block's half size
SIZE = 48            # the top camera's image size


class GantryLift(gym.Env):
    def __init__(self, step_delay_s: float = 0.0) -> None:
        self.step_delay_s = step_delay_s   # > 0: a simulator slower than real time (tests of the lockstep wait)
        self.action_space = gym.spaces.Box(np.array([-1, -1, -1, 0], np.float32), np.array([1, 1, 1, 2], np.float32))
        self.observation_space = gym.spaces.Dict({
            "robot": gym.spaces.Dict({"slides": gym.spaces.Box(-1, 1, (6,), np.float32),
                                      "gap": gym.spaces.Box(0, GAP, (1,), np.float32)}),
            "pixels": gym.spaces.Dict({"top": gym.spaces.Box(0, 255, (SIZE, SIZE, 3), np.uint8)})})
        self.lo, self.hi = np.array([0.2, -0.3, 0.0]), np.array([0.6, 0.3, 0.4])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos, self.vel = np.array([0.4, 0.0, 0.2]), np.zeros(3)
        self.gap, self.held = GAP, False
        self.object_pos = np.array([np.random.uniform(0.3, 0.5), np.random.uniform(-0.15, 0.15), HALF])
        return self._obs(), {}

    def _obs(self):
        img = np.full((SIZE, SIZE, 3), 200, np.uint8)
        for where, colour in ((self.object_pos, (200, 30, 30)), (self.pos, (30, 30, 200))):
            r, c = ((where[:2] - self.lo[:2]) / (self.hi[:2] - self.lo[:2]) * (SIZE - 1)).astype(int).clip(0, SIZE - 1)
            img[max(r - 2, 0):r + 3, max(c - 2, 0):c + 3] = colour
        return {"robot": {"slides": np.concatenate([self.pos, self.vel]).astype(np.float32),
                          "gap": np.array([self.gap], np.float32)}, "pixels": {"top": img}}

    def step(self, action):
        if self.step_delay_s:
            import time
            time.sleep(self.step_delay_s)
        a = np.clip(np.asarray(action, np.float64), self.action_space.low, self.action_space.high)
        new = np.clip(self.pos + a[:3] * STEP_M, self.lo, self.hi)
        self.vel, self.pos = (new - self.pos) * 10.0, new
        self.gap = GAP * (1 - a[3] / 2)
        near = np.linalg.norm(self.pos - self.object_pos) < 0.02
        self.held = (self.held or near) and self.gap < 0.03
        if self.held:
            self.object_pos = self.pos.copy()
        elif self.object_pos[2] > HALF:   # let go: it drops
            self.object_pos[2] = HALF
        success = bool(self.held and self.object_pos[2] > HALF + 0.08)
        return self._obs(), float(success), False, False, {"is_success": success}


if "outside/GantryLift-v0" not in gym.registry:
    gym.register("outside/GantryLift-v0", entry_point=GantryLift, max_episode_steps=60)


class LiftExpert(Expert):
    """Above the block, down, close, lift."""

    def act(self, obs, info):
        pos, _ = self.env.ee_pose()
        block = info["state"]["block"] + self.bias
        if self.phase == 0:
            a = self._toward(pos, 0.0, block + [0, 0, 0.06], 0.0, 1.0)
            self._next(np.linalg.norm(pos - block - [0, 0, 0.06]) < 0.005 or self.phase_steps > 30)
        elif self.phase == 1:
            a = self._toward(pos, 0.0, block, 0.0, 1.0)
            self._next(np.linalg.norm(pos - block) < 0.005 or self.phase_steps > 20)
        elif self.phase == 2:
            a = self._toward(pos, 0.0, block, 0.0, -1.0)
            self._next(self.phase_steps >= 5)   # the control step closes the gripper over ~5 steps
        else:
            a = self._toward(pos, 0.0, block + [0, 0, 0.12], 0.0, -1.0)
        return a


class Lift(GymTask):
    name = "gantry_lift"
    expert = LiftExpert

    def state_progress(self, state, ee_pos, gripper_opening):
        return -float(np.linalg.norm(state["block"] - ee_pos)) + 2.0 * max(float(state["block"][2]) - HALF, 0.0)


ROBOT = """
name: gantry
model: {mjcf: gantry.xml, external: true}   # the env simulates it: nothing here builds it
joints: [slide_x, slide_y, slide_z]
actuators: [slide_x, slide_y, slide_z]
tool: {site: tool}
home: [0.4, 0.0, 0.2]
gripper: {actuators: [fingers], open: 0.08, closed: 0.0}
workspace: {low: [0.2, -0.3, 0.0], high: [0.6, 0.3, 0.4], yaw: [-0.01, 0.01]}
command: {mode: ee, rate_hz: 10.0}
"""

MAPPING = """
id: outside/GantryLift-v0
imports: [outside_env]
pythonpath: ["."]             # this folder: where outside_env.py lies
robot: gantry.yaml
task: outside_env:Lift
control_hz: 10.0
observation:
  cameras: {top: pixels.top}
  image_size: [48, 48]
  joints: {key: robot.slides, start: 0, stop: 3}
  joint_velocities: {key: robot.slides, start: 3, stop: 6}
  tool_position: {key: robot.slides, start: 0, stop: 3}
  gripper: {key: robot.gap, index: 0, open: 0.08, closed: 0.0}
action:
  position: [0, 1, 2]
  position_scale: 20.0        # 1 / STEP_M
  relative_to: measured
  gripper: 3
  gripper_mode: absolute
  gripper_open: 0.0
  gripper_closed: 2.0
success: is_success
seed_global_numpy: true
state: {block: "attr:object_pos"}
"""
