"""Cameras, ROS-free (as LeRobot's Camera abstraction): open, read frames with their timestamps,
close. The camera node (ros_nodes/camera_node.py) publishes what read() returns.

- RealSenseCamera (pyrealsense2): a device picked by serial, color + optional depth, optional
  depth-to-color alignment, the device's timestamps with their domain (hardware clock, system
  time or global time), frame drops counted from the frame numbers, intrinsics from the device.
- OpenCVCamera: a UVC device by index or /dev/video path, or a video file (played at its own rate);
  timestamps measured when the frame is grabbed; drops counted from gaps in those times.
- ReplayCamera: an rgb stream of a recorded episode store, played in real time with the recorded
  spacing, frames bit-exact (for tests, and for running a graph without hardware).
In the simulator, the simulator node renders and publishes the cameras itself.

Timestamps are wall-clock nanoseconds (ROS's stamp convention) unless a device's hardware clock
says otherwise (Frame.clock names the domain).
"""
from __future__ import annotations

import dataclasses
import pathlib
import time
from typing import Optional

import numpy as np


class CameraError(RuntimeError):
    """A camera that cannot be used as asked; str() is one line a user can act on."""


@dataclasses.dataclass
class Frame:
    color: np.ndarray                   # H x W x 3 uint8 RGB
    stamp_ns: int                       # capture time
    clock: str                          # "system_time", "hardware_clock", "global_time", "measured", "replay"
    number: int                         # frame counter (device's, or ours)
    depth: Optional[np.ndarray] = None  # H x W uint16 (device units, see depth_scale)


@dataclasses.dataclass
class Intrinsics:
    width: int
    height: int
    K: np.ndarray
    distortion: list[float] = dataclasses.field(default_factory=list)


class Camera:
    """read() blocks until the next frame (or raises CameraError); drops counts frames lost."""

    def __init__(self) -> None:
        self.drops = 0
        self.frames = 0

    def read(self) -> Frame:
        raise NotImplementedError

    def intrinsics(self) -> Optional[Intrinsics]:
        return None

    def close(self) -> None:
        pass


# --- RealSense ------------------------------------------------------------------------------------
def list_realsense() -> list[dict[str, str]]:
    """Connected RealSense devices: serial, name, firmware, USB type."""
    import pyrealsense2 as rs

    out = []
    for dev in rs.context().query_devices():
        def info(key, d=dev):
            return d.get_info(key) if d.supports(key) else ""
        out.append({"serial": info(rs.camera_info.serial_number), "name": info(rs.camera_info.name),
                    "firmware": info(rs.camera_info.firmware_version), "usb": info(rs.camera_info.usb_type_descriptor)})
    return out


@dataclasses.dataclass
class RealSenseSettings:
    serial: str = ""          # "" = the only connected device
    width: int = 640
    height: int = 480
    fps: int = 30
    depth: bool = False
    align_depth: bool = True  # depth resampled onto the color image's pixels

    def validate(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.fps <= 0:
            raise ValueError("width, height and fps must be > 0")


def realsense_config(settings: RealSenseSettings, serial: str):
    """The pyrealsense2 config for these settings (split out: testable without a device)."""
    import pyrealsense2 as rs

    cfg = rs.config()
    cfg.enable_device(serial)
    cfg.enable_stream(rs.stream.color, settings.width, settings.height, rs.format.rgb8, settings.fps)
    if settings.depth:
        cfg.enable_stream(rs.stream.depth, settings.width, settings.height, rs.format.z16, settings.fps)
    return cfg


def pick_realsense(serial: str, devices: list[dict[str, str]]) -> str:
    if not devices:
        raise CameraError("no RealSense device connected (pyrealsense2 found 0 devices; check the USB cable and "
                          "that libusb-1.0 is installed)")
    serials = [d["serial"] for d in devices]
    if serial:
        if serial not in serials:
            raise CameraError(f"no RealSense with serial {serial} (connected: {', '.join(serials)})")
        return serial
    if len(serials) > 1:
        raise CameraError(f"{len(serials)} RealSense devices connected ({', '.join(serials)}): pick one by serial")
    return serials[0]


class RealSenseCamera(Camera):
    def __init__(self, settings: Optional[RealSenseSettings] = None) -> None:
        super().__init__()
        import pyrealsense2 as rs

        self.settings = s = settings or RealSenseSettings()
        s.validate()
        self.serial = pick_realsense(s.serial, list_realsense())
        self.pipeline = rs.pipeline()
        try:
            self.profile = self.pipeline.start(realsense_config(s, self.serial))
        except RuntimeError as exc:
            raise CameraError(f"RealSense {self.serial}: cannot start {s.width}x{s.height} at {s.fps} fps ({exc})") from None
        self.align = rs.align(rs.stream.color) if s.depth and s.align_depth else None
        self.depth_scale = (self.profile.get_device().first_depth_sensor().get_depth_scale() if s.depth else 0.0)
        self._last_number: Optional[int] = None

    def read(self) -> Frame:
        try:
            frames = self.pipeline.wait_for_frames(5000)
        except RuntimeError as exc:
            raise CameraError(f"RealSense {self.serial}: no frame in 5 s ({exc})") from None
        if self.align is not None:
            frames = self.align.process(frames)
        color = frames.get_color_frame()
        number = color.get_frame_number()
        if self._last_number is not None and number > self._last_number + 1:
            self.drops += number - self._last_number - 1
        self._last_number = number
        self.frames += 1
        domain = str(color.get_frame_timestamp_domain()).rsplit(".", 1)[-1]
        depth = None
        if self.settings.depth:
            depth = np.asanyarray(frames.get_depth_frame().get_data()).copy()
        return Frame(color=np.asanyarray(color.get_data()).copy(), stamp_ns=int(color.get_timestamp() * 1e6),
                     clock=domain, number=number, depth=depth)

    def intrinsics(self) -> Intrinsics:
        import pyrealsense2 as rs

        i = self.profile.get_stream(rs.stream.color).as_video_stream_profile().get_intrinsics()
        K = np.array([[i.fx, 0, i.ppx], [0, i.fy, i.ppy], [0, 0, 1]])
        return Intrinsics(i.width, i.height, K, list(i.coeffs))

    def close(self) -> None:
        self.pipeline.stop()


# --- OpenCV ---------------------------------------------------------------------------------------
class OpenCVCamera(Camera):
    def __init__(self, source: str, width: int = 0, height: int = 0, fps: float = 0.0) -> None:
        super().__init__()
        import cv2

        self.cv2 = cv2
        self.is_file = pathlib.Path(source).is_file()
        target: "int | str" = int(source) if source.isdigit() else source
        self.cap = cv2.VideoCapture(target)
        if not self.cap.isOpened():
            raise CameraError(f"OpenCV cannot open camera {source!r} (a device index, /dev/videoN or a video file)")
        if not self.is_file:
            if width and height:
                self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
                self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            if fps:
                self.cap.set(cv2.CAP_PROP_FPS, fps)
        self.fps = fps or self.cap.get(cv2.CAP_PROP_FPS) or 30.0
        self.period_ns = int(1e9 / self.fps)
        self._next = time.monotonic_ns()
        self._last_stamp: Optional[int] = None

    def read(self) -> Frame:
        if self.is_file:  # a file plays at its own rate
            delay = self._next - time.monotonic_ns()
            if delay > 0:
                time.sleep(delay / 1e9)
            self._next += self.period_ns
        ok, bgr = self.cap.read()
        stamp = time.time_ns()
        if not ok:
            raise CameraError("end of video" if self.is_file else "OpenCV camera stopped delivering frames")
        if self._last_stamp is not None and stamp - self._last_stamp > 1.5 * self.period_ns:
            self.drops += int(round((stamp - self._last_stamp) / self.period_ns)) - 1
        self._last_stamp = stamp
        self.frames += 1
        return Frame(color=self.cv2.cvtColor(bgr, self.cv2.COLOR_BGR2RGB), stamp_ns=stamp, clock="measured",
                     number=self.frames)

    def close(self) -> None:
        self.cap.release()


# --- replay ---------------------------------------------------------------------------------------
class ReplayCamera(Camera):
    """Plays an rgb stream of an episode store in real time (recorded spacing), bit-exact."""

    def __init__(self, store: str, stream: str, episode: int = -1, loop: bool = False) -> None:
        super().__init__()
        from robot_rl.store import EpisodeStore, StoreError

        try:
            self.store = EpisodeStore(store)
            spec = self.store.spec.stream(stream)
        except (StoreError, KeyError) as exc:
            raise CameraError(f"replay: {exc}") from None
        if spec.kind != "rgb":
            raise CameraError(f"replay: stream {stream} is {spec.kind}, not rgb")
        episodes = self.store.episodes() if episode < 0 else [self.store.episode(episode)]
        self.stream, self.loop = stream, loop
        self.index = np.concatenate([np.arange(*e.streams[stream]) for e in episodes]) if episodes else np.zeros(0, int)
        if not self.index.size:
            raise CameraError(f"replay: {store} has no {stream} frames")
        self.stamps = np.concatenate([self.store.stamps(e, stream) for e in episodes])
        self._k = 0
        self._t0_mono = self._t0_wall = None
        self._base = int(self.stamps[0])

    def read(self) -> Frame:
        if self._k >= self.index.size:
            if not self.loop:
                raise CameraError("end of replay")
            # the next pass continues the timeline, one recorded period after the last frame
            period = int(np.median(np.diff(self.stamps))) if self.stamps.size > 1 else 33_333_333
            self._base -= int(self.stamps[-1]) - int(self.stamps[0]) + period
            self._k = 0
        if self._t0_mono is None:
            self._t0_mono, self._t0_wall = time.monotonic_ns(), time.time_ns()
            self._base = int(self.stamps[self._k])
        offset = int(self.stamps[self._k]) - self._base
        delay = self._t0_mono + offset - time.monotonic_ns()
        if delay > 0:
            time.sleep(delay / 1e9)
        color = self.store.read_samples(self.stream, self.index[self._k:self._k + 1])[0]
        self._k += 1
        self.frames += 1
        return Frame(color=color, stamp_ns=self._t0_wall + offset, clock="replay", number=self._k)


class ResizedCamera(Camera):
    """Frames at the size a policy was trained on: a centre crop to the output's aspect ratio (no
    stretching), then an area resize (depth: nearest, so no invented distances). The intrinsics
    follow the crop and the scale, so calibration stays valid for the published images."""

    def __init__(self, camera: Camera, width: int, height: int) -> None:
        super().__init__()
        if width <= 0 or height <= 0:
            raise CameraError(f"output size must be positive, got {width}x{height}")
        self.camera, self.width, self.height = camera, width, height
        self._crop: Optional[tuple[int, int, int, int]] = None   # x0, y0, w, h in source pixels

    def _crop_for(self, w: int, h: int) -> tuple[int, int, int, int]:
        if self._crop is None:
            cw = min(w, round(h * self.width / self.height))
            ch = min(h, round(w * self.height / self.width))
            self._crop = ((w - cw) // 2, (h - ch) // 2, cw, ch)
        return self._crop

    def read(self) -> Frame:
        import cv2
        f = self.camera.read()
        self.frames, self.drops = self.camera.frames, self.camera.drops
        x0, y0, cw, ch = self._crop_for(f.color.shape[1], f.color.shape[0])
        size = (self.width, self.height)
        color = cv2.resize(np.ascontiguousarray(f.color[y0:y0 + ch, x0:x0 + cw]), size, interpolation=cv2.INTER_AREA)
        depth = None if f.depth is None else cv2.resize(np.ascontiguousarray(f.depth[y0:y0 + ch, x0:x0 + cw]), size,
                                                        interpolation=cv2.INTER_NEAREST)
        return dataclasses.replace(f, color=color, depth=depth)

    def intrinsics(self) -> Optional[Intrinsics]:
        intr = self.camera.intrinsics()
        if intr is None:
            return None
        x0, y0, cw, ch = self._crop_for(intr.width, intr.height)
        sx, sy = self.width / cw, self.height / ch
        K = np.array(intr.K, float).copy()
        K[0, 0], K[0, 2] = K[0, 0] * sx, (K[0, 2] - x0 + 0.5) * sx - 0.5
        K[1, 1], K[1, 2] = K[1, 1] * sy, (K[1, 2] - y0 + 0.5) * sy - 0.5
        return Intrinsics(self.width, self.height, K, list(intr.distortion))

    def close(self) -> None:
        self.camera.close()


def open_camera(backend: str, **kw) -> Camera:
    if backend == "realsense":
        return RealSenseCamera(RealSenseSettings(serial=kw.get("serial", ""), width=kw.get("width", 640),
                                                 height=kw.get("height", 480), fps=int(kw.get("fps", 30)),
                                                 depth=kw.get("depth", False), align_depth=kw.get("align_depth", True)))
    if backend == "opencv":
        return OpenCVCamera(kw.get("device", "0"), kw.get("width", 0), kw.get("height", 0), kw.get("fps", 0.0))
    if backend == "replay":
        return ReplayCamera(kw["store"], kw["stream"], kw.get("episode", -1), kw.get("loop", False))
    raise CameraError(f"unknown camera backend {backend!r} (realsense, opencv, replay; in the simulator the "
                      "sim_robot node publishes the cameras)")
