"""Policies: torch models, ONNX export with parity checks, the on-disk registry and the runtime."""
from robot_rl.policy.spec import ActionSpec, ObsSpec, PolicyError, PolicyMetadata, ResidualSpec

__all__ = ["ActionSpec", "ObsSpec", "PolicyError", "PolicyMetadata", "ResidualSpec"]
