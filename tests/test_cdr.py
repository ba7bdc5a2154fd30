"""The control loop's raw-message decoders agree with rclpy's own (de)serialization."""
import numpy as np
import pytest

pytest.importorskip("rclpy")
from rclpy.serialization import serialize_message  # noqa: E402

from ros_nodes import cdr, convert  # noqa: E402
from std_msgs.msg import Bool, Float64  # noqa: E402


@pytest.mark.parametrize("n", [0, 1, 6, 7])
@pytest.mark.parametrize("frame", ["", "w", "base_link"])
def test_joint_state(n, frame):
    rng = np.random.default_rng(n)
    names = [f"joint_{'x' * i}{i}" for i in range(n)]
    msg = convert.joint_state_to_msg(names, rng.normal(size=n), rng.normal(size=n) if n % 2 else None,
                                     stamp_ns=1_700_000_000_123_456_789, frame_id=frame)
    got = cdr.joint_state(serialize_message(msg))
    want = convert.msg_to_joint_state(msg)
    assert got["names"] == want["names"] and got["stamp_ns"] == want["stamp_ns"]
    for f in ("position", "velocity", "effort"):
        np.testing.assert_array_equal(got[f], want[f])
    assert "names" not in cdr.joint_state(serialize_message(msg), names=False)


def test_pose_and_scalars():
    msg = convert.pose_to_msg([0.1, -0.2, 0.3], [0.0, 0.6, 0.0, 0.8], 123_000_000_456, "world")
    pos, quat, ns = cdr.pose_stamped(serialize_message(msg))
    p2, q2, ns2 = convert.msg_to_pose(msg)
    np.testing.assert_array_equal(pos, p2)
    np.testing.assert_array_equal(quat, q2)
    assert ns == ns2
    assert cdr.float64(serialize_message(Float64(data=-0.75))) == -0.75
    assert cdr.boolean(serialize_message(Bool(data=True))) is True
    assert cdr.boolean(serialize_message(Bool(data=False))) is False


@pytest.mark.parametrize("shape", [(5,), (2, 3), (0,)])
def test_multiarray(shape):
    values = np.arange(int(np.prod(shape)), dtype=float).reshape(shape) - 2.5
    got = cdr.float64_multiarray(serialize_message(convert.array_to_multiarray(values, ["a", "bb"])))
    np.testing.assert_array_equal(got, values.reshape(-1))


@pytest.mark.parametrize("encoding,shape,dtype", [("rgb8", (5, 7, 3), np.uint8), ("mono8", (4, 3), np.uint8),
                                                  ("16UC1", (3, 5), np.uint16), ("32FC1", (2, 3), np.float32)])
def test_image(encoding, shape, dtype):
    img = (np.arange(int(np.prod(shape))) % 200).astype(dtype).reshape(shape)
    msg = convert.image_to_msg(img, encoding, 42, "cam")
    got, ns = cdr.image(serialize_message(msg))
    np.testing.assert_array_equal(got, img)
    assert got.dtype == img.dtype and ns == 42


def test_bad_input_is_a_conversion_error():
    msg = convert.image_to_msg(np.zeros((4, 4, 3), np.uint8), "rgb8", 0)
    data = serialize_message(msg)
    with pytest.raises(convert.ConversionError):
        cdr.image(data[:-10])
    with pytest.raises(convert.ConversionError):
        cdr.joint_state(b"\x00\x00\x00\x00")


def test_every_truncation_is_a_conversion_error():
    msg = convert.joint_state_to_msg(["a", "b"], [1.0, 2.0], [0.5, 0.5], stamp_ns=5, frame_id="base")
    data = serialize_message(msg)
    for cut in range(len(data) - 4):  # rmw may pad the end to 4 bytes
        try:
            cdr.joint_state(data[:cut])
        except convert.ConversionError:
            continue
        raise AssertionError(f"a message cut to {cut} of {len(data)} bytes was decoded")


def test_joint_state_decoder_reuses_names_and_notices_a_change():
    dec = cdr.JointStateDecoder()
    a = convert.joint_state_to_msg(["a", "b"], [1.0, 2.0], stamp_ns=1, frame_id="f")
    b = convert.joint_state_to_msg(["a", "b"], [3.0, 4.0], stamp_ns=2, frame_id="f")
    c = convert.joint_state_to_msg(["b", "a"], [5.0, 6.0], stamp_ns=3, frame_id="f")
    d = convert.joint_state_to_msg(["a", "b", "c"], [7.0, 8.0, 9.0], stamp_ns=4, frame_id="longer")
    for msg in (a, b, c, d, a):
        got, want = dec(serialize_message(msg)), convert.msg_to_joint_state(msg)
        assert got["names"] == want["names"] and got["stamp_ns"] == want["stamp_ns"]
        np.testing.assert_array_equal(got["position"], want["position"])
    with pytest.raises(convert.ConversionError):
        dec(serialize_message(a)[:30])


def test_joint_order_maps_once_per_layout_and_reports_missing_joints():
    from ros_nodes.cdr import JointOrder

    order = JointOrder(["a", "b"])
    names = ["b", "x", "a"]
    assert order.update(names) and order.index.tolist() == [2, 0]
    assert not order.update(names) and not order.update(list(names))   # same layout: no work
    assert order.update(["a"]) and order.index is None                   # "b" missing
