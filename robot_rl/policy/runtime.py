"""Running an exported policy: an onnxruntime session checked against the robot's spec, warmed up.
A residual policy is one graph composed with its base by the learner (robot_rl.learn.deploy); it
also outputs `base_action`, kept as `last_base` for the step record. A chunked policy
(meta.action_chunk > 1) outputs its next K actions; the runtime returns their temporal ensemble
(robot_rl.policy.chunking), so it must be called once per control step at the policy's
control_hz, and reset() where the steps break (a hold, a new episode)."""
from __future__ import annotations

import pathlib
from typing import Any, Callable, Optional

import numpy as np

from robot_rl.policy import registry
from robot_rl.policy.chunking import TemporalEnsemble
from robot_rl.policy.ort import session
from robot_rl.policy.spec import ObsSpec, PolicyError, PolicyMetadata, RobotRef

_ORT_TYPES = {"tensor(float)": "float32", "tensor(uint8)": "uint8"}


class PolicyRuntime:
    def __init__(self, onnx_bytes: bytes, meta: PolicyMetadata, expected_obs: Optional[list[ObsSpec]] = None,
                 expected_action_dim: Optional[int] = None, warmup: int = 10,
                 run_between: Optional[Callable[[Callable[[], Any]], Any]] = None,
                 robot: Optional[RobotRef] = None) -> None:
        """`robot`: the robot this runs on; a policy made for another robot or command mode is
        refused (robot_rl.policy.spec.RobotRef). run_between(fn) runs fn when it may hold the CPU and the GIL: onnxruntime holds the GIL
        while it builds a session (~1.5 ms MLP, ~5 ms CNN here), so a running control loop passes a
        gate that runs it right after a tick (ControlNode). Default: now."""
        call = run_between or (lambda fn: fn())
        if meta.kind != "policy":
            raise PolicyError(f"{meta.name}/{meta.version} is a {meta.kind} model, not a policy")
        self.meta = meta
        if robot is not None:
            meta.robot.check(f"{meta.name}/{meta.version}", robot)
        self.sess = call(lambda: session(onnx_bytes))
        inputs = {i.name: i for i in self.sess.get_inputs()}
        for o in meta.obs:  # the graph must be what its metadata says
            i = inputs.get(o.name)
            if i is None or list(i.shape[1:]) != list(o.shape) or _ORT_TYPES.get(i.type) != o.dtype:
                raise PolicyError(f"model input {o.name!r} does not match its metadata ({o.shape} {o.dtype})")
        if expected_obs is not None:  # and what this robot provides
            want = {o.name: (list(o.shape), o.dtype) for o in expected_obs}
            have = {o.name: (list(o.shape), o.dtype) for o in meta.obs}
            if want != have:
                raise PolicyError(f"policy {meta.name}/{meta.version} expects observations {have}, the robot provides {want}")
        if expected_action_dim is not None and meta.action.dim != expected_action_dim:
            raise PolicyError(f"policy {meta.name}/{meta.version} outputs {meta.action.dim} actions, the robot takes "
                              f"{expected_action_dim}")
        self.names = [o.name for o in meta.obs]
        # a residual composed with its base in one graph also outputs the base's action
        self.outputs = ["action"] + (["base_action"] if any(o.name == "base_action" for o in self.sess.get_outputs()) else [])
        self.last_base: Optional[np.ndarray] = None
        self.ensemble: Optional[TemporalEnsemble] = None
        if meta.action_chunk > 1:
            if "action_chunk" not in {o.name for o in self.sess.get_outputs()}:
                raise PolicyError(f"policy {meta.name}/{meta.version} says action_chunk {meta.action_chunk} "
                                  "but its graph has no action_chunk output")
            self.outputs = ["action_chunk"]
            self.ensemble = TemporalEnsemble(meta.action_chunk, meta.chunk_decay)
        self._reset_pending = False
        self.low = np.asarray(meta.action.low, np.float32)
        self.high = np.asarray(meta.action.high, np.float32)
        self._check_outputs()
        zero = {o.name: np.zeros((1, *o.shape), dtype=o.dtype) for o in meta.obs}
        for _ in range(warmup):  # first runs allocate; do it before the control loop needs them
            out = call(lambda: self.sess.run(self.outputs, zero))
        self._check_run(out if warmup else call(lambda: self.sess.run(self.outputs, zero)))

    def _check_outputs(self) -> None:
        """Every output the runtime reads must be what the metadata says: name, float32, and its
        shape per sample ([A], or [K, A] for a chunk) where the graph states it."""
        a = self.meta.action.dim
        want = {"action": [a], "base_action": [a], "action_chunk": [self.meta.action_chunk, a]}
        graph = {o.name: o for o in self.sess.get_outputs()}
        if "action" not in graph:
            raise PolicyError(f"policy {self.version}: the graph has no `action` output "
                              f"(outputs: {', '.join(graph) or 'none'})")
        for name in self.outputs + (["action"] if "action" not in self.outputs else []):
            o = graph[name]
            dims = list(o.shape[1:]) if o.shape else []
            if o.type != "tensor(float)":
                raise PolicyError(f"policy {self.version}: output {name!r} is {o.type}, not float32")
            if len(dims) != len(want[name]) or any(isinstance(d, int) and d != w for d, w in zip(dims, want[name])):
                raise PolicyError(f"policy {self.version}: output {name!r} has shape {dims} per sample, "
                                  f"its metadata says {want[name]}")

    def _check_run(self, out: list[np.ndarray]) -> None:
        """One inference on a zero observation gave outputs of the declared shapes, all finite."""
        a = self.meta.action.dim
        for name, value in zip(self.outputs, out):
            want = (1, self.meta.action_chunk, a) if name == "action_chunk" else (1, a)
            value = np.asarray(value)
            if value.shape != want:
                raise PolicyError(f"policy {self.version}: output {name!r} on a zero observation has shape "
                                  f"{list(value.shape[1:])}, its metadata says {list(want[1:])}")
            if not np.all(np.isfinite(value)):
                raise PolicyError(f"policy {self.version}: output {name!r} on a zero observation is not finite")

    def reset(self) -> None:
        """The steps broke (a hold, a new episode): a chunked policy forgets its earlier chunks.
        Safe from another thread: the calling thread applies it before its next step."""
        self._reset_pending = True

    @classmethod
    def from_file(cls, path: str | pathlib.Path, expected_sha256: str = "",
                  max_bytes: int = registry.MAX_MODEL_BYTES, **kwargs) -> "PolicyRuntime":
        data, meta = registry.load(path, expected_sha256, max_bytes=max_bytes)
        return cls(data, meta, **kwargs)

    @property
    def version(self) -> str:
        return f"{self.meta.name}/{self.meta.version}"

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        feed = {n: np.asarray(obs[n])[None] for n in self.names}
        out = self.sess.run(self.outputs, feed)
        if self.ensemble is not None:
            if self._reset_pending:
                self._reset_pending = False
                self.ensemble.reset()
            return self.ensemble(out[0][0]).astype(np.float32)
        if len(out) > 1:
            self.last_base = out[1][0]
        return out[0][0]
