"""The Zarr episode store: schema v1, crash-safe streaming writer, reader, learner sampler.

See docs/DATA_FORMAT.md for the on-disk layout and the durability protocol.
"""
from robot_rl.store.reader import Episode, EpisodeStore
from robot_rl.store.sampler import TransitionSampler
from robot_rl.store.schema import (CameraCalibration, RobotDescription, StepSpec, StoreError, StoreSpec,
                                   StreamSpec)
from robot_rl.store.writer import CommitResult, StoreWriter, WriterBackpressure, WriterConfig, WriterStats

__all__ = ["CameraCalibration", "CommitResult", "Episode", "EpisodeStore", "RobotDescription", "StepSpec",
           "StoreError", "StoreSpec", "StoreWriter", "StreamSpec", "TransitionSampler", "WriterBackpressure",
           "WriterConfig", "WriterStats"]
