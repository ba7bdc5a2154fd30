"""A writer process for store tests: records deterministic episodes so a test can kill it at any
moment and then check every committed episode bit for bit.

    python tests/store_child.py STORE record   # begin/append/commit forever, printing COMMITTED lines
    python tests/store_child.py STORE follow N # commit N episodes slowly, printing commit wall times
    python tests/store_child.py STORE partial  # flush part of an episode, then die without committing
    python tests/store_child.py STORE begin    # begin an episode, then die with nothing durable
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from robot_rl.store import StepSpec, StoreSpec, StoreWriter, StreamSpec
from robot_rl.store.writer import WriterConfig

SPEC = StoreSpec(
    streams=[StreamSpec(name="cam", kind="rgb", shape=[24, 32, 3], dtype="uint8", rate_hz=30, codec="zstd"),
             StreamSpec(name="depth", kind="depth", shape=[24, 32], dtype="uint16", rate_hz=30, codec="lz4",
                        shard_chunks=8),
             StreamSpec(name="joints", kind="vector", shape=[7], dtype="float32", rate_hz=150,
                        chunk_samples=64, shard_chunks=4)],
    steps=StepSpec(obs_dim=7, action_dim=3, chunk_steps=32, shard_chunks=4))
JOINTS_PER_STEP = 5


def expected(seed: int) -> dict:
    """The full content of the episode recorded with `seed`."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(15, 60))
    t0 = 1_000_000_000 + seed % 1_000_000 * 1000
    cam = rng.integers(0, 256, size=(n, 24, 32, 3), dtype=np.uint8)
    depth = rng.integers(0, 4000, size=(n, 24, 32), dtype=np.uint16)
    joints = rng.standard_normal((n * JOINTS_PER_STEP, 7)).astype(np.float32)
    obs = rng.standard_normal((n, 7)).astype(np.float32)
    action = rng.standard_normal((n, 3)).astype(np.float32)
    cam_t = t0 + np.arange(n, dtype=np.int64) * 33_000_000
    joint_t = t0 + np.arange(n * JOINTS_PER_STEP, dtype=np.int64) * 6_600_000
    return {"n": n, "cam": cam, "depth": depth, "joints": joints, "obs": obs, "action": action,
            "cam_t": cam_t, "joint_t": joint_t, "intervention": rng.random(n) < 0.2,
            "reward": rng.random(n).astype(np.float32), "hold": rng.random(n) < 0.1}


def record_episode(writer: StoreWriter, seed: int, steps: int | None = None, pause_s: float = 0.0) -> None:
    e = expected(seed)
    writer.begin_episode(task=f"seed-{seed}", notes="store test")
    for i in range(e["n"] if steps is None else steps):
        ci = writer.append("cam", e["cam"][i], sensor_ns=int(e["cam_t"][i]), receive_ns=int(e["cam_t"][i]) + 1000)
        di = writer.append("depth", e["depth"][i], sensor_ns=int(e["cam_t"][i]), receive_ns=int(e["cam_t"][i]) + 2000)
        for k in range(JOINTS_PER_STEP):
            j = i * JOINTS_PER_STEP + k
            ji = writer.append("joints", e["joints"][j], sensor_ns=int(e["joint_t"][j]),
                               receive_ns=int(e["joint_t"][j]) + 500)
        writer.append_step(e["obs"][i], e["action"][i], human_action=e["action"][i] if e["intervention"][i] else None,
                           intervention=bool(e["intervention"][i]), reward=float(e["reward"][i]),
                           done=i == e["n"] - 1, terminal=i == e["n"] - 1, policy_version=seed % 7, hold=bool(e["hold"][i]),
                           sample_index={"cam": ci, "depth": di, "joints": ji}, t_ns=int(e["cam_t"][i]))
        if pause_s:
            time.sleep(pause_s)


def main() -> None:
    path, mode = sys.argv[1], sys.argv[2]
    # In `partial` mode only the explicit flush() may make data durable, so the test knows exactly what.
    writer = StoreWriter(path, SPEC, WriterConfig(flush_interval_s=60 if mode == "partial" else 0.2))
    print("OPEN", writer.committed_episodes, flush=True)
    if mode == "record":
        rng = np.random.default_rng(int.from_bytes(os.urandom(4), "little"))
        while True:
            seed = int(rng.integers(0, 2**31))
            record_episode(writer, seed, pause_s=0.002)
            res = writer.end_episode(success=bool(seed % 2))
            print("COMMITTED", res.episode, seed, flush=True)
    elif mode == "follow":
        for k in range(int(sys.argv[3])):
            time.sleep(0.3)
            record_episode(writer, 1000 + k)
            res = writer.end_episode()
            print("COMMITTED", res.episode, time.time_ns(), flush=True)
        writer.close()
    elif mode == "partial":
        record_episode(writer, 7, steps=10)
        writer.flush()
        print("FLUSHED", flush=True)
        tail = expected(7)  # one more sample after the flush: queued, never durable
        writer.append("cam", tail["cam"][10], sensor_ns=int(tail["cam_t"][10]))
        os._exit(0)
    elif mode == "begin":
        writer.begin_episode(task="nothing")
        os._exit(0)


if __name__ == "__main__":
    main()
