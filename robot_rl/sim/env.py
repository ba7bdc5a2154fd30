"""The simulated robot as a Gymnasium environment: `robot_rl.sim.make("pick_cube", seed=0)`.

Actions (`action_mode="ee_delta"`, 5 floats in [-1, 1]): end-effector position delta (x, y, z;
scaled by `max_pos_step` m), yaw delta (scaled by `max_yaw_step` rad) and the gripper command
(-1 closed .. 1 open). Each step the target is the current end-effector pose plus the delta,
clamped to the robot's workspace box; differential IK turns it into joint targets for the position
servos and physics runs `physics_hz / control_hz` steps. `action_mode="joint"`: joint position
targets in radians (clamped to the limits) plus the gripper command.

The robot is a description (robot_rl.robot: a builtin name or a YAML path). Observations: `proprio`
float32 in the layout of robot_rl.robot.features and one uint8 [H, W, 3] image per camera (`front`,
`wrist`). `info["success"]`, `info["state"]`
(privileged object state for experts and the simulated human, never for policies) and
`info["is_intervention"]` (False here; the corrector sets it).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Literal, Optional

import gymnasium as gym
import mujoco
import numpy as np

from robot_rl import config as config_mod
from robot_rl import robot as robot_mod
from robot_rl.robot.description import RobotDescription
from robot_rl.robot.features import layout
from robot_rl.robot.kinematics import DifferentialIK, yaw_from_home, yawed
from robot_rl.robot.model import RobotModel, build_spec
from robot_rl.sim.scene import add_scene
from robot_rl import tasks as tasks_mod
from robot_rl.tasks import Task


@dataclasses.dataclass
class SimConfig:
    task: str = tasks_mod.DEFAULT_TASK       # a task by name or dotted path (robot_rl.tasks)
    robot: str = robot_mod.DEFAULT_ROBOT     # a builtin robot's name or a description YAML's path
    control_hz: float = 10.0
    physics_hz: float = 500.0
    max_steps: int = 0                       # 0: the task's default
    action_mode: Literal["ee_delta", "joint"] = "ee_delta"
    max_pos_step: float = 0.03               # m per control step at |action| = 1
    max_yaw_step: float = 0.15               # rad per control step
    cameras: list[str] = dataclasses.field(default_factory=lambda: ["front", "wrist"])
    image_size: list[int] = dataclasses.field(default_factory=lambda: [128, 128])  # H, W

    def validate(self) -> None:
        tasks_mod.get(self.task)   # a builtin, a plug-in's name or a dotted path (robot_rl.tasks)
        robot_mod.load(self.robot)   # a robot that is not there is a config error here, not at build time
        # 10-100 Hz for policies; up to 1000 Hz when the sim node stands in for a robot driver that
        # streams state for a fast control loop (bench/control_loop.py runs it at 500 Hz).
        if not 10 <= self.control_hz <= 1000:
            raise ValueError(f"control_hz must be 10..1000, got {self.control_hz:g}")
        if self.physics_hz < 500 or abs(self.physics_hz / self.control_hz - round(self.physics_hz / self.control_hz)) > 1e-9:
            raise ValueError("physics_hz must be >= 500 and a whole multiple of control_hz")
        for c in self.cameras:
            if c not in ("front", "wrist"):
                raise ValueError(f"camera {c!r} is not front or wrist")


def build_model(cfg: SimConfig, task: Task, d: RobotDescription) -> tuple[mujoco.MjModel, RobotModel]:
    spec = build_spec(d)
    # the end-effector site's body and pose in it, for tasks that attach to the hand
    probe = spec.compile()
    site = mujoco.mj_name2id(probe, mujoco.mjtObj.mjOBJ_SITE, d.tool.site)
    if site < 0:
        raise ValueError(f"robot {d.name}: no site named {d.tool.site!r}")
    ee_body = mujoco.mj_id2name(probe, mujoco.mjtObj.mjOBJ_BODY, probe.site_bodyid[site])
    add_scene(spec)
    task.build(spec, ee_body, probe.site_pos[site].copy(), _approach_down(probe, d, site))
    spec.option.timestep = 1.0 / cfg.physics_hz
    model = spec.compile()
    return model, RobotModel(model, d)


def _approach_down(model: mujoco.MjModel, d: RobotDescription, site: int) -> np.ndarray:
    """The tool site's orientation in its body, turned so that its -z axis is the tool's approach
    (the direction its fingers point: straight down at the description's home pose) and its x axis
    the world's x at the home pose, whatever axes the robot's model gives its site: a task attaches
    a held tool along -z, square to the world at yaw 0, on any robot."""
    data = mujoco.MjData(model)
    data.qpos[RobotModel(model, d).qpos_adr] = d.home
    mujoco.mj_kinematics(model, data)
    site_mat = data.site_xmat[site].reshape(3, 3)
    approach = site_mat.T @ np.array([0.0, 0.0, -1.0])   # in the site's frame
    turn, out = np.zeros(4), np.zeros(4)
    mujoco.mju_quatZ2Vec(turn, -approach)
    turn_mat = np.zeros(9)
    mujoco.mju_quat2Mat(turn_mat, turn)
    x_world = site_mat @ turn_mat.reshape(3, 3)[:, 0]   # the turned frame's x axis at home (horizontal)
    spin = np.zeros(4)
    mujoco.mju_axisAngle2Quat(spin, np.array([0.0, 0.0, 1.0]), -np.arctan2(x_world[1], x_world[0]))
    mujoco.mju_mulQuat(turn, turn.copy(), spin)   # about the turned frame's z, the world's vertical
    mujoco.mju_mulQuat(out, model.site_quat[site], turn)
    return out


class RobotEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, config: Optional[SimConfig] = None, render_mode: Optional[str] = None) -> None:
        self.cfg = config_mod.from_dict(SimConfig, config_mod.to_dict(config or SimConfig()))
        self.task: Task = tasks_mod.get(self.cfg.task)()
        self.description = robot_mod.load(self.cfg.robot)
        self.layout = layout(self.description)
        ws = self.description.workspace
        self.workspace_low, self.workspace_high = np.array(ws.low), np.array(ws.high)
        self.model, self.robot = build_model(self.cfg, self.task, self.description)
        self.task.bind(self.model)
        self.data = mujoco.MjData(self.model)
        self.ik = DifferentialIK(self.model, self.robot)
        home = np.asarray(self.description.home, dtype=np.float64)
        self.home_q = home
        _, self.home_quat = self.ik.forward(home)
        self.substeps = int(round(self.cfg.physics_hz / self.cfg.control_hz))
        self.max_steps = self.cfg.max_steps or self.task.max_steps
        self.render_mode = render_mode
        grip = [1.0] if self.description.has_gripper else []   # the gripper command ends the action, if any
        if self.cfg.action_mode == "ee_delta":
            self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(4 + len(grip),), dtype=np.float32)
        else:
            low = np.concatenate([self.robot.lower, [-g for g in grip]]).astype(np.float32)
            high = np.concatenate([self.robot.upper, grip]).astype(np.float32)
            self.action_space = gym.spaces.Box(low, high, dtype=np.float32)
        h, w = self.cfg.image_size
        spaces = {"proprio": gym.spaces.Box(-np.inf, np.inf, shape=(self.layout.dim,), dtype=np.float32)}
        for c in self.cfg.cameras:
            spaces[c] = gym.spaces.Box(0, 255, shape=(h, w, 3), dtype=np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        self._renderer: Optional[mujoco.Renderer] = None
        self.camera_ids = {"front": mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, "front"),
                         "wrist": self.robot.wrist_camera}
        self.steps = 0

    # --- kinematic state ----------------------------------------------------------------------
    @property
    def q(self) -> np.ndarray:
        return self.data.qpos[self.robot.qpos_adr].copy()

    @property
    def sim_time(self) -> float:
        """Seconds of simulated time since the episode's reset."""
        return float(self.data.time)

    def ee_pose(self) -> tuple[np.ndarray, float]:
        """End-effector position and yaw relative to the home orientation."""
        pos, quat = self.tool_pose()
        return pos, yaw_from_home(quat, self.home_quat)

    def tool_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """The tool frame's position and orientation (quaternion wxyz) in the world."""
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, self.data.site_xmat[self.robot.ee_site])
        return self.data.site_xpos[self.robot.ee_site].copy(), quat

    @functools.cached_property
    def grip_axis_yaw(self) -> float:
        """The angle (rad, in [0, pi)) from the tool's yaw to the horizontal line along which the
        gripper's fingers close, found in the model (the fingers' geoms open vs closed at the home
        pose): a task that must close across a bar (a drawer's handle) turns the tool by it. NaN
        without a gripper."""
        if not self.description.has_gripper:
            return float("nan")
        d = mujoco.MjData(self.model)
        d.qpos[self.robot.qpos_adr] = self.home_q
        where = []
        for command in (1.0, -1.0):
            self._place_gripper(d, command)
            mujoco.mj_kinematics(self.model, d)
            where.append(d.geom_xpos[:, :2].copy())
        moved = where[1] - where[0]
        moved = moved[np.linalg.norm(moved, axis=1) > 1e-4]
        if not len(moved):
            return float("nan")
        axis = np.linalg.svd(moved)[2][0]
        return float(np.arctan2(axis[1], axis[0]) % np.pi)

    def _place_gripper(self, data: mujoco.MjData, command: float) -> None:
        """Put the gripper's joints where its actuators' target for `command` holds them (no motion)."""
        target = self.robot.gripper_ctrl(command)
        for jid in self.model.actuator_trnid[self.robot.gripper_ids, 0]:
            data.qpos[self.model.jnt_qposadr[jid]] = target

    def gripper_opening(self) -> float:
        if not self.description.has_gripper:
            return 0.0
        return self.robot.gripper_opening(float(self.data.actuator_length[self.robot.gripper_ids].mean()))

    # --- gym API --------------------------------------------------------------------------------
    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self.robot.qpos_adr] = self.home_q
        start_pos, start_yaw = self.task.reset(self.model, self.data, self.np_random)
        q, _ = self.ik.solve(self.home_q, start_pos, yawed(self.home_quat, start_yaw))
        self.data.qpos[self.robot.qpos_adr] = q
        self.data.ctrl[self.robot.actuator_ids] = q
        self.set_gripper(self.task.start_gripper * 2 - 1)
        self._place_gripper(self.data, self.task.start_gripper * 2 - 1)
        mujoco.mj_forward(self.model, self.data)
        self.steps = 0
        return self.observe(), self.info(False)

    def set_gripper(self, command: float) -> None:
        """Gripper command in [-1 closed, 1 open]."""
        self.data.ctrl[self.robot.gripper_ids] = self.robot.gripper_ctrl(float(command))

    def joint_targets(self, action: np.ndarray) -> np.ndarray:
        """Joint targets for an action (ee_delta through IK, or joint targets clamped)."""
        a = np.asarray(action, dtype=np.float64)
        if self.cfg.action_mode == "joint":
            return np.clip(a[:self.robot.n], self.robot.lower, self.robot.upper)
        a = np.clip(a, -1, 1)
        pos, yaw = self.ee_pose()
        target = np.clip(pos + a[:3] * self.cfg.max_pos_step, self.workspace_low, self.workspace_high)
        target_yaw = float(np.clip(yaw + a[3] * self.cfg.max_yaw_step, -np.pi, np.pi))
        q, _ = self.ik.solve(self.q, target, yawed(self.home_quat, target_yaw))
        return q

    def step(self, action: Any):
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != self.action_space.shape or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be {self.action_space.shape} finite floats, got {action!r}")
        self.data.ctrl[self.robot.actuator_ids] = self.joint_targets(action)
        if self.description.has_gripper:
            self.set_gripper(action[-1])
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)
        self.steps += 1
        ee = self.ee_pose()[0]
        success = self.task.success(self.model, self.data, ee)
        failure = not success and self.task.failure(self.model, self.data, ee)
        return self.step_result(self.task.reward(self.model, self.data, ee), success, failure)

    def step_result(self, reward: float, success: bool, failure: bool):
        """gymnasium's (obs, reward, terminated, truncated, info) for the step just taken: the
        episode ends on success or on the task's failure predicate (terminated), else at its step
        limit (truncated)."""
        truncated = self.steps >= self.max_steps and not (success or failure)
        return self.observe(), reward, success or failure, truncated, self.info(success, failure)

    def observe(self) -> dict[str, np.ndarray]:
        pos, yaw = self.ee_pose()
        r = self.robot
        obs = {"proprio": self.layout.pack(self.data.qpos[r.qpos_adr], self.data.qvel[r.dof_adr], pos, yaw,
                                           self.gripper_opening())}
        for c in self.cfg.cameras:
            obs[c] = self.render_camera(c)
        return obs

    def info(self, success: bool, failure: bool = False) -> dict[str, Any]:
        """`failure`: the task's failure predicate ended the episode (it is terminated, not a success)."""
        return {"success": bool(success), "failure": bool(failure), "is_intervention": False,
                "state": self.privileged_state(), "sim_time": self.sim_time}

    def privileged_state(self) -> dict[str, np.ndarray]:
        """The task's privileged state now (for experts and the simulated human, never the policy)."""
        return self.task.state(self.model, self.data)

    def progress(self) -> float:
        """The task's progress measure now (the simulated human's progress judge)."""
        return self.task.progress(self.model, self.data, self.ee_pose()[0], self.gripper_opening())

    def server(self):
        """The sim robot's command interface on this env (SimServer: what the control loop drives)."""
        from robot_rl.sim.server import SimServer, SimServerConfig
        return SimServer(SimServerConfig(), env=self)

    def render_camera(self, camera: str, size: Optional[tuple[int, int]] = None) -> np.ndarray:
        h, w = size or tuple(self.cfg.image_size)
        if self._renderer is None or (self._renderer.height, self._renderer.width) != (h, w):
            if self._renderer is not None:
                self._renderer.close()
            self._renderer = mujoco.Renderer(self.model, h, w)
        self._renderer.update_scene(self.data, camera=self.camera_ids[camera])
        return self._renderer.render().copy()

    def render(self):
        return self.render_camera("front", (480, 640))

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
