"""Camera intrinsics from ChArUco views: OpenCV's calibrateCamera, with the checks a person needs
(enough views, enough of the image covered, reprojection error) and a CameraInfo-compatible YAML."""
from __future__ import annotations

import dataclasses
import pathlib
from typing import Optional

import cv2
import numpy as np
import yaml

from robot_rl.calibration.board import BoardSpec, CalibrationError, Detection, detect

MIN_VIEWS = 8
GRID = 3  # coverage is counted on a GRID x GRID split of the image


@dataclasses.dataclass
class IntrinsicsResult:
    width: int
    height: int
    K: np.ndarray
    D: np.ndarray
    rms_px: float
    per_view_rms_px: list[float]
    views_used: int
    views_total: int
    coverage: np.ndarray            # (GRID, GRID) corner counts
    detections: list[Optional[Detection]]

    def missing_cells(self) -> list[str]:
        names = [["top-left", "top", "top-right"], ["left", "centre", "right"],
                 ["bottom-left", "bottom", "bottom-right"]]
        return [names[r][c] for r in range(GRID) for c in range(GRID) if self.coverage[r, c] == 0]


def coverage_of(detections: list[Optional[Detection]], width: int, height: int) -> np.ndarray:
    grid = np.zeros((GRID, GRID), dtype=int)
    for d in detections:
        if d is None:
            continue
        cols = np.clip((d.image_points[:, 0] / width * GRID).astype(int), 0, GRID - 1)
        rows = np.clip((d.image_points[:, 1] / height * GRID).astype(int), 0, GRID - 1)
        np.add.at(grid, (rows, cols), 1)
    return grid


def calibrate_intrinsics(images: list[np.ndarray], board: BoardSpec, min_views: int = MIN_VIEWS) -> IntrinsicsResult:
    if not images:
        raise CalibrationError("no images: capture views of the board first")
    h, w = images[0].shape[:2]
    detections = [detect(img, board) for img in images]
    used = [d for d in detections if d is not None]
    if len(used) < min_views:
        raise CalibrationError(
            f"the board was found in {len(used)} of {len(images)} views; need at least {min_views}. "
            "Make sure the whole board is in view, in focus and lit, and capture more views.")
    obj = [d.object_points for d in used]
    img = [d.image_points for d in used]
    # Pinhole with k1, k2, p1, p2, k3; fix k3 unless views cover the image corners well.
    rms, K, D, rvecs, tvecs = cv2.calibrateCamera(obj, img, (w, h), None, None, flags=cv2.CALIB_FIX_K3)
    per_view = []
    for o, i, r, t in zip(obj, img, rvecs, tvecs):
        proj, _ = cv2.projectPoints(o, r, t, K, D)
        per_view.append(float(np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - i) ** 2, axis=1)))))
    return IntrinsicsResult(width=w, height=h, K=K, D=D.reshape(-1), rms_px=float(rms), per_view_rms_px=per_view,
                            views_used=len(used), views_total=len(images), coverage=coverage_of(detections, w, h),
                            detections=detections)


def camera_info_yaml(result: IntrinsicsResult, camera_name: str) -> str:
    """The ROS camera_info YAML format (what camera_info_manager and our camera node load)."""
    K = result.K
    P = np.hstack([K, np.zeros((3, 1))])
    doc = {
        "image_width": result.width, "image_height": result.height, "camera_name": camera_name,
        "camera_matrix": {"rows": 3, "cols": 3, "data": [float(v) for v in K.reshape(-1)]},
        "distortion_model": "plumb_bob",
        "distortion_coefficients": {"rows": 1, "cols": len(result.D), "data": [float(v) for v in result.D]},
        "rectification_matrix": {"rows": 3, "cols": 3, "data": [float(v) for v in np.eye(3).reshape(-1)]},
        "projection_matrix": {"rows": 3, "cols": 4, "data": [float(v) for v in P.reshape(-1)]},
        "reprojection_error_px": round(result.rms_px, 4),
        "views": result.views_used,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def load_camera_info_yaml(path: pathlib.Path) -> dict:
    doc = yaml.safe_load(pathlib.Path(path).read_text())
    return {"width": doc["image_width"], "height": doc["image_height"],
            "K": np.array(doc["camera_matrix"]["data"]).reshape(3, 3),
            "D": np.array(doc["distortion_coefficients"]["data"])}
