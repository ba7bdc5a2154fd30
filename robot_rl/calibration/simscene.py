"""Calibration in the simulator: the board placed in the scene (on the table, or held by the
gripper), views rendered from robot poses, and the ground truth to check results against.

MuJoCo cameras look along their -z axis with y up; OpenCV's look along +z with y down. Ground
truth is converted to OpenCV's convention: T_a_b maps points in frame b to frame a.
"""
from __future__ import annotations

import math
import pathlib
import tempfile
from typing import Literal, Optional

import mujoco
import numpy as np

from robot_rl.calibration.board import BoardSpec
from robot_rl.sim.env import SimConfig, build_model
from robot_rl.robot import DEFAULT_ROBOT, load as load_robot
from robot_rl.robot.kinematics import DifferentialIK, yawed
from robot_rl.tasks import Task

CV_FROM_MJ_CAMERA = np.diag([1.0, -1.0, -1.0])


def pose(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return T


def rotation_about(axis: np.ndarray, angle: float) -> np.ndarray:
    q = np.zeros(4)
    mujoco.mju_axisAngle2Quat(q, np.asarray(axis, np.float64), angle)
    m = np.zeros(9)
    mujoco.mju_quat2Mat(m, q)
    return m.reshape(3, 3)


class BoardScene(Task):
    """Not a task to solve: it puts the ChArUco board on the table or on the hand."""
    name = "calibration_board"

    def __init__(self, spec: BoardSpec, mount: Literal["table", "hand"], texture: pathlib.Path) -> None:
        self.spec, self.mount, self.texture = spec, mount, texture

    def build(self, spec, ee_body, site_pos, site_quat) -> None:
        tex = spec.add_texture(name="charuco", type=mujoco.mjtTexture.mjTEXTURE_2D, file=str(self.texture))
        mat = spec.add_material(name="charuco", texrepeat=[1, 1], texuniform=False)
        mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = tex.name
        w, h = self.spec.size_m
        if self.mount == "table":
            body = spec.worldbody.add_body(name="board", pos=[0.5, 0.0, 0.0])
            quat = [1, 0, 0, 0]
        else:
            # on the back of the hand, facing forward and up, toward the front camera
            body = spec.body(ee_body).add_body(name="board", pos=[0.06, 0.0, -0.02])
            q = np.zeros(4)
            mujoco.mju_axisAngle2Quat(q, np.array([0.0, 1.0, 0.0]), math.radians(60))
            quat = list(q)
        body.quat = quat
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[w / 2 + 0.02, h / 2 + 0.02, 0.002], pos=[0, 0, 0.0005],
                      rgba=[1, 1, 1, 1], contype=0, conaffinity=0)
        body.add_geom(name="board", type=mujoco.mjtGeom.mjGEOM_BOX, size=[w / 2, h / 2, 0.0005], pos=[0, 0, 0.003],
                      material="charuco", contype=0, conaffinity=0)

    def reset(self, model, data, rng):  # pragma: no cover - never run as an env task
        raise NotImplementedError

    def success(self, model, data, ee_pos):  # pragma: no cover
        return False


class CalibrationSim:
    """A robot + board scene that renders views from chosen end-effector poses."""

    def __init__(self, mount: Literal["table", "hand"], board: Optional[BoardSpec] = None, robot: str = DEFAULT_ROBOT,
                 size: tuple[int, int] = (480, 640)) -> None:
        self.board = board or BoardSpec()
        self._tmp = tempfile.TemporaryDirectory()
        texture = self.board.write_png(pathlib.Path(self._tmp.name) / "charuco.png")
        self.cfg = SimConfig(robot=robot, cameras=[])
        self.description = load_robot(robot)
        self.model, self.robot = build_model(self.cfg, BoardScene(self.board, mount, texture), self.description)
        self.data = mujoco.MjData(self.model)
        self.ik = DifferentialIK(self.model, self.robot, iterations=40)
        self.home_q = np.asarray(self.description.home, float)
        _, self.home_quat = self.ik.forward(self.home_q)
        self.size = size
        self.renderer = mujoco.Renderer(self.model, *size)
        self.cameras = {"front": mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, "front"),
                        "wrist": self.robot.wrist_camera}

    def close(self) -> None:
        self.renderer.close()
        self._tmp.cleanup()

    def move_to(self, pos: np.ndarray, tilt: np.ndarray, yaw: float) -> float:
        """Teleport the arm to an IK solution for the pose; returns the IK position error."""
        target = rotation_about([1, 0, 0], tilt[0]) @ rotation_about([0, 1, 0], tilt[1])
        q_tilt = np.zeros(4)
        mujoco.mju_mat2Quat(q_tilt, target.reshape(-1))
        quat = np.zeros(4)
        mujoco.mju_mulQuat(quat, yawed(self.home_quat, yaw), q_tilt)
        q, err = self.ik.solve(self.home_q, np.asarray(pos, float), quat)
        self.data.qpos[self.robot.qpos_adr] = q
        mujoco.mj_forward(self.model, self.data)
        return err

    def render(self, camera: str) -> np.ndarray:
        self.renderer.update_scene(self.data, camera=self.cameras[camera])
        return self.renderer.render().copy()

    # --- ground truth -------------------------------------------------------------------------
    def T_base_gripper(self) -> np.ndarray:
        """The gripper (end-effector site) in the robot base (= world) frame: what a robot reports."""
        s = self.robot.ee_site
        return pose(self.data.site_xmat[s].reshape(3, 3), self.data.site_xpos[s])

    def T_base_camera(self, camera: str) -> np.ndarray:
        c = self.cameras[camera]
        return pose(self.data.cam_xmat[c].reshape(3, 3) @ CV_FROM_MJ_CAMERA, self.data.cam_xpos[c])

    def T_gripper_camera(self, camera: str) -> np.ndarray:
        return np.linalg.inv(self.T_base_gripper()) @ self.T_base_camera(camera)

    def K(self, camera: str) -> np.ndarray:
        h, w = self.size
        f = (h / 2) / math.tan(math.radians(self.model.cam_fovy[self.cameras[camera]]) / 2)
        return np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])


# Where each setup's views are taken from: nominal end-effector position and the spread around it.
VIEWPOINTS = {
    "eye_in_hand": {"mount": "table", "camera": "wrist", "pos": (0.38, 0.0, 0.30), "spread": (0.05, 0.06, 0.05),
                    "tilt": 0.25, "yaw": 0.5},
    "eye_to_hand": {"mount": "hand", "camera": "front", "pos": (0.40, 0.0, 0.22), "spread": (0.06, 0.10, 0.06),
                    "tilt": 0.3, "yaw": 0.4},
}


def capture(sim: CalibrationSim, setup: str, n: int, seed: int = 0, scale: float = 1.0):
    """n views for a setup: (images, T_base_gripper per view). `scale` shrinks the pose spread
    (0 = every view from the same pose, a degenerate capture)."""
    vp = VIEWPOINTS[setup]
    rng = np.random.default_rng(seed)
    images, poses = [], []
    for _ in range(n):
        pos = np.array(vp["pos"]) + scale * rng.uniform(-1, 1, 3) * vp["spread"]
        tilt = scale * rng.uniform(-vp["tilt"], vp["tilt"], 2)
        sim.move_to(pos, tilt, float(scale * rng.uniform(-vp["yaw"], vp["yaw"])))
        images.append(sim.render(vp["camera"]))
        poses.append(sim.T_base_gripper())
    return images, poses


def record_motion(duration_s: float = 8.0, camera_delay_s: float = 0.1, fps: float = 60.0, seed: int = 0,
                  camera: str = "front", size: tuple[int, int] = (128, 128), still: bool = False) -> dict:
    """Pan the arm in random steps with pauses; return proprio (500 Hz, true stamps) and camera
    frames whose stamps are late by camera_delay_s (a camera that stamps on arrival)."""
    from robot_rl.sim import make
    env = make("pick_cube", cameras=[], physics_hz=500.0)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    model, data, r = env.model, env.data, env.robot
    renderer = mujoco.Renderer(model, *size)
    cam = env.camera_ids[camera]
    q_home = env.q
    dt = model.opt.timestep
    next_change, next_frame = 0.0, 0.0
    target = q_home.copy()
    q_t, q, f_t, frames = [], [], [], []
    try:
        while data.time < duration_s:
            if data.time >= next_change and not still:
                target = q_home.copy()
                target[0] += rng.uniform(-0.5, 0.5)
                target[1] += rng.uniform(-0.15, 0.15)
                next_change = data.time + rng.uniform(0.4, 0.9)
            data.ctrl[r.actuator_ids] = target
            mujoco.mj_step(model, data)
            q_t.append(int(round(data.time * 1e9)))
            q.append(data.qpos[r.qpos_adr].copy())
            if data.time >= next_frame:
                renderer.update_scene(data, camera=cam)
                frames.append(renderer.render().copy())
                f_t.append(int(round((data.time + camera_delay_s) * 1e9)))
                next_frame += 1.0 / fps
    finally:
        renderer.close()
        env.close()
    return {"q_stamps_ns": np.array(q_t), "q": np.array(q), "frame_stamps_ns": np.array(f_t),
            "frames": np.array(frames), "dt": dt}
