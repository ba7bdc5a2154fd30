"""A TCP front for a local WebSocket server that refuses browsers from other sites.

A WebSocket server on localhost is reachable from any page a browser on this machine opens (a
browser does not apply the same-origin policy to WebSockets; it only sends the page's Origin). The
foxglove-sdk server takes every connection, so the live view serves it on an internal loopback
port and puts this gate on the public one: it reads the HTTP upgrade request, answers 403 to an
Origin not on the allow-list, and otherwise pipes the connection through unchanged. Clients that
send no Origin (native apps, scripts) are let through: the Origin header only guards browsers.
"""
from __future__ import annotations

import socket
import threading
from typing import Optional
from urllib.parse import urlsplit

MAX_HEADER = 16 * 1024
DEFAULT_ORIGINS = ("https://app.foxglove.dev", "http://localhost", "http://127.0.0.1", "https://localhost",
                   "https://127.0.0.1", "file://")


def origin_allowed(origin: Optional[str], allowed: list[str]) -> bool:
    """An allow-list entry matches an origin's scheme and host, any port ("*" allows all)."""
    if origin is None or "*" in allowed:
        return True
    got = urlsplit(origin.strip().lower())
    for entry in allowed:
        want = urlsplit(entry.strip().lower())
        if got.scheme == want.scheme and (got.hostname or "") == (want.hostname or "") and \
                (want.port is None or got.port == want.port):
            return True
    return False


def _origin(header: bytes) -> Optional[str]:
    for line in header.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"origin":
            return value.strip().decode("latin-1")
    return None


class OriginGate:
    """Listens on host:port and forwards allowed connections to 127.0.0.1:upstream_port."""

    def __init__(self, host: str, port: int, upstream_port: int, allowed: list[str]) -> None:
        self.upstream_port, self.allowed = upstream_port, list(allowed)
        self.sock = socket.create_server((host, port), reuse_port=False)
        self.port = self.sock.getsockname()[1]
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True, name="origin_gate")
        self._thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5.0)
        header = b""
        try:
            while b"\r\n\r\n" not in header and len(header) < MAX_HEADER:
                chunk = conn.recv(4096)
                if not chunk:
                    conn.close()
                    return
                header += chunk
        except OSError:
            conn.close()
            return
        origin = _origin(header.split(b"\r\n\r\n", 1)[0])
        if not origin_allowed(origin, self.allowed):
            self.refused += 1
            body = f"origin {origin} is not allowed (live view allowed_origins)\n".encode()
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            conn.close()
            return
        try:
            up = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5.0)
        except OSError:
            conn.close()
            return
        conn.settimeout(None)
        up.settimeout(None)
        up.sendall(header)
        threading.Thread(target=_pipe, args=(up, conn), daemon=True).start()
        _pipe(conn, up)

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(timeout=1.0)


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
