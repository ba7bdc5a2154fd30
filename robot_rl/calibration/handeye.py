"""Hand-eye calibration for both setups (Park & Martin's AX = XB), with a residual check.

OpenCV's calibrateHandEye is not in the opencv-python 5.0 wheels, so the solver is here: rotation
from the axis-angle vectors of all pairs of motions (Kabsch), translation by least squares.

eye_in_hand: the camera rides on the gripper, the board is fixed: returns T_gripper_camera.
eye_to_hand: the camera is fixed, the board rides on the gripper: returns T_base_camera.
Inputs per view: the robot's T_base_gripper and an image of the board.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

import cv2
import numpy as np

from robot_rl.calibration.board import BoardSpec, CalibrationError, detect

MIN_VIEWS = 6
MIN_ROTATION_DEG = 15.0


@dataclasses.dataclass
class HandEyeResult:
    setup: str
    T: np.ndarray                 # T_gripper_camera (eye_in_hand) or T_base_camera (eye_to_hand)
    views_used: int
    views_total: int
    residual_mm: float            # spread of the board's implied fixed pose across views
    residual_deg: float


def _pose(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, np.asarray(t).reshape(3)
    return T


def _angle_deg(R: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1))))


def board_poses(images: list[np.ndarray], K: np.ndarray, D: np.ndarray, board: BoardSpec) -> list:
    """T_camera_board for each image (None where the board is not found)."""
    out = []
    for img in images:
        d = detect(img, board)
        if d is None:
            out.append(None)
            continue
        ok, rvec, tvec = cv2.solvePnP(d.object_points, d.image_points, K, D, flags=cv2.SOLVEPNP_ITERATIVE)
        out.append(_pose(cv2.Rodrigues(rvec)[0], tvec) if ok else None)
    return out


def calibrate_hand_eye(T_base_gripper: list[np.ndarray], images: list[np.ndarray], K: np.ndarray, D: np.ndarray,
                       board: BoardSpec, setup: Literal["eye_in_hand", "eye_to_hand"]) -> HandEyeResult:
    if len(T_base_gripper) != len(images):
        raise CalibrationError(f"{len(T_base_gripper)} robot poses for {len(images)} images")
    cams = board_poses(images, K, D, board)
    pairs = [(g, c) for g, c in zip(T_base_gripper, cams) if c is not None]
    if len(pairs) < MIN_VIEWS:
        raise CalibrationError(f"the board was found in {len(pairs)} of {len(images)} views; need at least "
                               f"{MIN_VIEWS}. Keep the board in the camera's view at every robot pose.")
    rots = [g[:3, :3] for g, _ in pairs]
    spread = max(_angle_deg(a.T @ b) for a in rots for b in rots)
    if spread < MIN_ROTATION_DEG:
        raise CalibrationError(f"the gripper turned at most {spread:.1f} degrees between views; hand-eye needs "
                               f"rotations of at least {MIN_ROTATION_DEG:g} degrees about two or more axes "
                               "(tilt and turn the gripper, don't only translate it)")
    # eye_to_hand is eye_in_hand with the robot poses inverted (OpenCV's documented trick).
    gs = [g if setup == "eye_in_hand" else np.linalg.inv(g) for g, _ in pairs]
    X = solve_ax_xb(gs, [c for _, c in pairs])
    # Residual: the board's pose in the frame that is fixed (base for eye_in_hand, gripper for
    # eye_to_hand) should be the same from every view.
    fixed = [g @ X @ c for g, (_, c) in zip(gs, pairs)]
    mean_t = np.mean([f[:3, 3] for f in fixed], axis=0)
    res_mm = float(np.max([np.linalg.norm(f[:3, 3] - mean_t) for f in fixed]) * 1000)
    res_deg = max(_angle_deg(fixed[0][:3, :3].T @ f[:3, :3]) for f in fixed)
    return HandEyeResult(setup=setup, T=X, views_used=len(pairs), views_total=len(images), residual_mm=res_mm,
                         residual_deg=res_deg)


def solve_ax_xb(G: list[np.ndarray], C: list[np.ndarray]) -> np.ndarray:
    """X such that G_i X C_i is the same for every view (G: robot poses, C: T_camera_board)."""
    alphas, betas, rows, rhs = [], [], [], []
    motions = []
    for i in range(len(G)):
        for j in range(i + 1, len(G)):
            A = np.linalg.inv(G[j]) @ G[i]
            B = C[j] @ np.linalg.inv(C[i])
            a, b = cv2.Rodrigues(A[:3, :3])[0].reshape(3), cv2.Rodrigues(B[:3, :3])[0].reshape(3)
            if np.linalg.norm(a) < np.radians(2):  # too small a turn to say anything about rotation
                continue
            alphas.append(a)
            betas.append(b)
            motions.append((A, B))
    H = np.sum([np.outer(b, a) for a, b in zip(alphas, betas)], axis=0)
    U, _, Vt = np.linalg.svd(H)
    R = Vt.T @ np.diag([1.0, 1.0, np.linalg.det(Vt.T @ U.T)]) @ U.T
    for A, B in motions:
        rows.append(A[:3, :3] - np.eye(3))
        rhs.append(R @ B[:3, 3] - A[:3, 3])
    t = np.linalg.lstsq(np.vstack(rows), np.concatenate(rhs), rcond=None)[0]
    return _pose(R, t)


def pose_error(T_est: np.ndarray, T_true: np.ndarray) -> tuple[float, float]:
    """(translation error in mm, rotation error in degrees)."""
    return (float(np.linalg.norm(T_est[:3, 3] - T_true[:3, 3]) * 1000),
            _angle_deg(T_est[:3, :3].T @ T_true[:3, :3]))
