"""The live view node in its own process, watched through a real Foxglove WebSocket connection."""
from __future__ import annotations

import asyncio
import json
import struct

import websockets

from conftest import wait_exit


async def watch(port: int, topic: str, seen: dict, timeout: float = 60.0) -> None:
    """Connect as Foxglove does, wait until `topic` and /joint_states are advertised, subscribe to
    both, count their messages in `seen` (kept by the caller, so a failure can say how far it got)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            ws = await websockets.connect(f"ws://127.0.0.1:{port}", subprotocols=["foxglove.sdk.v1"])
            break
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
    topics: dict[str, int] = seen.setdefault("advertised", {})
    counts: dict[str, int] = seen.setdefault("messages", {})
    async with ws:
        while topic not in topics or "/joint_states" not in topics:
            msg = await asyncio.wait_for(ws.recv(), timeout)
            if isinstance(msg, str):
                for ch in json.loads(msg).get("channels", []):
                    topics[ch["topic"]] = ch["id"]
        # /joint_states too: if images stop but joint states flow, the failure points at the camera path
        subs = {1: topic, 2: "/joint_states"}
        await ws.send(json.dumps({"op": "subscribe", "subscriptions": [
            {"id": sub_id, "channelId": topics[name]} for sub_id, name in subs.items()]}))
        while counts.get(topic, 0) < 3:
            msg = await asyncio.wait_for(ws.recv(), timeout)
            if isinstance(msg, bytes) and msg[0] == 1:
                name = subs.get(struct.unpack_from("<I", msg, 1)[0])
                counts[name] = counts.get(name, 0) + 1


def test_live_view_streams_camera_images_and_joint_states_to_foxglove(procs, ros_domain):
    port = 20000 + ros_domain
    sim = procs.node("sim_robot", "sim", mode="realtime", control_hz=10.0, cameras="front")
    view = procs.node("live_view_node", "live_view", port=port, cameras="front")
    seen: dict = {}
    try:
        asyncio.run(watch(port, "/camera/front", seen))
    except (TimeoutError, asyncio.TimeoutError, OSError) as exc:
        logs = "\n".join(f"--- {p.log_path.name} (exit {p.poll()}):\n{p.log_path.read_text(errors='replace')[-2000:]}"
                         for p in (sim, view))
        raise AssertionError(f"live view stalled ({exc!r}); advertised {sorted(seen.get('advertised', {}))}, "
                             f"messages {seen.get('messages', {})}\n{logs}") from exc
    assert {"/camera/front", "/joint_states"} <= set(seen["advertised"])
    assert seen["messages"]["/camera/front"] >= 3
    for p in (view, sim):
        p.send_signal(2)
        assert wait_exit(p, 30) == 0, p.log_path.read_text()[-2000:]


def test_live_view_refuses_browsers_from_other_sites():
    """A page from another site in a browser on this machine must not read the robot's streams;
    the Foxglove app, pages on this machine and clients without an Origin (native) connect."""
    import pytest

    from websockets.exceptions import InvalidStatus

    from robot_rl.live_view import LiveView

    async def connect(port: int, origin):
        kw = {"origin": origin} if origin else {}
        async with websockets.connect(f"ws://127.0.0.1:{port}", subprotocols=["foxglove.sdk.v1"], **kw) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
            return hello["op"]

    view = LiveView(port=0)
    try:
        for origin in ("https://evil.example", "http://localhost.evil.example", "null"):
            with pytest.raises(InvalidStatus, match="403"):
                asyncio.run(connect(view.port, origin))
        for origin in (None, "https://app.foxglove.dev", "http://localhost:8080", "http://127.0.0.1:3000"):
            assert asyncio.run(connect(view.port, origin)) == "serverInfo", origin
        assert view.gate.refused == 3
    finally:
        view.close()
    view = LiveView(port=0, allowed_origins=["*"])   # the option to allow any
    try:
        assert asyncio.run(connect(view.port, "https://evil.example")) == "serverInfo"
    finally:
        view.close()
