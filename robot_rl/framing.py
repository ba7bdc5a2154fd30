"""One byte string that carries a JSON header and a body, for what crosses hosts by value (a policy:
robot_rl.policy.transfer; an episode: robot_rl.store.replica). No pickle:

    MAGIC, the header's length (4 bytes, big-endian), the header (UTF-8 JSON), the body (the rest)
"""
from __future__ import annotations

import json
import struct
from typing import Any


def frame(magic: bytes, header: Any, body: bytes) -> bytes:
    head = json.dumps(header).encode()
    return magic + struct.pack(">I", len(head)) + head + body


def unframe(payload: bytes, magic: bytes, max_header: int, what: str, error: type[Exception]) -> tuple[Any, bytes]:
    """(header, body) of a framed payload; `error` naming `what` if the framing or the JSON is off."""
    if not payload.startswith(magic):
        raise error(f"not a robot_rl {what} payload (bad header)")
    at = len(magic)
    if len(payload) < at + 4:
        raise error(f"{what} payload truncated in its header")
    (n,) = struct.unpack(">I", payload[at:at + 4])
    if n > max_header or len(payload) < at + 4 + n:
        raise error(f"{what} payload: a header of {n} bytes does not fit in {len(payload)}")
    try:
        header = json.loads(payload[at + 4:at + 4 + n].decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise error(f"{what} payload: its header is not JSON") from None
    return header, payload[at + 4 + n:]
