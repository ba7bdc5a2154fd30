"""Calibration against the simulator's ground truth: a ChArUco board in the MuJoCo scene, views
rendered from robot poses, results compared with the true camera model and poses."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import yaml

from robot_rl.calibration.board import CalibrationError
from robot_rl.calibration.handeye import calibrate_hand_eye, pose_error
from robot_rl.calibration.intrinsics import calibrate_intrinsics
from robot_rl.calibration.latency import estimate_lag, joint_speed, motion_energy
from robot_rl.calibration.simscene import VIEWPOINTS, CalibrationSim, capture, record_motion

CLI = [sys.executable, "-m", "robot_rl.cli"]


@pytest.fixture(scope="module", params=["eye_in_hand", "eye_to_hand"])
def views(request):
    setup = request.param
    vp = VIEWPOINTS[setup]
    sim = CalibrationSim(vp["mount"])
    images, poses = capture(sim, setup, 30, seed=0)
    camera = vp["camera"]
    truth = sim.T_gripper_camera(camera) if setup == "eye_in_hand" else sim.T_base_camera(camera)
    out = {"setup": setup, "images": images, "poses": poses, "K": sim.K(camera), "truth": truth, "board": sim.board,
           "sim": sim}
    yield out
    sim.close()


def test_intrinsics_recovered(views):
    res = calibrate_intrinsics(views["images"], views["board"])
    K = views["K"]
    assert abs(res.K[0, 0] - K[0, 0]) / K[0, 0] < 0.01 and abs(res.K[1, 1] - K[1, 1]) / K[1, 1] < 0.01
    assert np.linalg.norm(res.K[:2, 2] - K[:2, 2]) < 2.0
    assert res.rms_px < 0.5 and res.views_used >= 25


def test_hand_eye_recovered(views):
    res = calibrate_intrinsics(views["images"], views["board"])
    he = calibrate_hand_eye(views["poses"], views["images"], res.K, res.D, views["board"], views["setup"])
    t_mm, r_deg = pose_error(he.T, views["truth"])
    assert t_mm < 5.0 and r_deg < 1.0, (t_mm, r_deg)
    assert he.residual_mm < 10.0


def test_injected_camera_delay_is_measured():
    rec = record_motion(8.0, camera_delay_s=0.100, seed=1)
    res = estimate_lag(*joint_speed(rec["q_stamps_ns"], rec["q"]), *motion_energy(rec["frame_stamps_ns"], rec["frames"]))
    assert abs(res.lag_s - 0.100) < 0.010, res
    rec0 = record_motion(8.0, camera_delay_s=0.0, seed=2)
    res0 = estimate_lag(*joint_speed(rec0["q_stamps_ns"], rec0["q"]), *motion_energy(rec0["frame_stamps_ns"], rec0["frames"]))
    assert abs(res0.lag_s) < 0.010, res0


def test_bad_captures_say_what_to_do():
    sim = CalibrationSim("table")
    try:
        images, poses = capture(sim, "eye_in_hand", 10, seed=0)
        blank = [np.full_like(images[0], 128) for _ in range(10)]
        with pytest.raises(CalibrationError, match=r"found in 0 of 10 views.*capture more"):
            calibrate_intrinsics(blank, sim.board)
        with pytest.raises(CalibrationError, match="need at least 8"):
            calibrate_intrinsics(images[:3], sim.board)
        same_images, same_poses = capture(sim, "eye_in_hand", 8, seed=0, scale=0.0)  # no motion at all
        res = calibrate_intrinsics(images, sim.board)
        with pytest.raises(CalibrationError, match="tilt and turn the gripper"):
            calibrate_hand_eye(same_poses, same_images, res.K, res.D, sim.board, "eye_in_hand")
        with pytest.raises(CalibrationError, match="robot poses for"):
            calibrate_hand_eye(poses[:3], images, res.K, res.D, sim.board, "eye_in_hand")
    finally:
        sim.close()
    still = record_motion(3.0, 0.1, still=True)
    with pytest.raises(CalibrationError, match="no motion seen"):
        estimate_lag(*joint_speed(still["q_stamps_ns"], still["q"]), *motion_energy(still["frame_stamps_ns"], still["frames"]))


def test_cli_writes_results_and_reports(tmp_path):
    res = subprocess.run(CLI + ["calib", "handeye", "--sim", "--setup", "eye_to_hand", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    front = yaml.safe_load((tmp_path / "front.yaml").read_text())
    assert front["image_width"] == 640 and len(front["camera_matrix"]["data"]) == 9
    he = yaml.safe_load((tmp_path / "handeye_eye_to_hand.yaml").read_text())
    assert np.array(he["T_base_camera"]).shape == (4, 4)
    assert (tmp_path / "front_intrinsics.png").stat().st_size > 1000
    from robot_rl.calibration.workflow import load_camera_calibration
    cal = load_camera_calibration(tmp_path, "front", stream="front_rgb")
    assert cal.T_base_camera is not None and cal.width == 640
    lat = subprocess.run(CLI + ["calib", "latency", "--sim", "--seconds", "6", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert lat.returncode == 0, lat.stderr[-2000:]
    assert abs(yaml.safe_load((tmp_path / "latency.yaml").read_text())["front"]["latency_s"] - 0.1) < 0.01
    empty = tmp_path / "nothing"
    empty.mkdir()
    bad = subprocess.run(CLI + ["calib", "intrinsics", "--images", str(empty)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "no .png/.jpg images" in bad.stderr and "Traceback" not in bad.stderr


def test_intrinsics_from_an_episode_store(tmp_path):
    from robot_rl.store import StoreSpec, StoreWriter, StreamSpec
    sim = CalibrationSim("table")
    try:
        images, _ = capture(sim, "eye_in_hand", 14, seed=3)
        K = sim.K("wrist")
    finally:
        sim.close()
    spec = StoreSpec(streams=[StreamSpec(name="wrist_rgb", kind="rgb", shape=[480, 640, 3], dtype="uint8", codec="zstd")])
    with StoreWriter(tmp_path / "s.zarr", spec) as w:
        w.begin_episode(task="calibration views")
        for i, img in enumerate(images):
            w.append("wrist_rgb", img, sensor_ns=i)
        w.end_episode()
    res = subprocess.run(CLI + ["calib", "intrinsics", "--store", str(tmp_path / "s.zarr"), "--stream", "wrist_rgb",
                                "--every", "1", "--out", str(tmp_path / "cal")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    got = yaml.safe_load((tmp_path / "cal" / "wrist_rgb.yaml").read_text())
    fx = got["camera_matrix"]["data"][0]
    assert abs(fx - K[0, 0]) / K[0, 0] < 0.01
