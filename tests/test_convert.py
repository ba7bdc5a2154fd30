"""numpy <-> ROS message conversion round trips, with real message classes."""
from __future__ import annotations

import array

import numpy as np
import pytest

from ros_nodes import convert
from ros_nodes.convert import ConversionError

STAMP = 1_700_000_123_456_789_012


@pytest.mark.parametrize("encoding, shape, dtype", [
    ("rgb8", (480, 640, 3), np.uint8),
    ("bgr8", (48, 64, 3), np.uint8),
    ("mono8", (48, 64), np.uint8),
    ("16UC1", (48, 64), np.uint16),
    ("32FC1", (48, 64), np.float32),
])
def test_image_round_trip(encoding, shape, dtype):
    rng = np.random.default_rng(1)
    image = (rng.random(shape) * 1000).astype(dtype)
    msg = convert.image_to_msg(image, encoding, STAMP, "cam")
    assert isinstance(msg.data, array.array)  # the fast path: never a list
    assert msg.step == shape[1] * (shape[2] if len(shape) == 3 else 1) * np.dtype(dtype).itemsize
    back = convert.msg_to_image(msg)
    assert back.dtype == dtype and back.shape == shape
    np.testing.assert_array_equal(back, image)
    assert convert.stamp_to_ns(msg.header.stamp) == STAMP and msg.header.frame_id == "cam"


def test_image_from_non_contiguous_view():
    image = np.arange(48 * 64 * 3, dtype=np.uint8).reshape(48, 64, 3)[:, ::2]
    np.testing.assert_array_equal(convert.msg_to_image(convert.image_to_msg(image, "rgb8", 0)), image)


def test_image_with_padded_rows():
    image = np.arange(4 * 5, dtype=np.uint8).reshape(4, 5)
    msg = convert.image_to_msg(image, "mono8", 0)
    padded = np.zeros((4, 8), np.uint8)
    padded[:, :5] = image
    msg.step = 8
    msg.data = array.array("B", padded.tobytes())
    np.testing.assert_array_equal(convert.msg_to_image(msg), image)


@pytest.mark.parametrize("image, encoding, message", [
    (np.zeros((4, 4, 3), np.uint8), "yuv422", "unsupported image encoding"),
    (np.zeros((4, 4), np.uint8), "rgb8", "needs shape"),
    (np.zeros((4, 4, 3), np.float32), "rgb8", "needs dtype"),
])
def test_bad_images(image, encoding, message):
    with pytest.raises(ConversionError, match=message):
        convert.image_to_msg(image, encoding, 0)


def test_truncated_image_message_is_refused():
    msg = convert.image_to_msg(np.zeros((4, 4, 3), np.uint8), "rgb8", 0)
    msg.data = array.array("B", bytes(10))
    with pytest.raises(ConversionError, match="expected step\\*height"):
        convert.msg_to_image(msg)


def test_camera_info_round_trip():
    K = np.array([[600.0, 0, 320], [0, 601.0, 240], [0, 0, 1]])
    D = [0.1, -0.05, 0.001, 0.002, 0.0]
    msg = convert.camera_info_to_msg(640, 480, K, D, STAMP, "cam")
    info = convert.msg_to_camera_info(msg)
    np.testing.assert_array_equal(info["K"], K)
    np.testing.assert_array_equal(info["D"], D)
    np.testing.assert_array_equal(info["P"][:, :3], K)
    assert (info["width"], info["height"], info["stamp_ns"]) == (640, 480, STAMP)
    with pytest.raises(ConversionError, match="K must be 3x3"):
        convert.camera_info_to_msg(640, 480, np.eye(4))


def test_joint_state_round_trip():
    names = [f"j{i}" for i in range(7)]
    q, dq = np.linspace(-1, 1, 7), np.linspace(0, 0.5, 7)
    state = convert.msg_to_joint_state(convert.joint_state_to_msg(names, q, dq, None, STAMP))
    assert state["names"] == names and state["stamp_ns"] == STAMP
    np.testing.assert_array_equal(state["position"], q)
    np.testing.assert_array_equal(state["velocity"], dq)
    assert state["effort"].size == 0
    with pytest.raises(ConversionError, match="position: expected 7 values, got 6"):
        convert.joint_state_to_msg(names, q[:6])


def test_pose_and_twist_round_trip():
    p, q, t = convert.msg_to_pose(convert.pose_to_msg([0.1, 0.2, 0.3], [0, 0, 0.7071, 0.7071], STAMP, "base"))
    np.testing.assert_array_equal(p, [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(q, [0, 0, 0.7071, 0.7071])
    assert t == STAMP
    v, w, t = convert.msg_to_twist(convert.twist_to_msg([1, 2, 3], [4, 5, 6], STAMP))
    np.testing.assert_array_equal(v, [1, 2, 3])
    np.testing.assert_array_equal(w, [4, 5, 6])
    with pytest.raises(ConversionError, match="quaternion: expected 4 values"):
        convert.pose_to_msg([0, 0, 0], [0, 0, 1])


def test_trajectory_round_trip():
    names = ["a", "b", "c"]
    positions = np.arange(6.0).reshape(2, 3)
    msg = convert.trajectory_to_msg(names, positions, [100_000_000, 2_500_000_000], velocities=positions * 0.1,
                                    stamp_ns=STAMP)
    out = convert.msg_to_trajectory(msg)
    np.testing.assert_array_equal(out["positions"], positions)
    np.testing.assert_array_equal(out["times_from_start_ns"], [100_000_000, 2_500_000_000])
    assert out["joint_names"] == names and out["stamp_ns"] == STAMP
    with pytest.raises(ConversionError, match="2 points but 1 times"):
        convert.trajectory_to_msg(names, positions, [1])


def test_multiarray_round_trip():
    values = np.arange(12.0).reshape(3, 4)
    msg = convert.array_to_multiarray(values, ["rows", "cols"])
    assert [d.label for d in msg.layout.dim] == ["rows", "cols"]
    assert [d.stride for d in msg.layout.dim] == [12, 4]
    np.testing.assert_array_equal(convert.multiarray_to_array(msg), values)
    msg.layout.dim[0].size = 5
    with pytest.raises(ConversionError, match="does not match"):
        convert.multiarray_to_array(msg)


def test_stamps_are_exact_integers():
    for ns in (0, 1, 999_999_999, 1_000_000_000, STAMP):
        assert convert.stamp_to_ns(convert.ns_to_stamp(ns)) == ns
    with pytest.raises(ConversionError):
        convert.ns_to_stamp(-1)
