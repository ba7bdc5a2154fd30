"""Latency statistics and frame-gap detection used by the monitor and the benches."""
from __future__ import annotations

import math

import numpy as np

from robot_rl.stats import SampleRecorder, summarize_ns


def test_ring_keeps_the_most_recent_samples():
    rec = SampleRecorder(capacity=4)
    for v in range(10):
        rec.add(v)
    assert rec.count == 10
    assert sorted(rec.values().tolist()) == [6, 7, 8, 9]
    assert rec.recent(3).tolist() == [7, 8, 9]
    assert rec.recent(100).tolist() == [6, 7, 8, 9]
    few = SampleRecorder(capacity=8)
    few.add(5)
    assert few.recent(3).tolist() == [5]


def test_summary_in_microseconds():
    s = summarize_ns(np.array([1000, 2000, 3000, 100_000], dtype=np.int64))
    assert s["p50_us"] == 2.5 and s["max_us"] == 100.0 and s["mean_us"] == 26.5
    assert 90 < s["p99_us"] < 100
    assert all(math.isnan(v) for v in summarize_ns(np.zeros(0, np.int64)).values())


def test_missing_frames_finds_start_middle_and_end_gaps():
    from ros_nodes.topic_monitor import missing_frames

    assert missing_frames([2, 3, 5, 6], expected=8) == [0, 1, 4, 7]
    assert missing_frames(list(range(5)), expected=5) == []
    assert missing_frames([0, 1, 9], expected=0) == list(range(2, 9))
