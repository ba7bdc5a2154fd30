"""Control loop benchmark: the control node and the sim robot node in separate processes.

Cases: 500 Hz with an MLP policy (no cameras), and 100 Hz with a CNN policy on two 128x128 cameras
(the sim publishes images every 4th period, 25 Hz: rendering two cameras takes ~16 ms here).
During each run a client publishes 10 policy updates (hot swaps). Prints the loop period error,
observation-to-command figures, missed ticks and the largest tick gap, the CPU each process used and
the CPU the hypervisor stole while it ran (a shared VM's neighbours show up there), and each
figure against issue #5's targets.

    python bench/control_loop.py [--seconds 15] [--repeat 3] [--out bench/results/control_loop.jsonl]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from robot_rl import ros_env
from robot_rl.policy.checkpoint import sim_policy_config
from robot_rl.policy.export import export
from robot_rl.policy.registry import PolicyRegistry
from robot_rl.policy.spec import PolicyMetadata
from robot_rl.stats import summarize_ns

REPO = pathlib.Path(__file__).resolve().parent.parent
TICKS_PER_S = os.sysconf("SC_CLK_TCK")
# Issue #5's targets on this 2-core machine: (case, figure, limit in ms). "Latency" is the node's
# observation-to-command time (inputs taken -> command published); obs age is reported beside it.
TARGETS = (("mlp", "period_error", "p99_ms", 0.5), ("mlp", "compute", "p99_ms", 1.0),
           ("cnn", "compute", "p99_ms", 5.0))


def cpu_times() -> list[int]:
    """/proc/stat's all-CPU line: user nice system idle iowait irq softirq steal (clock ticks)."""
    with open("/proc/stat") as f:
        return [int(v) for v in f.readline().split()[1:9]]


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


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
        cpu0, t0, t0_ns = cpu_times(), time.monotonic(), time.monotonic_ns()
        proc0 = [process_cpu_s(p.pid) for p in procs]
        updates = [str(versions[(k + 1) % 2]) for k in range(10)]
        gap = max(0.5, (seconds - 2) / 10)
        subprocess.run([sys.executable, str(REPO / "tests" / "control_client.py"), str(gap), *updates], env=env,
                       cwd=REPO, timeout=seconds + 60, capture_output=True)
        time.sleep(1.0)
        cpu1, wall, t1_ns = cpu_times(), time.monotonic() - t0, time.monotonic_ns()
        proc_cpu = [(process_cpu_s(p.pid) - c) / wall for p, c in zip(procs, proc0)]
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
    period_ns = 1e9 / rate
    # The figures are taken over the window this bench drives (the client's 10 swaps and 1 s after),
    # from the node's per-tick timeline; start-up (discovery, first messages) and shutdown are
    # reported apart, as "whole run".
    tl = np.load(ctl["timeline"])
    w = tl[(tl[:, 0] >= t0_ns) & (tl[:, 0] <= t1_ns)]
    gaps = w[:, 1][w[:, 1] >= 0]
    late = w[:, 0][w[:, 1] > 1.5 * period_ns]
    late_gaps = w[:, 1][w[:, 1] > 1.5 * period_ns]
    # Missed ticks (gaps > 1.5 periods) while a policy update was being loaded (start - 1 period to
    # its swap + 1 period), and elsewhere.
    windows = [(sw["t_ns"][0] - period_ns, sw["t_ns"][1] + period_ns) for sw in ctl["swaps"]]
    in_swap = [g for t, g in zip(late, late_gaps) if any(a <= t <= b for a, b in windows)]
    ticks_in_swaps = int(sum(((w[:, 0] >= a) & (w[:, 0] <= b)).sum() for a, b in windows))
    ms = lambda d: {k.replace("_us", "_ms"): round(v / 1e3, 3) for k, v in d.items()}  # noqa: E731
    return {"case": f"{kind} at {rate:g} Hz", "window_s": round((t1_ns - t0_ns) / 1e9, 2), "ticks": int(len(w)),
            "period_error": ms(summarize_ns(np.abs(gaps - int(period_ns)))),
            "compute": ms(summarize_ns(w[:, 2][w[:, 2] >= 0])), "obs_age": ms(summarize_ns(w[:, 3][w[:, 3] >= 0])),
            "max_tick_gap_ms": round(float(gaps.max(initial=0)) / 1e6, 3), "missed_ticks": int(len(late)),
            "missed_in_swaps": len(in_swap), "ticks_in_swaps": ticks_in_swaps, "max_gap_in_swaps_ms": round(max(in_swap, default=0) / 1e6, 3),
            "period_ms": round(1e3 / rate, 3), "swaps_ok": sum(sw["ok"] for sw in ctl["swaps"]), "swaps": len(ctl["swaps"]),
            "whole_run": {"ticks": ctl["ticks"], "overruns": ctl["overruns"], "missed_ticks": len(ctl["late_ticks"]), "max_gap_ms": round(ctl["max_gap_ms"], 3),
                          "period_error": ms(ctl["period_error"]), "compute": ms(ctl["compute"])},
            "compute_parts": {k: ms(v) for k, v in ctl["compute_parts"].items()},
            "sim_rtf": round(sim["rtf"], 3), "sim_commands_accepted": sim["accepted"], "sim_rejected": sim["rejected"],
            # over the measured window: the share of both vCPUs' time the hypervisor gave to others
            # (steal), the machine's busy share, and each process's CPU in cores
            "steal_pct": round(100 * (cpu1[7] - cpu0[7]) / max(1, sum(cpu1) - sum(cpu0)), 2),
            "busy_pct": round(100 * (1 - (cpu1[3] + cpu1[4] - cpu0[3] - cpu0[4]) / max(1, sum(cpu1) - sum(cpu0))), 1),
            "sim_cpu_cores": round(proc_cpu[0], 2), "control_cpu_cores": round(proc_cpu[1], 2),
            "rt_priority": args.rt_priority, "busy_wait_s": args.busy_wait}


def vm_floor(seconds: float) -> dict:
    """What this VM takes from a thread with nothing else running: one thread spins on the clock at
    normal priority and counts the gaps (an interrupt, a kernel thread, or the hypervisor running
    something else on this vCPU: steal). A control loop cannot be steadier than this."""
    steal0 = cpu_times()[7]
    gaps, prev = [], time.monotonic_ns()
    end = prev + int(seconds * 1e9)
    while prev < end:
        now = time.monotonic_ns()
        if now - prev > 300_000:
            gaps.append(now - prev)
        prev = now
    steal1 = cpu_times()[7]
    g = np.asarray(gaps, np.int64)
    return {"seconds": seconds, "gaps_over_0.3ms": int(g.size), "gaps_over_1ms": int((g > 1e6).sum()),
            "gaps_over_2ms": int((g > 2e6).sum()), "lost_ms": round(float(g.sum()) / 1e6, 1),
            "largest_ms": round(float(g.max(initial=0)) / 1e6, 2), "steal_ms": (steal1 - steal0) * 1000 // TICKS_PER_S}


def report(row: dict, out: pathlib.Path | None) -> None:
    """One JSON line on stdout, and appended to --out when given."""
    line = json.dumps(row)
    print(line, flush=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "a") as f:
            f.write(line + "\n")


def verdict(r: dict) -> list[str]:
    """Each of issue #5's targets this case has, met or not, with the figure."""
    kind = r["case"].split()[0]
    out = [f"{fig.replace('_', ' ')} {q[:3]} {r[fig][q]} ms <= {limit:g}: {'met' if r[fig][q] <= limit else 'NOT met'}"
           for k, fig, q, limit in TARGETS if k == kind]
    out.append(f"missed ticks during swaps {r['missed_in_swaps']} ({r['swaps_ok']}/{r['swaps']} swapped): "
               f"{'met' if r['missed_in_swaps'] == 0 else 'NOT met'}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--rt-priority", type=int, default=50, help="control node rt_priority (0: normal scheduling)")
    ap.add_argument("--busy-wait", type=float, default=0.0008, help="control node busy_wait_s")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each case (the machine is shared: one run can mislead)")
    ap.add_argument("--cases", default="mlp,cnn", help="comma-separated: mlp (500 Hz), cnn (100 Hz)")
    ap.add_argument("--vm-probe", type=float, default=10.0,
                    help="seconds of a clock-spinning thread first, nothing else running: the gaps the VM itself makes (0: skip)")
    ap.add_argument("--out", type=pathlib.Path, default=None, help="append each run's figures to this JSON-lines file")
    args = ap.parse_args()
    rates = {"mlp": 500.0, "cnn": 100.0}
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    if args.repeat < 1 or not cases or any(c not in rates for c in cases):
        ap.error(f"--repeat must be >= 1 and --cases a list of {', '.join(rates)}")
    out = []
    if args.vm_probe > 0:
        floor = vm_floor(args.vm_probe)
        floor["date"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        report({"vm_floor": floor}, args.out)
    for run in range(args.repeat):
        for kind in cases:
            with tempfile.TemporaryDirectory() as tmp:
                r = run_case(kind, rates[kind], args.seconds, pathlib.Path(tmp), args)
            r["run"] = run
            r["date"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
            report(r, args.out)
            out.append(r)
    for r in out:
        print(f"{r['case']}: period error p50/p99/max {r['period_error']['p50_ms']}/{r['period_error']['p99_ms']}/"
              f"{r['period_error']['max_ms']} ms; compute p50/p99 {r['compute']['p50_ms']}/{r['compute']['p99_ms']} ms; "
              f"obs age p50/p99 {r['obs_age']['p50_ms']}/{r['obs_age']['p99_ms']} ms; "
              f"largest tick gap {r['max_tick_gap_ms']} ms (period {r['period_ms']}); missed ticks {r['missed_ticks']}, "
              f"{r['missed_in_swaps']} of them in the {r['ticks_in_swaps']} ticks during the {r['swaps_ok']}/{r['swaps']} swaps (largest gap there "
              f"{r['max_gap_in_swaps_ms']} ms); compute parts (whole run) p50/p99 ms: "
              + ", ".join(f"{k} {v['p50_ms']}/{v['p99_ms']}" for k, v in r["compute_parts"].items())
              + f"; CPU: sim {r['sim_cpu_cores']}, control {r['control_cpu_cores']} cores, machine busy "
              f"{r['busy_pct']}%, stolen by the hypervisor {r['steal_pct']}%; whole run (start-up and shutdown "
              f"too): {r['whole_run']['missed_ticks']} missed ticks, largest gap {r['whole_run']['max_gap_ms']} ms")
        print("  targets: " + "; ".join(verdict(r)))
    if args.vm_probe > 0:
        print(f"VM floor ({floor['seconds']:g} s, one thread spinning on the clock, nothing else running): "
              f"{floor['gaps_over_1ms']} gaps > 1 ms ({floor['gaps_over_2ms']} > 2 ms), largest {floor['largest_ms']} ms, "
              f"{floor['lost_ms']} ms lost in gaps > 0.3 ms; the hypervisor reports {floor['steal_ms']} ms stolen")


if __name__ == "__main__":
    main()
