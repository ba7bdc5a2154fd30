"""Learner benchmark (issue #7; CUDA: issue #35), on this machine's CPU cores and GPU:

1. SAC gradient updates per second, on each of --devices (cpu, cuda: the same batch and networks),
   at batch 256, state only (the simulator's 17-value proprio, 5
   actions), critic ensembles of 2 and 10; and from two 128x128 cameras + proprio (the encoder
   shared by actor and critic, images pooled to 64x64, DrQ shifts). One update = critic (+
   encoder), actor and temperature steps and the target update.
2. A session's learner update (`--session`): what `robot-rl session` runs on pick_cube, its learner
   settings as they are (residual on a CNN BC base, the task's grasp head with its own batch, batch
   128), on a store of simulator episodes (expert demonstrations and corrected episodes), through
   Learner.update (sampling, the base's actions, the aux batch, the SAC step).
3. Committed episode -> live policy: a writer commits simulator episodes into a store the learner
   follows (refresh every 0.25 s, export every --export-every-s); per episode, the time until the
   learner has loaded it, until the first export trained on it is in the registry, and until that
   export is loaded, checked and warmed up by a PolicyRuntime (what the control node does before it
   swaps between two ticks; DDS delivery of the 100-byte /policy/update adds ~1 ms).

    python bench/learner.py [--seconds 10] [--threads 2] [--episodes 5]
    python bench/learner.py --devices cpu,cuda --episodes 0      # a GPU machine: updates/s on both
    python bench/learner.py --skip-updates --episodes 0 --session --threads 1   # the session's learner alone
"""
from __future__ import annotations

import argparse
import dataclasses
import pathlib
import shutil
import tempfile
import threading
import time

import numpy as np
import torch

from robot_rl.learn import device as devices
from robot_rl.learn.encoder import ObsEncoder
from robot_rl.learn.config import EncoderConfig, SACConfig
from robot_rl.learn.sac import SAC


def steps_per_s(step, seconds: float, device: torch.device = torch.device("cpu")) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(5):  # warm-up (on CUDA: kernels chosen, memory pooled)
        step()
    sync()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        n += 1
    sync()
    return n / (time.perf_counter() - t0)


def updates_per_s(sac: SAC, batch: dict, seconds: float) -> float:
    return steps_per_s(lambda: sac.update(batch), seconds, sac.device)


def bench_updates(args, device: torch.device) -> None:
    b = args.batch
    on = f"{devices.describe(device)}"
    print(f"--- {on}")
    torch.manual_seed(0)
    base = {"action": torch.rand(b, 5) * 2 - 1, "ret": torch.randn(b), "discount": torch.full((b,), 0.97)}
    for ensemble in (2, 10):
        sac = SAC(ObsEncoder(17), 5, SACConfig(ensemble=ensemble, target_subset=2), device=device)
        batch = {**base, "obs": {"proprio": torch.randn(b, 17)}, "next_obs": {"proprio": torch.randn(b, 17)}}
        rate = updates_per_s(sac, devices.to_device(batch, device), args.seconds)
        print(f"state-only, batch {b}, hidden 256x256, ensemble {ensemble} (target min of 2), {device.type}: "
              f"{rate:.0f} updates/s ({1e3 / rate:.1f} ms per update)")
    enc_cfg = EncoderConfig()
    sac = SAC(ObsEncoder(17, ["front", "wrist"], (128, 128), enc_cfg), 5, SACConfig(ensemble=2), device=device)

    def images():  # what the learner's sampler holds: frames pooled to 64x64, uint8
        return torch.randint(0, 256, (b, 64, 64, 3), dtype=torch.uint8)
    batch = {**base, "obs": {"proprio": torch.randn(b, 17), "front": images(), "wrist": images()},
             "next_obs": {"proprio": torch.randn(b, 17), "front": images(), "wrist": images()}}
    batch = devices.to_device(batch, device)
    rate = updates_per_s(sac, batch, args.seconds)
    print(f"two 128x128 cameras (pooled to 64x64, {enc_cfg.channels}-channel encoder) + proprio, batch {b}, ensemble 2, "
          f"{device.type}: {rate:.1f} updates/s ({1e3 / rate:.1f} ms per update)")
    # learner.actor_pretrain_updates: one BC step of actor + encoder (no critic), on the same batch
    rate = steps_per_s(lambda: sac.pretrain_actor(batch), args.seconds, device)
    print(f"actor pretraining on the same cameras + proprio, batch {b}, {device.type}: {rate:.1f} BC steps/s "
          f"({1e3 / rate:.1f} ms per step)")


def bench_session(args) -> None:
    from robot_rl import sim
    from robot_rl.learn.bc import train_bc
    from robot_rl.learn.learner import Learner
    from robot_rl.policy.checkpoint import save_checkpoint
    from robot_rl.session.config import SessionConfig
    from robot_rl.sim.corrector import SimulatedHuman
    from robot_rl.sim.experts import make_expert
    from robot_rl.sim.rollout import rollout, sim_store_spec
    from robot_rl.store.reader import EpisodeStore
    from robot_rl.store.writer import StoreWriter

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench_learner_session_"))
    try:
        session = SessionConfig(out=str(tmp))
        env = sim.make(session.task, session.robot, image_size=[session.image_size] * 2)
        with StoreWriter(session.store, sim_store_spec(env)) as w:
            for seed in range(session.demos):
                rollout(env, w, seed, operator=make_expert(env, seed=seed))
            for seed in range(100, 105):
                rollout(env, w, seed, policy=lambda obs: np.zeros(5), operator=SimulatedHuman(env, seed=seed),
                        policy_version=1)
        env.close()
        base, pcfg, _ = train_bc(EpisodeStore.open(session.store), dataclasses.replace(session.bc, steps=20))
        save_checkpoint(base, pcfg, session.bc_checkpoint)
        cfg = dataclasses.replace(session.learner_config(), export_every_s=1e6, checkpoint_every_s=1e6,
                                  plot_every_s=1e6, critic_warmup_updates=0, threads=args.threads)
        learner = Learner(cfg)
        learner.refresh()
        rate = steps_per_s(learner.update, args.seconds, learner.device)
        print(f"a session's learner update ({session.task}, {cfg.mode} on a {pcfg.kind} BC base, heads "
              f"{', '.join(cfg.aux) or 'none'}, batch {cfg.batch}, {len(learner.sampler)} transitions, "
              f"{torch.get_num_threads()} thread(s), {learner.device.type}): {rate:.1f} updates/s "
              f"({1e3 / rate:.1f} ms per update)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_latency(args) -> None:
    from robot_rl import sim
    from robot_rl.learn.learner import Learner
    from robot_rl.learn.config import LearnerConfig
    from robot_rl.policy.runtime import PolicyRuntime
    from robot_rl.sim.corrector import SimulatedHuman
    from robot_rl.sim.experts import make_expert
    from robot_rl.sim.rollout import rollout, sim_store_spec
    from robot_rl.store.writer import StoreWriter

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench_learner_"))
    try:
        env = sim.make("pick_cube", image_size=[128, 128])
        store = tmp / "s.zarr"
        with StoreWriter(store, sim_store_spec(env)) as w:
            for seed in range(3):
                rollout(env, w, seed, operator=make_expert(env, seed=seed))
        exports: list[tuple[float, int, pathlib.Path, str]] = []   # (time, episodes trained on, path, sha)
        cfg = LearnerConfig(store=str(store), policy="lat", registry=str(tmp / "policies"), run_dir=str(tmp / "run"),
                            cameras="auto", batch=args.latency_batch, utd=1.0, export_every_s=args.export_every_s,
                            checkpoint_every_s=1e6, plot_every_s=1e6, refresh_s=0.25)
        learner = Learner(cfg, on_export=lambda p, sha: exports.append(
            (time.monotonic(), len(learner.sampler.episodes), p, sha)))
        thread = threading.Thread(target=learner.run, daemon=True)
        thread.start()
        rows = []
        for i in range(args.episodes):
            time.sleep(1.0)
            with StoreWriter(store) as w:
                rollout(env, w, 100 + i, policy=lambda obs: np.zeros(5), operator=SimulatedHuman(env, seed=i))
            committed = time.monotonic()
            want = 3 + i + 1
            while len(learner.sampler.episodes) < want:
                time.sleep(0.005)
            seen = time.monotonic()
            while not any(e[1] >= want for e in exports):
                time.sleep(0.005)
            t_export, _, path, sha = next(e for e in exports if e[1] >= want)
            tick = t_export - next(e for e in learner.exported if e["path"] == str(path))["export_s"]
            t0 = time.monotonic()
            PolicyRuntime.from_file(path, sha)       # load + sha256 + spec checks + warm-up
            live = t_export + (time.monotonic() - t0)
            rows.append((seen - committed, t_export - committed, live - committed, live - tick))
            print(f"episode {i + 1}: in the learner {1e3 * rows[-1][0]:.0f} ms after commit; exported "
                  f"{rows[-1][1]:.2f} s after commit; live {rows[-1][2]:.2f} s after commit "
                  f"({rows[-1][3]:.2f} s after the export tick: export, parity check, registry, load)")
        learner.stop()
        thread.join(60)
        a = np.array(rows)
        print(f"committed episode -> live policy over {len(rows)} episodes (export every {args.export_every_s:g} s, "
              f"two 128x128 cameras, batch {args.latency_batch}): in learner median {1e3 * np.median(a[:, 0]):.0f} ms "
              f"(max {1e3 * a[:, 0].max():.0f}); live after the export tick median {np.median(a[:, 3]):.2f} s "
              f"(max {a[:, 3].max():.2f}); commit -> live median {np.median(a[:, 2]):.2f} s (max {a[:, 2].max():.2f})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--episodes", type=int, default=5, help="episodes for the commit -> live measurement")
    ap.add_argument("--export-every-s", type=float, default=2.0)
    ap.add_argument("--latency-batch", type=int, default=64)
    ap.add_argument("--skip-updates", action="store_true")
    ap.add_argument("--session", action="store_true", help="also time a session's learner update (residual on a "
                    "BC base, the task's heads)")
    ap.add_argument("--devices", default="cpu", help="comma list of learner devices for the updates/s part "
                    "(cpu, cuda, cuda:N)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not args.skip_updates:
        for spec in args.devices.split(","):
            bench_updates(args, devices.resolve(spec))
    if args.session:
        bench_session(args)
    if args.episodes:
        bench_latency(args)


if __name__ == "__main__":
    main()
