"""The live view node in its own process, watched through a real Foxglove WebSocket connection."""
from __future__ import annotations

import asyncio
import json
import struct

import websockets

from conftest import wait_exit


async def watch(port: int, topic: str, timeout: float = 60.0) -> tuple[set, int]:
    """Connect as Foxglove does, wait until `topic` is advertised, subscribe, count its messages."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            ws = await websockets.connect(f"ws://127.0.0.1:{port}", subprotocols=["foxglove.sdk.v1"])
            break
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
    topics: dict[str, int] = {}
    async with ws:
        while topic not in topics or "/joint_states" not in topics:
            msg = await asyncio.wait_for(ws.recv(), timeout)
            if isinstance(msg, str):
                for ch in json.loads(msg).get("channels", []):
                    topics[ch["topic"]] = ch["id"]
        await ws.send(json.dumps({"op": "subscribe", "subscriptions": [{"id": 1, "channelId": topics[topic]}]}))
        got = 0
        while got < 3:
            msg = await asyncio.wait_for(ws.recv(), timeout)
            if isinstance(msg, bytes) and msg[0] == 1 and struct.unpack_from("<I", msg, 1)[0] == 1:
                got += 1
    return set(topics), got


def test_live_view_streams_camera_images_and_joint_states_to_foxglove(procs, ros_domain):
    port = 20000 + ros_domain
    sim = procs.node("sim_robot", "sim", mode="realtime", control_hz=10.0, cameras="front")
    view = procs.node("live_view_node", "live_view", port=port, cameras="front")
    topics, got = asyncio.run(watch(port, "/camera/front"))
    assert {"/camera/front", "/joint_states"} <= topics and got == 3
    for p in (view, sim):
        p.send_signal(2)
        assert wait_exit(p, 30) == 0, p.log_path.read_text()[-2000:]
