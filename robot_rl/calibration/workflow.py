"""`robot-rl calib intrinsics|handeye|latency`: capture (in the simulator, or from recorded images),
calibrate, check, write the result files and a PNG report a person can look at.

Results go to calibration/ by default: <camera>.yaml (ROS camera_info format), handeye_<setup>.yaml
(the 4x4 transform), latency.yaml (seconds per stream). `load_camera_calibration()` turns them
into the store's CameraCalibration attribute.
"""
from __future__ import annotations

import pathlib
from typing import Callable, Optional

import cv2
import numpy as np
import yaml

from robot_rl.calibration.board import BoardSpec, CalibrationError
from robot_rl.calibration.handeye import calibrate_hand_eye, pose_error
from robot_rl.calibration.intrinsics import calibrate_intrinsics, camera_info_yaml, load_camera_info_yaml
from robot_rl.calibration.latency import estimate_lag, joint_speed, motion_energy
from robot_rl.log import get_logger

log = get_logger(__name__)
Progress = Callable[[str], None]


def load_images(directory: pathlib.Path) -> list[np.ndarray]:
    files = sorted(p for p in pathlib.Path(directory).glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        raise CalibrationError(f"{directory}: no .png/.jpg images to calibrate from")
    images = [cv2.imread(str(p))[..., ::-1] for p in files]
    if len({im.shape for im in images}) != 1:
        raise CalibrationError(f"{directory}: images differ in size; use one camera resolution")
    return images


def load_store_images(store_path: pathlib.Path, stream: str, every: int = 10) -> list[np.ndarray]:
    from robot_rl.store import EpisodeStore
    store = EpisodeStore.open(store_path)
    spec = store.spec.stream(stream)
    if spec.kind != "rgb":
        raise CalibrationError(f"stream {stream} is {spec.kind}, not an rgb camera")
    n = store.commit["streams"][stream]
    return list(store.read_samples(stream, np.arange(0, n, max(every, 1))))


def _report_intrinsics(res, path: pathlib.Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    canvas = np.zeros((res.height, res.width, 3), np.uint8)
    for d in res.detections:
        if d is not None:
            for x, y in d.image_points:
                cv2.circle(canvas, (int(x), int(y)), 2, (0, 255, 0), -1)
    axes[0].imshow(canvas)
    axes[0].set_title(f"all detected corners ({res.views_used} views)")
    im = axes[1].imshow(res.coverage, cmap="viridis")
    axes[1].set_title("corners per image region (3x3)")
    fig.colorbar(im, ax=axes[1])
    axes[2].bar(range(len(res.per_view_rms_px)), res.per_view_rms_px)
    axes[2].set_title(f"reprojection error per view (rms {res.rms_px:.3f} px)")
    axes[2].set_xlabel("view")
    axes[2].set_ylabel("px")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def run_intrinsics(out: pathlib.Path, camera: str, images: list[np.ndarray], board: BoardSpec,
                   progress: Progress = print, truth_K: Optional[np.ndarray] = None) -> dict:
    res = calibrate_intrinsics(images, board)
    for k, d in enumerate(res.detections):
        progress(f"view {k + 1}/{len(images)}: " + (f"{len(d.ids)} corners" if d is not None else "board not found"))
    missing = res.missing_cells()
    if missing:
        progress(f"coverage: no corners in the {', '.join(missing)} of the image; add views with the board there "
                 "for a better distortion estimate")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{camera}.yaml").write_text(camera_info_yaml(res, camera))
    _report_intrinsics(res, out / f"{camera}_intrinsics.png", f"{camera}: fx {res.K[0, 0]:.1f} fy {res.K[1, 1]:.1f} "
                       f"cx {res.K[0, 2]:.1f} cy {res.K[1, 2]:.1f}")
    summary = {"camera": camera, "views": f"{res.views_used}/{res.views_total}", "rms_px": round(res.rms_px, 4),
               "fx": float(res.K[0, 0]), "fy": float(res.K[1, 1]), "cx": float(res.K[0, 2]), "cy": float(res.K[1, 2]),
               "missing_regions": missing, "yaml": str(out / f"{camera}.yaml"),
               "report": str(out / f"{camera}_intrinsics.png")}
    if truth_K is not None:
        summary["focal_error_pct"] = float(100 * max(abs(res.K[0, 0] - truth_K[0, 0]) / truth_K[0, 0],
                                                     abs(res.K[1, 1] - truth_K[1, 1]) / truth_K[1, 1]))
        summary["principal_point_error_px"] = float(np.linalg.norm(res.K[:2, 2] - truth_K[:2, 2]))
    return summary


def run_handeye(out: pathlib.Path, setup: str, camera: str, images: list[np.ndarray], poses: list[np.ndarray],
                K: np.ndarray, D: np.ndarray, board: BoardSpec, truth: Optional[np.ndarray] = None) -> dict:
    res = calibrate_hand_eye(poses, images, K, D, board, setup)  # type: ignore[arg-type]
    frame = "T_gripper_camera" if setup == "eye_in_hand" else "T_base_camera"
    doc = {"setup": setup, "camera": camera, frame: [[float(v) for v in row] for row in res.T],
           "views": res.views_used, "residual_mm": round(res.residual_mm, 3), "residual_deg": round(res.residual_deg, 4)}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"handeye_{setup}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    summary = {**doc, "yaml": str(out / f"handeye_{setup}.yaml")}
    if truth is not None:
        summary["translation_error_mm"], summary["rotation_error_deg"] = pose_error(res.T, truth)
    return summary


def capture_sim_views(setup: str, views: int, seed: int, board: BoardSpec,
                      progress: Progress = print) -> tuple[list, list, str, np.ndarray, np.ndarray]:
    """Views of the board from the simulated calibration scene: (images, robot poses, camera name,
    the camera's true K, the true hand-eye transform), the truths to check a calibration against."""
    from robot_rl.calibration.simscene import VIEWPOINTS, CalibrationSim, capture
    vp = VIEWPOINTS[setup]
    sim = CalibrationSim(vp["mount"], board)
    try:
        progress(f"capturing {views} views with the {vp['camera']} camera ({setup}, board on the {vp['mount']})")
        images, poses = capture(sim, setup, views, seed=seed)
        camera = vp["camera"]
        truth = sim.T_gripper_camera(camera) if setup == "eye_in_hand" else sim.T_base_camera(camera)
        return images, poses, camera, sim.K(camera), truth
    finally:
        sim.close()


def run_handeye_from_views(out: pathlib.Path, setup: str, camera: str, images: list[np.ndarray],
                           poses: list[np.ndarray], board: BoardSpec, truth=None,
                           progress: Progress = print) -> dict:
    """Hand-eye calibration with the camera's intrinsics from `out`, calibrated first from the same
    views when there are none yet."""
    from robot_rl.calibration.intrinsics import load_camera_info_yaml
    intr = out / f"{camera}.yaml"
    if not intr.exists():
        progress(f"no {intr}; calibrating intrinsics from the same views first")
        run_intrinsics(out, camera, images, board, progress=progress)
    info = load_camera_info_yaml(intr)
    return run_handeye(out, setup, camera, images, poses, info["K"], info["D"], board, truth=truth)


def run_latency(out: pathlib.Path, stream: str, rec: dict) -> dict:
    a = joint_speed(rec["q_stamps_ns"], rec["q"])
    b = motion_energy(rec["frame_stamps_ns"], rec["frames"])
    res = estimate_lag(*a, *b)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "latency.yaml"
    doc = yaml.safe_load(path.read_text()) if path.exists() else {}
    doc = doc or {}
    doc[stream] = {"latency_s": round(res.lag_s, 4), "peak_correlation": round(res.peak_correlation, 3),
                   "relative_to": "joint encoders"}
    path.write_text(yaml.safe_dump(doc, sort_keys=True))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(11, 3.5))
    for (t, s), label, shift in ((a, "joint speed", 0.0), (b, f"{stream} motion energy, shifted by -{res.lag_s * 1e3:.1f} ms", res.lag_s)):
        ax.plot(t / 1e9 - shift, (s - s.mean()) / (s.std() or 1), lw=0.9, label=label)
    ax.set_xlabel("s")
    ax.legend(loc="upper right")
    ax.set_title(f"{stream}: latency {res.lag_s * 1e3:.1f} ms (peak correlation {res.peak_correlation:.3f})")
    fig.tight_layout()
    fig.savefig(out / f"latency_{stream}.png", dpi=80)
    plt.close(fig)
    return {"stream": stream, "latency_ms": round(res.lag_s * 1e3, 2), "peak_correlation": round(res.peak_correlation, 3),
            "yaml": str(path), "report": str(out / f"latency_{stream}.png")}


def load_camera_calibration(directory: pathlib.Path, camera: str, stream: str = ""):
    """The store's CameraCalibration for `camera` from <camera>.yaml and, if present, an eye-to-hand
    handeye result (the fixed camera's pose in the robot base)."""
    from robot_rl.store.schema import CameraCalibration
    info = load_camera_info_yaml(pathlib.Path(directory) / f"{camera}.yaml")
    T = None
    he = pathlib.Path(directory) / "handeye_eye_to_hand.yaml"
    if he.exists():
        doc = yaml.safe_load(he.read_text())
        if doc.get("camera") == camera:
            T = doc["T_base_camera"]
    return CameraCalibration(width=info["width"], height=info["height"], K=info["K"].tolist(),
                             distortion=info["D"].tolist(), T_base_camera=T, stream=stream)
