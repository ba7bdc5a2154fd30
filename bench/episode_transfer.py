"""Episode replication across a link between two hosts (issue #35): commit on the robot host ->
readable in the learner host's replica, and throughput (a burst of commits), on a clean link, with random frame loss
and with a bandwidth limit.

Two network namespaces joined by a veth pair stand for the robot PC and the learner workstation
(tests/netns.py; needs root and nftables). The robot host runs ros_nodes.episode_server, the
learner host ros_nodes.episode_replica, each through `robot-rl up GRAPH --host NAME`. A feeder
commits pick_cube expert episodes (recorded once in the simulator, two 128x128 cameras) into the
robot host's store every `--every-s` seconds, stamped with the commit time; the replica's report
gives when each became readable there, checked by digest.

    .venv/bin/python bench/episode_transfer.py                     # all links, 6 episodes each
    .venv/bin/python bench/episode_transfer.py --links clean,loss5 --episodes 4
    .venv/bin/python bench/episode_transfer.py --noise 8        # frames zstd cannot shrink 10x
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from netns import TwoHosts  # noqa: E402

from robot_rl import ros_env, sim  # noqa: E402
from robot_rl.sim.experts import make_expert  # noqa: E402
from robot_rl.sim.rollout import rollout, sim_store_spec  # noqa: E402
from robot_rl.store import EpisodeStore, StoreWriter  # noqa: E402
from robot_rl.store.replica import episode_digest, read_episode, write_episode  # noqa: E402

LINKS = {"clean": {}, "loss5": {"loss_pct": 5}, "tbf100": {"rate_mbit": 100},
         "loss5+tbf100": {"loss_pct": 5, "rate_mbit": 100}}
ROBOT_RL = [sys.executable, "-m", "robot_rl.cli"]


def source_store(path: pathlib.Path, episodes: int, image_size: int) -> EpisodeStore:
    if not (path / "zarr.json").exists() or len(EpisodeStore.open(path)) < episodes:
        import shutil
        shutil.rmtree(path, ignore_errors=True)
        env = sim.make("pick_cube", image_size=[image_size, image_size])
        with StoreWriter(path, sim_store_spec(env)) as w:
            for seed in range(episodes):
                rollout(env, w, seed, operator=make_expert(env, seed=seed))
                print(f"  recorded source episode {seed + 1}/{episodes}", flush=True)
        env.close()
    return EpisodeStore.open(path)


def wait_report(report: pathlib.Path, episodes: int, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    rep: dict = {}
    while time.monotonic() < deadline:
        rep = json.loads(report.read_text()) if report.exists() else {}
        if rep.get("episodes", 0) >= episodes:
            break
        time.sleep(0.2)
    return rep


def run_link(name: str, impair: dict, src: EpisodeStore, args, work: pathlib.Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    hosts = TwoHosts(work)
    procs = []
    try:
        hosts.impair(**impair)
        robot_store, replica, report = work / "robot.zarr", work / "replica.zarr", work / "replica.json"
        graph = work / "graph.yaml"
        graph.write_text(yaml.safe_dump({"name": "transfer", "domain_id": ros_env.random_domain_id(), "hosts": {
            "robot": {"address": hosts.addr["a"]}, "learner": {"address": hosts.addr["b"]}}, "nodes": [
            {"name": "server", "module": "episode_server", "host": "robot", "parameters": {"store": str(robot_store)}},
            {"name": "replica", "module": "episode_replica", "host": "learner",
             "parameters": {"store": str(replica), "report_path": str(report)}}]}))
        for host, h in (("learner", "b"), ("robot", "a")):
            log = open(work / f"{host}.log", "w")
            procs.append(subprocess.Popen(hosts.command(h, [*ROBOT_RL, "up", str(graph), "--host", host]),
                                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        commit_ns = []
        n = args.episodes
        rng = np.random.default_rng(0)
        with StoreWriter(robot_store, src.spec) as w:
            # paced, one every every_s (latency); then a burst of as many at once (throughput)
            for i in range(2 * n):
                ep = read_episode(src, i % n)
                if args.noise:   # camera noise, which zstd cannot take out as it does the simulator's flat colours
                    for name, (data, t_s, t_r) in ep.streams.items():
                        if data.dtype == np.uint8 and data.ndim == 4:
                            noisy = data.astype(np.int16) + rng.integers(-args.noise, args.noise + 1, data.shape)
                            ep.streams[name] = (np.clip(noisy, 0, 255).astype(np.uint8), t_s, t_r)
                now = time.time_ns()
                ep.row.update(start_ns=now - (ep.row["end_ns"] - ep.row["start_ns"]), end_ns=now)
                write_episode(w, ep)
                commit_ns.append(time.time_ns())
                if i < n:
                    time.sleep(args.every_s)
        rep = wait_report(report, 2 * n, args.timeout_s)
        robot = EpisodeStore.open(robot_store)
        applied = rep.get("applied", [])
        equal = all(a["digest"] == episode_digest(robot, a["index"]) for a in applied)
        burst = [a for a in applied if a["index"] >= n]
        burst_s = (max(a["applied_ns"] for a in burst) - commit_ns[n]) / 1e9 if len(burst) == n else None
        applied = [a for a in applied if a["index"] < n]
        lat = np.array([(a["applied_ns"] - commit_ns[a["index"]]) / 1e9 for a in applied])
        raw = np.array([a["bytes"] for a in applied]) / 1e6
        wire = np.array([a["wire_bytes"] for a in applied]) / 1e6
        return {"link": name, **impair, "episodes": len(rep.get("applied", [])), "of": 2 * n, "digests_equal": equal,
                "raw_mb_per_episode": float(raw.mean()) if len(raw) else 0.0,
                "wire_mb_per_episode": float(wire.mean()) if len(wire) else 0.0,
                "latency_s_median": float(np.median(lat)) if len(lat) else None,
                "latency_s_max": float(lat.max()) if len(lat) else None,
                "burst_s": burst_s, "burst_mb_per_s_raw": raw.mean() * n / burst_s if burst_s else None,
                "burst_mb_per_s_wire": wire.mean() * n / burst_s if burst_s else None,
                "retries": rep.get("retries"), "damaged": rep.get("damaged"), "frames_dropped": hosts.dropped()}
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGINT)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        hosts.remove()


def fmt(x) -> str:
    return "-" if x is None else f"{x:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--links", default=",".join(LINKS), help=f"comma list of {', '.join(LINKS)}")
    ap.add_argument("--episodes", type=int, default=6)
    ap.add_argument("--every-s", type=float, default=2.0, help="seconds between commits on the robot host")
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--noise", type=int, default=0, help="add uniform noise of +-N to every camera frame")
    ap.add_argument("--timeout-s", type=float, default=300.0, help="per link, after the last commit")
    ap.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    src = source_store(out / f"transfer_source_{args.image_size}.zarr", args.episodes, args.image_size)
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores; {args.episodes} episodes one every "
          f"{args.every_s:g} s, then {args.episodes} at once", flush=True)
    rows = []
    for name in args.links.split(","):
        with tempfile.TemporaryDirectory(prefix=f"transfer_{name}_") as tmp:
            r = run_link(name, LINKS[name], src, args, pathlib.Path(tmp))
        rows.append(r)
        print(f"{name:>13}: {r['episodes']}/{r['of']} episodes, digests equal: {r['digests_equal']}; "
              f"{r['raw_mb_per_episode']:.1f} MB raw / {r['wire_mb_per_episode']:.1f} MB on the wire per episode; "
              f"commit -> readable median {fmt(r['latency_s_median'])} s, max {fmt(r['latency_s_max'])} s; "
              f"burst of {args.episodes}: {fmt(r['burst_s'])} s, {fmt(r['burst_mb_per_s_raw'])} MB/s raw, "
              f"{fmt(r['burst_mb_per_s_wire'])} MB/s on the wire; retries {r['retries']}, "
              f"damaged {r['damaged']}, frames dropped {r['frames_dropped']}", flush=True)
    (out / "episode_transfer.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
