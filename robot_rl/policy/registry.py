"""The policy registry on disk: policies/<name>/<version>.onnx + <version>.json.

Each file is written to a temporary name, fsynced and renamed, ONNX first: a version exists once
its JSON does, so a reader never sees half a model. The JSON carries the ONNX file's sha256; loading
checks it (and a caller-supplied one, e.g. from /policy/update) before anything runs.
"""
from __future__ import annotations

import hashlib
import json
import pathlib
import re
import time
from typing import Optional

from robot_rl.durable_file import write_durably
from robot_rl.policy.spec import PolicyError, PolicyMetadata

_VERSION = re.compile(r"^v(\d{4,})$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
# The largest model load() reads: a policy for a robot arm is kilobytes to tens of megabytes; a
# gigabyte file is a mistake or an attack, and reading it would take the loader's memory with it.
MAX_MODEL_BYTES = 512 * 1024 * 1024
DEFAULT_ROOT = "policies"   # the registry's folder where none is named


def check_name(name: str) -> str:
    """A policy name is one plain directory name: letters, digits, _ . - (not '.' or '..'), so
    `policies/<name>` and `runs/<name>` stay where they are meant to be."""
    if not isinstance(name, str) or not _NAME.match(name) or name in (".", ".."):
        raise PolicyError(f"policy name {name!r}: use letters, digits, _ . - (one directory name)")
    return name


class PolicyRegistry:
    def __init__(self, root: str | pathlib.Path = DEFAULT_ROOT) -> None:
        self.root = pathlib.Path(root)

    def versions(self, name: str) -> list[str]:
        d = self.root / name
        if not d.is_dir():
            return []
        return sorted((p.stem for p in d.glob("v*.json") if _VERSION.match(p.stem)), key=lambda v: int(v[1:]))

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name)) if self.root.is_dir() else []

    def publish(self, onnx_bytes: bytes, meta: PolicyMetadata, parent: str = "", metrics: Optional[dict] = None) -> pathlib.Path:
        check_name(meta.name)
        d = self.root / meta.name
        d.mkdir(parents=True, exist_ok=True)
        existing = self.versions(meta.name)
        version = f"v{(int(existing[-1][1:]) + 1 if existing else 1):04d}"
        meta.version, meta.parent, meta.created_ns = version, parent, time.time_ns()
        meta.sha256 = hashlib.sha256(onnx_bytes).hexdigest()
        meta.metrics = dict(metrics or {})
        write_durably(d / f"{version}.onnx", onnx_bytes)
        write_durably(d / f"{version}.json", json.dumps(meta.to_json(), indent=1).encode())
        return d / f"{version}.onnx"

    def put(self, onnx_bytes: bytes, meta: PolicyMetadata) -> pathlib.Path:
        """Write a version made elsewhere (robot_rl.policy.transfer) under its own name and version,
        ONNX first as publish does. Writing a version again with the same bytes is a no-op; with
        other bytes it is refused (a version never changes)."""
        check_name(meta.name)
        if not _VERSION.match(meta.version):
            raise PolicyError(f"policy {meta.name}: version {meta.version!r} is not vNNNN")
        if not meta.sha256 or hashlib.sha256(onnx_bytes).hexdigest() != meta.sha256:
            raise PolicyError(f"policy {meta.name}/{meta.version}: the model's sha256 is not its metadata's")
        d = self.root / meta.name
        path = d / f"{meta.version}.onnx"
        if meta.version in self.versions(meta.name):
            held = json.loads(path.with_suffix(".json").read_text()).get("sha256", "")
            if held == meta.sha256:
                return path
            raise PolicyError(f"policy {meta.name}/{meta.version} is already in {self.root} with other bytes "
                              f"({held[:12]}...); a version never changes")
        d.mkdir(parents=True, exist_ok=True)
        write_durably(path, onnx_bytes)
        write_durably(path.with_suffix(".json"), json.dumps(meta.to_json(), indent=1).encode())
        return path

    def resolve(self, ref: str) -> pathlib.Path:
        """'name' (latest), 'name/vNNNN', or a path to an .onnx file inside this registry's root.

        Anything else is refused: a path outside the root (after resolving symlinks and `..`), a
        name that is not a plain directory name. A process that can publish /policy/update can
        then only point the control node at models in the registry it was configured with."""
        p = pathlib.Path(ref)
        if p.suffix == ".onnx":
            root = self.root.resolve()
            real = p.resolve()
            if not real.is_relative_to(root):
                raise PolicyError(f"{ref}: outside the policy registry {self.root} (resolves to {real}); "
                                  "only models inside it are loaded")
            return real
        name, _, version = ref.partition("/")
        if not _NAME.match(name) or name in (".", "..") or (version and not _VERSION.match(version)):
            raise PolicyError(f"{ref!r}: not a policy reference (use NAME, NAME/vNNNN or a .onnx file "
                              f"inside {self.root})")
        versions = self.versions(name)
        if not versions:
            raise PolicyError(f"no policy {name!r} in {self.root}")
        version = version or versions[-1]
        if version not in versions:
            raise PolicyError(f"policy {name} has no version {version} (has {', '.join(versions)})")
        return self.root / name / f"{version}.onnx"


def load(path: str | pathlib.Path, expected_sha256: str = "",
         max_bytes: int = MAX_MODEL_BYTES) -> tuple[bytes, PolicyMetadata]:
    """The model bytes and metadata, with every check that can fail before a model runs. The
    file's size is checked against max_bytes before it is read."""
    path = pathlib.Path(path)
    meta_path = path.with_suffix(".json")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise PolicyError(f"{path}: {size:,} bytes is over the limit for a model ({max_bytes:,} bytes, "
                              f"{max_bytes / 2**20:g} MiB); not read")
        data = path.read_bytes()
        meta = PolicyMetadata.from_json(json.loads(meta_path.read_text()))
    except FileNotFoundError as exc:
        raise PolicyError(f"{exc.filename}: not found") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot be read ({exc.__class__.__name__})") from None
    except json.JSONDecodeError:
        raise PolicyError(f"{meta_path}: metadata is not valid JSON") from None
    digest = hashlib.sha256(data).hexdigest()
    if meta.sha256 and digest != meta.sha256:
        raise PolicyError(f"{path}: sha256 {digest[:12]}... does not match its metadata ({meta.sha256[:12]}...): "
                          "the file is truncated or changed")
    if expected_sha256 and digest != expected_sha256:
        raise PolicyError(f"{path}: sha256 {digest[:12]}... is not the announced {expected_sha256[:12]}...")
    return data, meta
