"""Streaming statistics for latency and rate measurements (used by nodes, benches and the CLI)."""
from __future__ import annotations

import numpy as np


class SampleRecorder:
    """Fixed-capacity buffer of int64 samples (e.g. latencies in ns); no allocation per sample.
    When full, keeps the most recent `capacity` samples (a ring)."""

    def __init__(self, capacity: int = 1 << 20):
        self._buf = np.zeros(int(capacity), dtype=np.int64)
        self.count = 0  # samples ever added

    def add(self, value: int) -> None:
        self._buf[self.count % self._buf.shape[0]] = value
        self.count += 1

    def values(self) -> np.ndarray:
        n = min(self.count, self._buf.shape[0])
        return self._buf[:n].copy()

    def recent(self, n: int) -> np.ndarray:
        """The last n samples (fewer if fewer were added), oldest first."""
        cap = self._buf.shape[0]
        n = min(n, self.count, cap)
        idx = (np.arange(self.count - n, self.count)) % cap
        return self._buf[idx]


def summarize_ns(samples_ns: np.ndarray) -> dict[str, float]:
    """p50/p99/max/mean of a nanosecond sample array, in microseconds."""
    if samples_ns.size == 0:
        return {"p50_us": float("nan"), "p99_us": float("nan"), "max_us": float("nan"), "mean_us": float("nan")}
    p50, p99 = np.percentile(samples_ns, [50, 99])
    return {"p50_us": p50 / 1e3, "p99_us": p99 / 1e3, "max_us": float(samples_ns.max()) / 1e3,
            "mean_us": float(samples_ns.mean()) / 1e3}
