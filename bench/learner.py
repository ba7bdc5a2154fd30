"""Learner benchmark (first part, issue #7): SAC gradient updates per second at batch 256, state
only (the simulator's 17-value proprio, 5 actions), on this machine's CPU cores, for critic
ensembles of 2 and 10. One update = critic, actor and temperature steps and the target update.
Image observations and the store-to-live-policy latency come with the learner process.

    python bench/learner.py [--seconds 10] [--threads 2]
"""
from __future__ import annotations

import argparse
import time

import torch

from robot_rl.learn.sac import SAC, SACConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for ensemble, subset in ((2, 2), (10, 2)):
        sac = SAC(17, 5, SACConfig(ensemble=ensemble, target_subset=subset))
        b = args.batch
        batch = {"obs": torch.randn(b, 17), "action": torch.rand(b, 5) * 2 - 1, "ret": torch.randn(b),
                 "discount": torch.full((b,), 0.97), "next_obs": torch.randn(b, 17)}
        for _ in range(20):  # warm-up
            sac.update(batch)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            sac.update(batch)
            n += 1
        dt = time.perf_counter() - t0
        print(f"state-only, batch {b}, hidden 256x256, ensemble {ensemble} (target min of {subset}), "
              f"{args.threads} threads: {n / dt:.0f} updates/s ({1e3 * dt / n:.2f} ms per update)")


if __name__ == "__main__":
    main()
