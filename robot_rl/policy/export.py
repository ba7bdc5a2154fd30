"""Export a torch policy to ONNX with its metadata, and check parity with onnxruntime.

Every export runs the parity check (torch vs onnxruntime on random and, if given, recorded inputs,
max abs difference <= 1e-5); a model that fails it is never written."""
from __future__ import annotations

import io
import json
import warnings
from typing import Optional

import numpy as np
import onnx
import torch

from robot_rl.policy.ort import session
from robot_rl.policy.spec import METADATA_KEY, ObsSpec, PolicyError, PolicyMetadata

PARITY_TOL = 1e-5


def random_inputs(obs: list[ObsSpec], batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for o in obs:
        shape = (batch, *o.shape)
        out[o.name] = (rng.integers(0, 256, size=shape, dtype=np.uint8) if o.dtype == "uint8"
                       else rng.normal(0, 2, size=shape).astype(np.float32))
    return out


def output_names(meta: PolicyMetadata) -> list[str]:
    """A residual policy's graph also outputs its base policy's action (recorded per step); a
    reward classifier's one output is the success probability."""
    if meta.kind == "reward":
        return ["success"]
    if meta.action_chunk > 1:
        return ["action", "action_chunk"]
    return ["action", "base_action"] if meta.residual is not None else ["action"]


def to_onnx_bytes(model: torch.nn.Module, meta: PolicyMetadata) -> bytes:
    model = model.eval()
    example = random_inputs(meta.obs, 1, np.random.default_rng(0))
    args = tuple(torch.from_numpy(example[o.name]) for o in meta.obs)
    buf = io.BytesIO()
    # The TorchScript exporter (dynamo=False) warns that it is deprecated; the dynamo exporter needs
    # onnxscript, which we do not ship. Parity below is what tells us the graph is right.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outs = output_names(meta)
        torch.onnx.export(model, args, buf, input_names=[o.name for o in meta.obs], output_names=outs,
                          dynamic_axes={**{o.name: {0: "batch"} for o in meta.obs}, **{o: {0: "batch"} for o in outs}},
                          opset_version=17, dynamo=False)
    proto = onnx.load_from_string(buf.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta.to_json())
    return proto.SerializeToString()


def parity(model: torch.nn.Module, onnx_bytes: bytes, obs: list[ObsSpec], n: int = 64,
           recorded: Optional[dict[str, np.ndarray]] = None) -> float:
    """Max |torch - onnxruntime| over n random inputs and any recorded ones, over every output."""
    sess = session(onnx_bytes)
    batches = [random_inputs(obs, n, np.random.default_rng(1))]
    if recorded:
        batches.append({k: np.asarray(v) for k, v in recorded.items()})
    worst = 0.0
    model = model.eval()
    for feed in batches:
        with torch.no_grad():
            ref = model(*[torch.from_numpy(feed[o.name]) for o in obs])
        refs = [r.numpy() for r in (ref if isinstance(ref, tuple) else (ref,))]
        got = sess.run([o.name for o in sess.get_outputs()][:len(refs)], feed)
        if len(got) != len(refs):
            return float("inf")
        worst = max([worst] + [float(np.max(np.abs(r - g))) for r, g in zip(refs, got)])
    return worst


def export(model: torch.nn.Module, meta: PolicyMetadata, recorded: Optional[dict[str, np.ndarray]] = None) -> tuple[bytes, float]:
    """(ONNX bytes with metadata embedded, parity error); raises PolicyError if parity fails.
    A chunked policy (meta.action_chunk > 1) is exported with both its outputs."""
    if meta.action_chunk > 1:
        from robot_rl.policy.models import ChunkOutputs
        if getattr(getattr(model, "head", None), "chunk", None) != meta.action_chunk:
            raise PolicyError(f"metadata says action_chunk {meta.action_chunk}; the model does not predict that many")
        model = ChunkOutputs(model)
    onnx_bytes = to_onnx_bytes(model, meta)
    err = parity(model, onnx_bytes, meta.obs, recorded=recorded)
    if not err <= PARITY_TOL:
        raise PolicyError(f"parity check failed: torch and onnxruntime differ by {err:.3g} (> {PARITY_TOL:g})")
    return onnx_bytes, err
