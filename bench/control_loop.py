"""Control loop benchmark: the control node and the sim robot node in separate processes.

Cases: 500 Hz with an MLP policy (no cameras), and 100 Hz with a CNN policy on two 128x128 cameras
(the sim publishes images every 4th period, 25 Hz: rendering two cameras takes ~16 ms here).
During each run a client publishes 10 policy updates (hot swaps). Prints the loop period error,
observation-to-command figures, overruns and the largest tick gap.

    python bench/control_loop.py [--seconds 15]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

import torch

from robot_rl import ros_env
from robot_rl.policy.checkpoint import sim_policy_config
from robot_rl.policy.export import export
from robot_rl.policy.registry import PolicyRegistry
from robot_rl.policy.spec import PolicyMetadata

REPO = pathlib.Path(__file__).resolve().parent.parent


def publish(reg: PolicyRegistry, kind: str, seed: int) -> pathlib.Path:
    torch.manual_seed(seed)
    cfg = sim_policy_config(kind)
    meta = PolicyMetadata(name=kind, obs=cfg.obs, action=cfg.action)
    return reg.publish(export(cfg.build().eval(), meta)[0], meta)


def run_case(kind: str, rate: float, seconds: float, tmp: pathlib.Path, args: argparse.Namespace) -> dict:
    reg = PolicyRegistry(tmp / "policies")
    versions = [publish(reg, kind, s) for s in range(2)]
    env = ros_env.ros_environment(domain_id=ros_env.random_domain_id())
    cams = "front,wrist" if kind == "cnn" else ""
    sim_cmd = [sys.executable, "-m", "ros_nodes.sim_robot", "--ros-args", "-p", "mode:=realtime",
               "-p", f"control_hz:={rate}", "-p", f"physics_hz:={max(500.0, rate)}", "-p", f"cameras:='{cams}'",
               "-p", "camera_every:=4", "-p", f"report_path:={tmp / 'sim.json'}"]
    ctl_cmd = [sys.executable, "-m", "ros_nodes.control_node", "--ros-args", "-p", f"policy:={versions[0]}",
               "-p", f"rate_hz:={rate}", "-p", f"rt_priority:={args.rt_priority}", "-p", f"busy_wait_s:={args.busy_wait}", "-p", f"registry:={reg.root}", "-p", f"report_path:={tmp / 'ctl.json'}"]
    procs = [subprocess.Popen(c, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(tmp / f"{i}.log", "w"))
             for i, c in enumerate((sim_cmd, ctl_cmd))]
    try:
        time.sleep(4.0)  # start-up and discovery
        updates = [str(versions[(k + 1) % 2]) for k in range(10)]
        gap = max(0.5, (seconds - 2) / 10)
        subprocess.run([sys.executable, str(REPO / "tests" / "control_client.py"), str(gap), *updates], env=env,
                       cwd=REPO, timeout=seconds + 60, capture_output=True)
        time.sleep(1.0)
    finally:
        for p in procs[::-1]:
            p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait(timeout=30)
        for i in range(2):
            print(f"--- {'sim' if i == 0 else 'control'} log tail ---\n" + (tmp / f"{i}.log").read_text()[-1500:],
                  file=sys.stderr) if not (tmp / ("sim.json" if i == 0 else "ctl.json")).exists() else None
    ctl = json.loads((tmp / "ctl.json").read_text())
    sim = json.loads((tmp / "sim.json").read_text())
    # Missed ticks (gaps > 1.5 periods) while a policy update was being loaded (start - 1 period to
    # its swap + 1 period), and elsewhere.
    windows = [(s["t_ns"][0] - 1e9 / rate, s["t_ns"][1] + 1e9 / rate) for s in ctl["swaps"]]
    in_swap = [g for t, g in ctl["late_ticks"] if any(a <= t <= b for a, b in windows)]
    ms = lambda d: {k.replace("_us", "_ms"): round(v / 1e3, 3) for k, v in d.items()}  # noqa: E731
    return {"case": f"{kind} at {rate:g} Hz", "ticks": ctl["ticks"], "overruns": ctl["overruns"],
            "period_error": ms(ctl["period_error"]), "compute": ms(ctl["compute"]), "obs_age": ms(ctl["latency"]),
            "max_tick_gap_ms": round(ctl["max_gap_ms"], 3), "missed_ticks": len(ctl["late_ticks"]),
            "missed_in_swaps": len(in_swap), "max_gap_in_swaps_ms": round(max(in_swap, default=0) / 1e6, 3), "period_ms": round(1e3 / rate, 3),
            "swaps_ok": sum(s["ok"] for s in ctl["swaps"]), "swaps": len(ctl["swaps"]),
            "compute_parts": {k: ms(v) for k, v in ctl["compute_parts"].items()},
            "sim_rtf": round(sim["rtf"], 3), "sim_commands_accepted": sim["accepted"], "sim_rejected": sim["rejected"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--rt-priority", type=int, default=50, help="control node rt_priority (0: normal scheduling)")
    ap.add_argument("--busy-wait", type=float, default=0.0008, help="control node busy_wait_s")
    args = ap.parse_args()
    out = []
    for kind, rate in (("mlp", 500.0), ("cnn", 100.0)):
        with tempfile.TemporaryDirectory() as tmp:
            r = run_case(kind, rate, args.seconds, pathlib.Path(tmp), args)
        print(json.dumps(r), flush=True)
        out.append(r)
    for r in out:
        print(f"{r['case']}: period error p50/p99/max {r['period_error']['p50_ms']}/{r['period_error']['p99_ms']}/"
              f"{r['period_error']['max_ms']} ms; compute p50/p99 {r['compute']['p50_ms']}/{r['compute']['p99_ms']} ms; "
              f"obs age p50/p99 {r['obs_age']['p50_ms']}/{r['obs_age']['p99_ms']} ms; overruns {r['overruns']}; "
              f"largest tick gap {r['max_tick_gap_ms']} ms (period {r['period_ms']}); missed ticks {r['missed_ticks']}, "
              f"{r['missed_in_swaps']} of them during the {r['swaps_ok']}/{r['swaps']} swaps (largest gap there "
              f"{r['max_gap_in_swaps_ms']} ms); compute parts p50/p99 ms: "
              + ", ".join(f"{k} {v['p50_ms']}/{v['p99_ms']}" for k, v in r["compute_parts"].items()))


if __name__ == "__main__":
    main()
