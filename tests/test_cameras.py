"""Camera backends (RealSense as far as this machine allows, OpenCV on a real video file, replay of
a store) and the replay camera node feeding the recorder node, frames compared bit for bit."""
from __future__ import annotations

import time

import numpy as np
import pytest

from conftest import wait_exit
from robot_rl.cameras import (CameraError, OpenCVCamera, RealSenseSettings, ReplayCamera, list_realsense,
                              pick_realsense, realsense_config)
from robot_rl.store import EpisodeStore, StepSpec, StoreSpec, StoreWriter, StreamSpec


def make_source(path, frames=40, size=(48, 64), period_ms=50, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (frames, *size, 3), dtype=np.uint8)
    spec = StoreSpec(streams=[StreamSpec(name="front_rgb", kind="rgb", shape=[*size, 3], dtype="uint8",
                                         rate_hz=1000 / period_ms)], steps=StepSpec(obs_dim=0, action_dim=0))
    with_writer = StoreWriter(path, spec)
    with_writer.begin_episode(task="source")
    for i, img in enumerate(images):
        with_writer.append("front_rgb", img, sensor_ns=i * period_ms * 1_000_000)
    with_writer.end_episode()
    with_writer.close()
    return images


def test_realsense_path_enumerates_configures_and_refuses_clearly_without_a_device():
    devices = list_realsense()                      # the real librealsense enumeration
    assert devices == []                            # none attached to this machine
    with pytest.raises(CameraError, match="no RealSense device connected"):
        pick_realsense("", devices)
    fake = [{"serial": "123"}, {"serial": "456"}]
    assert pick_realsense("456", fake) == "456"
    with pytest.raises(CameraError, match="pick one by serial"):
        pick_realsense("", fake)
    with pytest.raises(CameraError, match="no RealSense with serial 9"):
        pick_realsense("9", fake)
    cfg = realsense_config(RealSenseSettings(width=640, height=480, fps=30, depth=True), "123")
    assert cfg is not None   # a real rs.config with color + depth streams enabled for that serial


def test_opencv_plays_a_video_file_at_its_rate_and_reports_a_missing_device(tmp_path):
    import cv2

    path = str(tmp_path / "clip.avi")
    out = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 20.0, (64, 48))
    for i in range(10):
        out.write(np.full((48, 64, 3), i * 20, np.uint8))
    out.release()
    cam = OpenCVCamera(path)
    t0 = time.monotonic()
    frames = []
    with pytest.raises(CameraError, match="end of video"):
        while True:
            frames.append(cam.read())
    elapsed = time.monotonic() - t0
    cam.close()
    assert len(frames) == 10 and frames[3].color.shape == (48, 64, 3)
    assert abs(int(frames[3].color.mean()) - 60) <= 3          # the written content (MJPG is lossy)
    assert elapsed >= 0.4                                      # 10 frames at 20 fps: played in time
    with pytest.raises(CameraError, match="cannot open camera"):
        OpenCVCamera("/dev/video99")


def test_replay_camera_is_bit_exact_and_keeps_the_recorded_spacing(tmp_path):
    images = make_source(tmp_path / "src.zarr", frames=8, period_ms=30)
    cam = ReplayCamera(str(tmp_path / "src.zarr"), "front_rgb")
    got = [cam.read() for _ in range(8)]
    with pytest.raises(CameraError, match="end of replay"):
        cam.read()
    assert all(np.array_equal(f.color, img) for f, img in zip(got, images))
    assert [f.stamp_ns - got[0].stamp_ns for f in got] == [i * 30_000_000 for i in range(8)]
    with pytest.raises(CameraError, match="no stream"):
        ReplayCamera(str(tmp_path / "src.zarr"), "wrist_rgb")


def test_replay_node_feeds_the_recorder_losslessly(procs, tmp_path):
    images = make_source(tmp_path / "src.zarr", frames=40, period_ms=50)
    recorder = procs.node("recorder_node", "recorder", store=str(tmp_path / "out.zarr"), cameras="front",
                          image_width=64, image_height=48, camera_rate_hz=20.0, camera_qos="reliable",
                          episodes=1, max_episode_s=7.0, wait_for_control=False, wait_for_streams=False,
                          task="replay")
    camera = procs.node("camera_node", "camera", backend="replay", camera="front", store=str(tmp_path / "src.zarr"),
                        stream="front_rgb", reliable=True)
    assert wait_exit(camera, 60) == 0, camera.log_path.read_text()[-2000:]
    assert wait_exit(recorder, 60) == 0, recorder.log_path.read_text()[-2000:]
    out = EpisodeStore(tmp_path / "out.zarr")
    frames, _, _ = out.read_stream(0, "front_rgb")
    assert frames.shape[0] == 40 and np.array_equal(np.asarray(frames), images)


def test_camera_node_without_a_device_exits_2_with_one_line(procs):
    node = procs.node("camera_node", "camera", backend="realsense")
    assert wait_exit(node, 60) == 2
    log = node.log_path.read_text()
    assert "no RealSense device connected" in log and "Traceback" not in log


def test_replay_loops_on_one_timeline(tmp_path):
    make_source(tmp_path / "src.zarr", frames=3, period_ms=20)
    cam = ReplayCamera(str(tmp_path / "src.zarr"), "front_rgb", loop=True)
    stamps = [cam.read().stamp_ns for _ in range(7)]
    assert [b - a for a, b in zip(stamps, stamps[1:])] == [20_000_000] * 6


def test_resized_camera_crops_to_aspect_resizes_and_carries_the_intrinsics():
    """A 640x480 camera published at 128x128 for a policy trained on that size: centre crop (no
    stretch), area resize, depth by nearest neighbour, and K following the crop and scale so a
    3D point still projects onto the same image content."""
    from robot_rl.cameras import Camera, Frame, Intrinsics, ResizedCamera

    K = np.array([[600.0, 0, 330.0], [0, 600.0, 230.0], [0, 0, 1]])
    point = np.array([0.05, -0.03, 0.8])          # a point in the camera frame, drawn as a white square
    u, v = (K @ point)[:2] / point[2]

    class Square(Camera):
        def read(self):
            self.frames += 1
            img = np.zeros((480, 640, 3), np.uint8)
            img[int(v) - 8:int(v) + 8, int(u) - 8:int(u) + 8] = 255
            depth = np.full((480, 640), 700, np.uint16)
            return Frame(img, 123, "measured", self.frames, depth=depth)

        def intrinsics(self):
            return Intrinsics(640, 480, K, [0.1, 0.0, 0.0, 0.0, 0.0])

    cam = ResizedCamera(Square(), 128, 128)
    f = cam.read()
    assert f.color.shape == (128, 128, 3) and f.depth.shape == (128, 128) and f.stamp_ns == 123
    assert set(np.unique(f.depth)) == {700}                       # nearest: no invented depths
    K2 = cam.intrinsics().K
    assert cam.intrinsics().width == 128 and K2[0, 0] == K2[1, 1] == 600 * 128 / 480   # square pixels kept
    u2, v2 = (K2 @ point)[:2] / point[2]
    ys, xs = np.nonzero(f.color[..., 0] > 128)
    assert abs(xs.mean() - u2) < 1.0 and abs(ys.mean() - v2) < 1.0   # the square lands where K2 projects it
    with pytest.raises(CameraError):
        ResizedCamera(Square(), 0, 128)
