"""Decoding serialized (CDR) messages straight into numpy, for the inputs of the control loop.

rclpy turns a taken message into Python objects field by field: ~95 us for a 7-joint JointState
here, ~220 us more when an executor dispatches it (docs/BENCHMARKS.md, control loop). The loop
takes its inputs raw and decodes only what it uses with struct/numpy (~10 us). Same results as
ros_nodes.convert on rclpy's messages (tests/test_cdr.py checks both against rclpy's serializer).

Layout (OMG CDR, as rmw serializes ROS 2 messages): 4-byte encapsulation header (0x00 0x01 =
little endian), then fields in order, each primitive aligned to its size relative to the end of
that header; strings are uint32 length (with the NUL) + bytes; sequences are uint32 count + items.
"""
from __future__ import annotations

import functools
import struct
from typing import Optional

import numpy as np

from ros_nodes.convert import IMAGE_ENCODINGS, ConversionError

_U32 = struct.Struct("<I")
_STAMP = struct.Struct("<iI")


def _decoder(fn):
    """A short or garbled buffer is a ConversionError, whatever part of it breaks."""
    @functools.wraps(fn)
    def wrapped(data, *args, **kwargs):
        try:
            return fn(data, *args, **kwargs)
        except (struct.error, ValueError, IndexError, UnicodeDecodeError) as exc:
            if isinstance(exc, ConversionError):
                raise
            raise ConversionError(f"{fn.__name__}: malformed message ({exc})") from None
    return wrapped


class CdrReader:
    __slots__ = ("buf", "pos")

    def __init__(self, data: bytes) -> None:
        if len(data) < 4 or data[1] != 1:  # 0x0001: CDR little endian; 0x0000 would be big endian
            raise ConversionError("not a little-endian CDR message")
        self.buf = data
        self.pos = 4

    def align(self, n: int) -> None:
        rel = self.pos - 4
        self.pos += (-rel) % n

    def u32(self) -> int:
        self.align(4)
        (v,) = _U32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return v

    def u8(self) -> int:
        v = self.buf[self.pos]
        self.pos += 1
        return v

    def stamp_ns(self) -> int:
        self.align(4)
        sec, nsec = _STAMP.unpack_from(self.buf, self.pos)
        self.pos += 8
        return sec * 1_000_000_000 + nsec

    def string(self) -> str:
        n = self.u32()
        s = self.buf[self.pos:self.pos + n - 1] if n else b""
        self.pos += n
        return s.decode()

    def skip_string(self) -> None:
        n = self.u32()
        self.pos += n

    def f64(self, count: int) -> np.ndarray:
        if count == 0:
            return np.zeros(0)
        self.align(8)
        out = np.frombuffer(self.buf, dtype="<f8", count=count, offset=self.pos)
        self.pos += 8 * count
        return out

    def f64_seq(self) -> np.ndarray:
        return self.f64(self.u32())

    def header(self) -> int:
        """-> stamp_ns (frame_id skipped)."""
        ns = self.stamp_ns()
        self.skip_string()
        return ns


@_decoder
def joint_state(data: bytes, names: bool = True) -> dict:
    """Serialized sensor_msgs/JointState -> the dict ros_nodes.convert.msg_to_joint_state gives
    ({names, position, velocity, effort, stamp_ns}); names=False skips decoding the names."""
    r = CdrReader(data)
    out: dict = {"stamp_ns": r.header()}
    n = r.u32()
    if names:
        out["names"] = [r.string() for _ in range(n)]
    else:
        for _ in range(n):
            r.skip_string()
    _joint_values(r, n, out)
    return out


def _joint_values(r: CdrReader, n: int, out: dict) -> None:
    """position, velocity, effort: each empty or one value per joint name."""
    for field in ("position", "velocity", "effort"):
        values = r.f64_seq()
        if values.size not in (0, n):
            raise ConversionError(f"JointState.{field} has {values.size} values for {n} joint names")
        out[field] = values


class JointOrder:
    """Where each of our joints is in a JointState's name list; recomputed only when the names change
    (JointStateDecoder hands back the same list object while they do not)."""

    def __init__(self, joints: list[str]) -> None:
        self.joints = list(joints)
        self.names: Optional[list[str]] = None
        self.index: Optional[np.ndarray] = None   # None while a joint of ours is missing

    def update(self, names: list[str]) -> bool:
        """Map this message's names; True if the layout changed (callers report a missing joint)."""
        if names is self.names or names == self.names:
            return False
        self.names = names
        try:
            self.index = np.array([names.index(j) for j in self.joints])
        except ValueError:
            self.index = None
        return True


class JointStateDecoder:
    """cdr.joint_state for a stream of messages: the names region is decoded once and afterwards
    only compared byte for byte (a robot sends the same names in every message)."""

    def __init__(self) -> None:
        self._at, self._raw, self._names = -1, b"", []

    def __call__(self, data: bytes) -> dict:
        return self._decode(data)

    @_decoder
    def _decode(self, data: bytes) -> dict:
        r = CdrReader(data)
        out: dict = {"stamp_ns": r.header()}
        start = r.pos
        if start == self._at and data.startswith(self._raw, start):
            r.pos = start + len(self._raw)
            out["names"] = self._names
        else:
            n = r.u32()
            names = [r.string() for _ in range(n)]
            self._at, self._raw, self._names = start, bytes(data[start:r.pos]), names
            out["names"] = names
        _joint_values(r, len(out["names"]), out)
        return out


@_decoder
def pose_stamped(data: bytes) -> tuple[np.ndarray, np.ndarray, int]:
    """Serialized geometry_msgs/PoseStamped -> (position xyz, quaternion xyzw, stamp_ns)."""
    r = CdrReader(data)
    ns = r.header()
    v = r.f64(7)
    return v[:3], v[3:], ns


@_decoder
def float64(data: bytes) -> float:
    """Serialized std_msgs/Float64 -> float."""
    r = CdrReader(data)
    return float(r.f64(1)[0])


@_decoder
def boolean(data: bytes) -> bool:
    """Serialized std_msgs/Bool -> bool."""
    return bool(CdrReader(data).u8())


@_decoder
def string(data: bytes) -> str:
    """Serialized std_msgs/String -> str."""
    return CdrReader(data).string()


@_decoder
def float64_multiarray(data: bytes) -> np.ndarray:
    """Serialized std_msgs/Float64MultiArray -> its data, flat (the layout's offset applied)."""
    r = CdrReader(data)
    for _ in range(r.u32()):  # layout.dim[]: label, size, stride
        r.skip_string()
        r.u32()
        r.u32()
    offset = r.u32()
    return r.f64_seq()[offset:]


@_decoder
def image(data: bytes) -> tuple[np.ndarray, int]:
    """Serialized sensor_msgs/Image -> (numpy view of the pixels, stamp_ns), as convert.msg_to_image."""
    r = CdrReader(data)
    ns = r.header()
    height, width = r.u32(), r.u32()
    encoding = r.string()
    bigendian = r.u8()
    step = r.u32()
    size = r.u32()
    if encoding not in IMAGE_ENCODINGS:
        raise ConversionError(f"unsupported image encoding {encoding!r}")
    dtype, channels = IMAGE_ENCODINGS[encoding]
    if bigendian and dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">")
    row = width * channels * dtype.itemsize
    if step < row or size != step * height or r.pos + size > len(data):
        raise ConversionError(f"image of {width}x{height} {encoding}: step {step} and {size} data bytes do not fit")
    flat = np.frombuffer(data, dtype=np.uint8, count=size, offset=r.pos).reshape(height, step)[:, :row]
    return flat.view(dtype).reshape((height, width, channels) if channels > 1 else (height, width)), ns
