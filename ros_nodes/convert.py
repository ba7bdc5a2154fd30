"""numpy <-> ROS 2 message conversion. Stamps are integer nanoseconds everywhere.

Images cost one copy out (numpy -> the message's array.array, via array.frombytes on a memoryview)
and none in (np.frombuffer views the message's buffer). Never Python lists: assigning a list or a
multi-dimensional memoryview to a uint8[] field makes rclpy iterate element by element (~80 ms for a
640x480 RGB frame instead of ~0.3 ms).
"""
from __future__ import annotations

import array
from typing import Sequence

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped, TwistStamped
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, Header, MultiArrayDimension
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

# encoding -> (numpy dtype, channels)
IMAGE_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "mono8": (np.dtype(np.uint8), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
_NS = 1_000_000_000


class ConversionError(ValueError):
    """A message or array that cannot be converted (wrong encoding, shape or size)."""


# --- time -------------------------------------------------------------------------------------
def stamp_to_ns(stamp: Time) -> int:
    return stamp.sec * _NS + stamp.nanosec


def ns_to_stamp(ns: int) -> Time:
    ns = int(ns)
    if ns < 0:
        raise ConversionError(f"negative timestamp {ns} ns")
    return Time(sec=ns // _NS, nanosec=ns % _NS)


def header(stamp_ns: int, frame_id: str = "") -> Header:
    return Header(stamp=ns_to_stamp(stamp_ns), frame_id=frame_id)


def _bytes_array(data: np.ndarray) -> array.array:
    out = array.array("B")
    out.frombytes(memoryview(np.ascontiguousarray(data)).cast("B"))
    return out


def _f64(values, n: int | None = None, what: str = "values") -> np.ndarray:
    out = np.asarray(values, dtype=np.float64).reshape(-1)
    if n is not None and out.shape[0] != n:
        raise ConversionError(f"{what}: expected {n} values, got {out.shape[0]}")
    return out


# --- images -----------------------------------------------------------------------------------
def image_to_msg(image: np.ndarray, encoding: str, stamp_ns: int, frame_id: str = "") -> Image:
    """numpy (H, W[, C]) -> sensor_msgs/Image. One copy."""
    if encoding not in IMAGE_ENCODINGS:
        raise ConversionError(f"unsupported image encoding {encoding!r} (supported: {', '.join(IMAGE_ENCODINGS)})")
    dtype, channels = IMAGE_ENCODINGS[encoding]
    if image.dtype != dtype:
        raise ConversionError(f"{encoding} needs dtype {dtype}, got {image.dtype}")
    if image.ndim == 2 and channels == 1:
        height, width = image.shape
    elif image.ndim == 3 and image.shape[2] == channels:
        height, width = image.shape[:2]
    else:
        raise ConversionError(f"{encoding} needs shape (H, W{', %d' % channels if channels > 1 else ''}), got {image.shape}")
    msg = Image()
    msg.header = header(stamp_ns, frame_id)
    msg.height, msg.width, msg.encoding = height, width, encoding
    msg.is_bigendian = 0
    msg.step = width * channels * dtype.itemsize
    msg.data = _bytes_array(image)
    return msg


def msg_to_image(msg: Image) -> np.ndarray:
    """sensor_msgs/Image -> numpy view of the message buffer (no copy; read-only semantics)."""
    if msg.encoding not in IMAGE_ENCODINGS:
        raise ConversionError(f"unsupported image encoding {msg.encoding!r}")
    dtype, channels = IMAGE_ENCODINGS[msg.encoding]
    if msg.is_bigendian and dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">")
    row = msg.width * channels * dtype.itemsize
    if msg.step < row:
        raise ConversionError(f"image step {msg.step} smaller than a row ({row} bytes)")
    if len(msg.data) != msg.step * msg.height:
        raise ConversionError(f"image data has {len(msg.data)} bytes, expected step*height = {msg.step * msg.height}")
    flat = np.frombuffer(msg.data, dtype=np.uint8).reshape(msg.height, msg.step)[:, :row]
    out = flat.view(dtype).reshape((msg.height, msg.width, channels) if channels > 1 else (msg.height, msg.width))
    return out


# --- camera info ------------------------------------------------------------------------------
def camera_info_to_msg(
    width: int,
    height: int,
    K: np.ndarray,
    D: Sequence[float] = (),
    stamp_ns: int = 0,
    frame_id: str = "",
    distortion_model: str = "plumb_bob",
    R: np.ndarray | None = None,
    P: np.ndarray | None = None,
) -> CameraInfo:
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ConversionError(f"K must be 3x3, got {K.shape}")
    R = np.eye(3) if R is None else np.asarray(R, dtype=np.float64)
    P = np.hstack([K, np.zeros((3, 1))]) if P is None else np.asarray(P, dtype=np.float64)
    if R.shape != (3, 3) or P.shape != (3, 4):
        raise ConversionError(f"R must be 3x3 and P 3x4, got {R.shape} and {P.shape}")
    msg = CameraInfo()
    msg.header = header(stamp_ns, frame_id)
    msg.width, msg.height = int(width), int(height)
    msg.distortion_model = distortion_model
    msg.d = _f64(D)
    msg.k = K.reshape(-1)
    msg.r = R.reshape(-1)
    msg.p = P.reshape(-1)
    return msg


def msg_to_camera_info(msg: CameraInfo) -> dict:
    return {
        "width": msg.width,
        "height": msg.height,
        "K": np.asarray(msg.k, dtype=np.float64).reshape(3, 3),
        "D": np.asarray(msg.d, dtype=np.float64),
        "R": np.asarray(msg.r, dtype=np.float64).reshape(3, 3),
        "P": np.asarray(msg.p, dtype=np.float64).reshape(3, 4),
        "distortion_model": msg.distortion_model,
        "stamp_ns": stamp_to_ns(msg.header.stamp),
        "frame_id": msg.header.frame_id,
    }


# --- proprioception ---------------------------------------------------------------------------
def joint_state_to_msg(
    names: Sequence[str],
    position,
    velocity=None,
    effort=None,
    stamp_ns: int = 0,
    frame_id: str = "",
) -> JointState:
    n = len(names)
    msg = JointState()
    msg.header = header(stamp_ns, frame_id)
    msg.name = list(names)
    msg.position = _f64(position, n, "position")
    if velocity is not None:
        msg.velocity = _f64(velocity, n, "velocity")
    if effort is not None:
        msg.effort = _f64(effort, n, "effort")
    return msg


def msg_to_joint_state(msg: JointState) -> dict:
    """-> {names, position, velocity, effort (arrays, empty if absent), stamp_ns}."""
    n = len(msg.name)
    out = {"names": list(msg.name), "stamp_ns": stamp_to_ns(msg.header.stamp)}
    for field in ("position", "velocity", "effort"):
        values = np.frombuffer(getattr(msg, field), dtype=np.float64) if len(getattr(msg, field)) else np.zeros(0)
        if values.size not in (0, n):
            raise ConversionError(f"JointState.{field} has {values.size} values for {n} joint names")
        out[field] = values
    return out


def pose_to_msg(position, quaternion_xyzw, stamp_ns: int = 0, frame_id: str = "") -> PoseStamped:
    p = _f64(position, 3, "position")
    q = _f64(quaternion_xyzw, 4, "quaternion")
    msg = PoseStamped()
    msg.header = header(stamp_ns, frame_id)
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = map(float, p)
    o = msg.pose.orientation
    o.x, o.y, o.z, o.w = map(float, q)
    return msg


def msg_to_pose(msg: PoseStamped) -> tuple[np.ndarray, np.ndarray, int]:
    """-> (position xyz, quaternion xyzw, stamp_ns)."""
    p, o = msg.pose.position, msg.pose.orientation
    return np.array([p.x, p.y, p.z]), np.array([o.x, o.y, o.z, o.w]), stamp_to_ns(msg.header.stamp)


def twist_to_msg(linear, angular, stamp_ns: int = 0, frame_id: str = "") -> TwistStamped:
    v = _f64(linear, 3, "linear")
    w = _f64(angular, 3, "angular")
    msg = TwistStamped()
    msg.header = header(stamp_ns, frame_id)
    msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z = map(float, v)
    msg.twist.angular.x, msg.twist.angular.y, msg.twist.angular.z = map(float, w)
    return msg


def msg_to_twist(msg: TwistStamped) -> tuple[np.ndarray, np.ndarray, int]:
    """-> (linear xyz, angular xyz, stamp_ns)."""
    v, w = msg.twist.linear, msg.twist.angular
    return np.array([v.x, v.y, v.z]), np.array([w.x, w.y, w.z]), stamp_to_ns(msg.header.stamp)


# --- commands ---------------------------------------------------------------------------------
def trajectory_to_msg(
    joint_names: Sequence[str],
    positions: np.ndarray,
    times_from_start_ns: Sequence[int],
    velocities: np.ndarray | None = None,
    stamp_ns: int = 0,
) -> JointTrajectory:
    """positions (N points, J joints) + N times from start (ns) -> JointTrajectory."""
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != len(joint_names):
        raise ConversionError(f"positions must be (N, {len(joint_names)}), got {positions.shape}")
    if len(times_from_start_ns) != positions.shape[0]:
        raise ConversionError(f"{positions.shape[0]} points but {len(times_from_start_ns)} times")
    if velocities is not None:
        velocities = np.asarray(velocities, dtype=np.float64)
        if velocities.shape != positions.shape:
            raise ConversionError(f"velocities shape {velocities.shape} != positions shape {positions.shape}")
    msg = JointTrajectory()
    msg.header = header(stamp_ns)
    msg.joint_names = list(joint_names)
    for i, t_ns in enumerate(times_from_start_ns):
        point = JointTrajectoryPoint()
        point.positions = positions[i]
        if velocities is not None:
            point.velocities = velocities[i]
        t_ns = int(t_ns)
        point.time_from_start.sec, point.time_from_start.nanosec = t_ns // _NS, t_ns % _NS
        msg.points.append(point)
    return msg


def msg_to_trajectory(msg: JointTrajectory) -> dict:
    """-> {joint_names, positions (N, J), times_from_start_ns (N,), stamp_ns}."""
    n_joints = len(msg.joint_names)
    positions = np.zeros((len(msg.points), n_joints))
    times = np.zeros(len(msg.points), dtype=np.int64)
    for i, point in enumerate(msg.points):
        if len(point.positions) != n_joints:
            raise ConversionError(f"trajectory point {i} has {len(point.positions)} positions for {n_joints} joints")
        positions[i] = point.positions
        times[i] = point.time_from_start.sec * _NS + point.time_from_start.nanosec
    return {"joint_names": list(msg.joint_names), "positions": positions,
            "times_from_start_ns": times, "stamp_ns": stamp_to_ns(msg.header.stamp)}


def array_to_multiarray(values: np.ndarray, labels: Sequence[str] = ()) -> Float64MultiArray:
    """numpy array (any shape) -> Float64MultiArray with a row-major layout."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    msg = Float64MultiArray()
    stride = values.size
    for i, size in enumerate(values.shape):
        label = labels[i] if i < len(labels) else f"dim{i}"
        msg.layout.dim.append(MultiArrayDimension(label=label, size=int(size), stride=int(stride)))
        stride = stride // size if size else 0
    msg.data = values.reshape(-1)
    return msg


def multiarray_to_array(msg: Float64MultiArray) -> np.ndarray:
    data = np.frombuffer(msg.data, dtype=np.float64) if len(msg.data) else np.zeros(0)
    data = data[msg.layout.data_offset:]
    shape = tuple(d.size for d in msg.layout.dim)
    if not shape:
        return data
    if int(np.prod(shape)) != data.size:
        raise ConversionError(f"Float64MultiArray layout {shape} does not match {data.size} values")
    return data.reshape(shape)
