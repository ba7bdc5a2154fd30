"""The policy registry on disk: policies/<name>/<version>.onnx + <version>.json.

Each file is written to a temporary name, fsynced and renamed, ONNX first: a version exists once
its JSON does, so a reader never sees half a model. The JSON carries the ONNX file's sha256; loading
checks it (and a caller-supplied one, e.g. from /policy/update) before anything runs.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import time
from typing import Optional

from robot_rl.policy.spec import PolicyError, PolicyMetadata

_VERSION = re.compile(r"^v(\d{4,})$")


def _atomic_write(path: pathlib.Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PolicyRegistry:
    def __init__(self, root: str | pathlib.Path = "policies") -> None:
        self.root = pathlib.Path(root)

    def versions(self, name: str) -> list[str]:
        d = self.root / name
        if not d.is_dir():
            return []
        return sorted((p.stem for p in d.glob("v*.json") if _VERSION.match(p.stem)), key=lambda v: int(v[1:]))

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name)) if self.root.is_dir() else []

    def publish(self, onnx_bytes: bytes, meta: PolicyMetadata, parent: str = "", metrics: Optional[dict] = None) -> pathlib.Path:
        if not re.match(r"^[A-Za-z0-9_.-]+$", meta.name):
            raise PolicyError(f"policy name {meta.name!r}: use letters, digits, _ . -")
        d = self.root / meta.name
        d.mkdir(parents=True, exist_ok=True)
        existing = self.versions(meta.name)
        version = f"v{(int(existing[-1][1:]) + 1 if existing else 1):04d}"
        meta.version, meta.parent, meta.created_ns = version, parent, time.time_ns()
        meta.sha256 = hashlib.sha256(onnx_bytes).hexdigest()
        meta.metrics = dict(metrics or {})
        _atomic_write(d / f"{version}.onnx", onnx_bytes)
        _atomic_write(d / f"{version}.json", json.dumps(meta.to_json(), indent=1).encode())
        return d / f"{version}.onnx"

    def resolve(self, ref: str) -> pathlib.Path:
        """'name' (latest), 'name/vNNNN', or a path to an .onnx file."""
        p = pathlib.Path(ref)
        if p.suffix == ".onnx":
            return p
        name, _, version = ref.partition("/")
        versions = self.versions(name)
        if not versions:
            raise PolicyError(f"no policy {name!r} in {self.root}")
        version = version or versions[-1]
        if version not in versions:
            raise PolicyError(f"policy {name} has no version {version} (has {', '.join(versions)})")
        return self.root / name / f"{version}.onnx"


def load(path: str | pathlib.Path, expected_sha256: str = "") -> tuple[bytes, PolicyMetadata]:
    """The model bytes and metadata, with every check that can fail before a model runs."""
    path = pathlib.Path(path)
    meta_path = path.with_suffix(".json")
    try:
        data = path.read_bytes()
        meta = PolicyMetadata.from_json(json.loads(meta_path.read_text()))
    except FileNotFoundError as exc:
        raise PolicyError(f"{exc.filename}: not found") from None
    except json.JSONDecodeError:
        raise PolicyError(f"{meta_path}: metadata is not valid JSON") from None
    digest = hashlib.sha256(data).hexdigest()
    if meta.sha256 and digest != meta.sha256:
        raise PolicyError(f"{path}: sha256 {digest[:12]}... does not match its metadata ({meta.sha256[:12]}...): "
                          "the file is truncated or changed")
    if expected_sha256 and digest != expected_sha256:
        raise PolicyError(f"{path}: sha256 {digest[:12]}... is not the announced {expected_sha256[:12]}...")
    return data, meta
