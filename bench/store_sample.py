"""Sampler benchmark: transitions/s at batch 256 with two 128x128 RGB cameras + proprioception, and
the memory the sampler holds per 100k transitions against the uint8 size of their frames.

Targets: >= 5,000 transitions/s on 2 cores; memory <= 2x the uint8 frame size.

    python bench/store_sample.py --transitions 20000
"""
from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from sim_frames import render_frames  # noqa: E402

from robot_rl.store import EpisodeStore, StepSpec, StoreSpec, StoreWriter, StreamSpec, TransitionSampler  # noqa: E402
from robot_rl.store.writer import WriterConfig  # noqa: E402

S, OBS, ACT, EP_LEN = 128, 14, 7, 200


def rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build(path: pathlib.Path, n: int) -> None:
    import cv2
    f = render_frames(150)
    cams = {k: np.stack([cv2.resize(x, (S, S), interpolation=cv2.INTER_AREA) for x in f[k]])
            for k in ("scene_rgb", "wrist_rgb")}
    spec = StoreSpec(streams=[StreamSpec(name=k, kind="rgb", shape=[S, S, 3], dtype="uint8", rate_hz=10, codec="zstd")
                              for k in cams] + [StreamSpec(name="joints", shape=[OBS], rate_hz=100)],
                     steps=StepSpec(obs_dim=OBS, action_dim=ACT))
    rng = np.random.default_rng(0)
    t, i = 0, 0
    with StoreWriter(path, spec, WriterConfig(fsync=False)) as w:
        while i < n:
            w.begin_episode(task="bench")
            m = min(EP_LEN, n - i)
            for k in range(m):
                t += 100_000_000
                idx = {c: w.append(c, cams[c][(i + k) % 150], sensor_ns=t) for c in cams}
                q = rng.standard_normal(OBS).astype(np.float32)
                idx["joints"] = w.append("joints", q, sensor_ns=t)
                w.append_step(q, rng.standard_normal(ACT), reward=float(k == m - 1), done=k == m - 1,
                              terminal=k == m - 1, intervention=bool(rng.random() < 0.1), sample_index=idx, t_ns=t)
            w.end_episode(success=True)
            i += m
            if (i // EP_LEN) % 20 == 0:
                print(f"  wrote {i}/{n} transitions", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--transitions", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--batches", type=int, default=300)
    args = ap.parse_args()
    root = pathlib.Path(tempfile.mkdtemp(prefix="sample_bench_", dir=pathlib.Path.cwd()))
    try:
        path = root / "s.zarr"
        t0 = time.perf_counter()
        build(path, args.transitions)
        build_s = time.perf_counter() - t0
        rss0 = rss_mb()
        t0 = time.perf_counter()
        sampler = TransitionSampler(EpisodeStore.open(path), seed=0, cache="all", memory_budget_mb=16000)
        load_s = time.perf_counter() - t0
        rss1 = rss_mb()
        n = len(sampler)
        sampler.sample(args.batch)  # warm
        t0 = time.perf_counter()
        for _ in range(args.batches):
            b = sampler.sample(args.batch)
        cached_rate = args.batches * args.batch / (time.perf_counter() - t0)
        assert b["images"]["scene_rgb"].dtype == np.uint8
        uint8_per_100k = 100_000 * 2 * S * S * 3
        held_per_100k = sampler.nbytes / n * 100_000
        rss_per_100k = (rss1 - rss0) * 1e6 / n * 100_000 if n else float("nan")
        lazy = TransitionSampler(EpisodeStore.open(path), seed=0, cache="none")
        t0 = time.perf_counter()
        for _ in range(5):
            lazy.sample(args.batch)
        lazy_rate = 5 * args.batch / (time.perf_counter() - t0)
        out = {"transitions": n, "build_s": round(build_s, 1), "load_s": round(load_s, 1),
               "cached_transitions_per_s": round(cached_rate), "uncached_transitions_per_s": round(lazy_rate),
               "uint8_frames_gb_per_100k": round(uint8_per_100k / 1e9, 2),
               "sampler_gb_per_100k": round(held_per_100k / 1e9, 2),
               "rss_gb_per_100k": round(rss_per_100k / 1e9, 2),
               "sampler_vs_uint8": round(held_per_100k / uint8_per_100k, 3),
               "rss_vs_uint8": round(rss_per_100k / uint8_per_100k, 3)}
        print(json.dumps(out))
        print(f"\n{n} transitions, batch {args.batch}: {cached_rate:,.0f} transitions/s cached in RAM, "
              f"{lazy_rate:,.0f}/s reading frames from the store; memory per 100k transitions: sampler "
              f"{held_per_100k / 1e9:.2f} GB, RSS {rss_per_100k / 1e9:.2f} GB vs uint8 frames {uint8_per_100k / 1e9:.2f} GB")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
