"""A registry policy by value, for a control node on another machine than the learner (docs/
TWO_HOSTS.md): one byte string that carries the version's metadata JSON (with the model's sha256)
and its ONNX bytes, and the receiving side that checks it and writes it into its own registry
before the control node's usual checks load it. No pickle: a fixed header, JSON, raw bytes.

    payload = pack(path)                        # on the learner host, from its registry
    path = receive(PolicyRegistry(root), payload)   # on the robot host; PolicyError if anything is off

Layout (robot_rl.framing): MAGIC, the metadata JSON's length (4 bytes, big-endian), the metadata
JSON (UTF-8), the ONNX bytes (the rest).
"""
from __future__ import annotations

import hashlib
import pathlib

from robot_rl.framing import frame, unframe
from robot_rl.policy.registry import MAX_MODEL_BYTES, PolicyRegistry, load
from robot_rl.policy.spec import PolicyError, PolicyMetadata

MAGIC = b"robot_rl policy 1\n"
MAX_META_BYTES = 1 << 20


def pack(path: str | pathlib.Path) -> bytes:
    """A registry version (its .onnx path) as one payload; its sha256 is checked on the way."""
    data, meta = load(path)
    if not meta.sha256:
        raise PolicyError(f"{path}: its metadata has no sha256; only registry versions are sent")
    return frame(MAGIC, meta.to_json(), data)


def unpack(payload: bytes, max_bytes: int = MAX_MODEL_BYTES) -> tuple[bytes, PolicyMetadata]:
    """The ONNX bytes and metadata of a payload, its sha256 checked; PolicyError otherwise."""
    header, data = unframe(payload, MAGIC, MAX_META_BYTES, "policy", PolicyError)
    try:
        meta = PolicyMetadata.from_json(header)
    except PolicyError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise PolicyError(f"policy payload: its metadata is not valid ({exc})") from None
    if len(data) > max_bytes:
        raise PolicyError(f"policy payload: {len(data):,} bytes is over the limit for a model ({max_bytes:,})")
    if not meta.sha256 or hashlib.sha256(data).hexdigest() != meta.sha256:
        raise PolicyError(f"policy payload {meta.name}/{meta.version}: the model's sha256 is not its metadata's "
                          "(changed or truncated on the way)")
    return data, meta


def receive(registry: PolicyRegistry, payload: bytes, max_bytes: int = MAX_MODEL_BYTES) -> tuple[pathlib.Path, str]:
    """Check a payload and write it into `registry` (PolicyRegistry.put); (its .onnx path, sha256)."""
    data, meta = unpack(payload, max_bytes)
    return registry.put(data, meta), meta.sha256
