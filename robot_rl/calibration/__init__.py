"""Calibration: camera intrinsics, hand-eye and sensor latency, with a ChArUco board (docs/CALIBRATION.md)."""
from robot_rl.calibration.board import BoardSpec, CalibrationError

__all__ = ["BoardSpec", "CalibrationError"]
