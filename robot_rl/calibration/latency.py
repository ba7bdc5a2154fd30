"""Sensor latency by cross-correlation: move the robot, see the motion in a camera and in the
joint encoders, and find the time shift that lines the two up (as UMI's latency scripts do).

The camera signal is motion energy (mean absolute difference of consecutive frames), the proprio
signal joint speed; both rise and fall with the motion, so no marker is needed. The lag is found on
a 1 ms grid with a parabolic fit around the correlation peak, so it is finer than a frame period.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from robot_rl.calibration.board import CalibrationError


@dataclasses.dataclass
class LatencyResult:
    lag_s: float            # how much later the second signal's stamps are than the first's
    peak_correlation: float
    samples: tuple[int, int]


def motion_energy(stamps_ns: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(stamps of frames 1.., mean |frame_k - frame_k-1|) for uint8 frames [n, H, W(, 3)]."""
    f = frames.astype(np.int16)
    energy = np.abs(np.diff(f, axis=0)).reshape(len(frames) - 1, -1).mean(axis=1)
    mid = (np.asarray(stamps_ns[1:], np.int64) + np.asarray(stamps_ns[:-1], np.int64)) // 2
    return mid, energy


def joint_speed(stamps_ns: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(stamps, |dq/dt| summed over joints) from joint positions [n, J]."""
    t = np.asarray(stamps_ns, np.int64)
    dq = np.abs(np.diff(np.asarray(q, np.float64).reshape(len(t), -1), axis=0)).sum(axis=1)
    dt = np.diff(t) / 1e9
    return (t[1:] + t[:-1]) // 2, dq / np.maximum(dt, 1e-9)


def estimate_lag(t_ref_ns: np.ndarray, ref: np.ndarray, t_sig_ns: np.ndarray, sig: np.ndarray,
                 max_lag_s: float = 0.5, grid_s: float = 0.001) -> LatencyResult:
    """The shift of `sig` against `ref` (positive: sig is stamped later than the motion it shows)."""
    if len(ref) < 10 or len(sig) < 10:
        raise CalibrationError("too few samples to measure latency: record at least a few seconds of motion")
    t0 = max(t_ref_ns[0], t_sig_ns[0]) / 1e9
    t1 = min(t_ref_ns[-1], t_sig_ns[-1]) / 1e9
    if t1 - t0 < 4 * max_lag_s:
        raise CalibrationError(f"the two recordings overlap for {max(t1 - t0, 0):.1f} s; need at least "
                               f"{4 * max_lag_s:.1f} s of common time with motion")
    grid = np.arange(t0, t1, grid_s)
    a = np.interp(grid, np.asarray(t_ref_ns) / 1e9, ref)
    b = np.interp(grid, np.asarray(t_sig_ns) / 1e9, sig)
    if a.std() < 1e-9 or b.std() < 1e-9:
        raise CalibrationError("no motion seen in one of the signals: move the robot through the camera's view "
                               "with starts and stops while recording")
    a = (a - a.mean()) / a.std()
    b = (b - b.mean()) / b.std()
    k = int(round(max_lag_s / grid_s))
    lags = np.arange(-k, k + 1)
    n = len(grid)
    corr = np.array([np.dot(a[max(0, -l):n - max(0, l)], b[max(0, l):n - max(0, -l)]) / (n - abs(l)) for l in lags])
    i = int(np.argmax(corr))
    frac = 0.0
    if 0 < i < len(corr) - 1:  # parabola through the peak and its neighbours
        y0, y1, y2 = corr[i - 1], corr[i], corr[i + 1]
        denom = y0 - 2 * y1 + y2
        frac = 0.5 * (y0 - y2) / denom if denom != 0 else 0.0
    if corr[i] < 0.5:
        raise CalibrationError(f"the camera and proprio signals correlate weakly (peak {corr[i]:.2f}): make sure the "
                               "moving arm fills part of the image and the camera sees nothing else move")
    return LatencyResult(lag_s=float((lags[i] + frac) * grid_s), peak_correlation=float(corr[i]),
                         samples=(len(ref), len(sig)))
