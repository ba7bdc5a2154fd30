"""Demonstration and session recording: episode lifecycle and step-to-sample alignment (ROS-free)."""
from robot_rl.control.step_row import StepRow
from robot_rl.record.recorder import END_EVENTS, EpisodeRecorder, EpisodeResult, status_line
from robot_rl.record.spec import RecordSpecConfig, record_store_spec

__all__ = ["END_EVENTS", "EpisodeRecorder", "EpisodeResult", "RecordSpecConfig", "StepRow", "record_store_spec",
           "status_line"]
