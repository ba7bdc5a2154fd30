"""What the reward classifier costs on the robot: one SuccessDetector call (the control node's
classifier thread, beside the loop) on two cameras, in onnxruntime with one thread as the control
node runs it. The model is the architecture `robot-rl reward train` exports (untrained weights cost
the same).

    python bench/reward_classifier.py --sizes 64 128 --calls 500
"""
from __future__ import annotations

import argparse
import pathlib
import tempfile
import time

import numpy as np


def measure(size: int, calls: int, work: pathlib.Path) -> dict:
    import torch

    from robot_rl.control.success import SuccessDetector
    from robot_rl.learn.reward import SuccessClassifier
    from robot_rl.learn.config import RewardConfig
    from robot_rl.policy import ActionSpec, ObsSpec, PolicyMetadata
    from robot_rl.policy.export import export
    from robot_rl.policy.registry import PolicyRegistry

    torch.manual_seed(0)
    cams = [ObsSpec(c, [size, size, 3], "uint8") for c in ("front", "wrist")]
    model = SuccessClassifier(cams, RewardConfig()).eval()
    meta = PolicyMetadata(name=f"reward{size}", obs=cams, action=ActionSpec(["success"], [0.0], [1.0]), kind="reward")
    path = PolicyRegistry(work).publish(export(model, meta)[0], meta, metrics={"threshold": 0.5})
    det = SuccessDetector(path)
    rng = np.random.default_rng(0)
    frames = [{c.name: rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for c in cams} for _ in range(8)]
    for f in frames:
        det(f)   # warm-up
    t = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter_ns()
        det(frames[i % len(frames)])
        t[i] = time.perf_counter_ns() - t0
    ms = t / 1e6
    return {"size": size, "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "max_ms": float(ms.max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128], help="square frame sizes (default 64 128)")
    ap.add_argument("--calls", type=int, default=500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        for size in args.sizes:
            r = measure(size, args.calls, pathlib.Path(d))
            print(f"two {size}x{size} cameras: one classification p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
                  f"max {r['max_ms']:.2f} ms ({args.calls} calls, onnxruntime 1 thread)", flush=True)


if __name__ == "__main__":
    main()
