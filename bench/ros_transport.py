"""Cross-process ROS 2 transport benchmark: latency and drops for camera images and joint states.

Each case runs a publisher process (ros_nodes.synthetic_source) and a subscriber process
(ros_nodes.topic_monitor) on our loopback Fast DDS profile, in a fresh ROS domain, with both
processes on the same executor. Latency is the subscriber's receive wall clock minus the header
stamp the publisher set at capture time, before building the message: it includes message
construction, serialization, transport and deserialization. Drops = published - received.

    .venv/bin/python bench/ros_transport.py            # all cases, 10 s each
    .venv/bin/python bench/ros_transport.py --seconds 5 --json out.json
    .venv/bin/python bench/ros_transport.py --dds hosts    # a two-host graph's profile, on one host
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from robot_rl import ros_env
from robot_rl.graph import NodeSpec

CASES = {
    "rgb 640x480 @30Hz (best effort)": dict(kind="image", msg_type="sensor_msgs/msg/Image", qos="sensor",
                                            rate_hz=30.0, width=640, height=480),
    "rgb 1280x720 @30Hz (best effort)": dict(kind="image", msg_type="sensor_msgs/msg/Image", qos="sensor",
                                             rate_hz=30.0, width=1280, height=720),
    "JointState 7 dof @500Hz (reliable)": dict(kind="joint_state", msg_type="sensor_msgs/msg/JointState",
                                               qos="reliable", rate_hz=500.0, joints=7),
}
EXECUTORS = ("single", "events")


def run_case(name: str, case: dict, executor: str, seconds: float, workdir: str, dds: str = "loopback") -> dict:
    count = int(case["rate_hz"] * seconds)
    # dds hosts: this host on loopback, a peer that is never there; both processes are this host's
    hosts = dict(address="127.0.0.1", peers=["127.0.0.2"]) if dds == "hosts" else {}
    env = ros_env.ros_environment(domain_id=ros_env.random_domain_id(), dds=dds, **hosts)
    env["ROS_LOG_DIR"] = os.path.join(workdir, "ros_log")
    src_report, mon_report = os.path.join(workdir, "source.json"), os.path.join(workdir, "monitor.json")
    for path in (src_report, mon_report):
        if os.path.exists(path):
            os.remove(path)
    source_params = {k: v for k, v in case.items() if k not in ("msg_type",)}
    monitor = NodeSpec("monitor", "topic_monitor", parameters=dict(
        topic="/bench", msg_type=case["msg_type"], qos=case["qos"], expected_count=count,
        duration_s=seconds + 20.0, status_period_s=0.0, report_path=mon_report, executor=executor,
        check_frame_counter=case["kind"] == "image"))
    source = NodeSpec("source", "synthetic_source", parameters=dict(
        topic="/bench", count=count, wait_for_subscribers=1, report_path=src_report, executor=executor,
        **source_params))
    procs = [subprocess.Popen(spec.command(), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for spec in (monitor, source)]
    try:
        procs[1].wait(timeout=seconds + 60)
        procs[0].wait(timeout=30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    with open(src_report) as f:
        sent = json.load(f)
    with open(mon_report) as f:
        got = json.load(f)
    return {"case": name, "executor": executor, "published": sent["published"], "received": got["received"],
            "drops": sent["published"] - got["received"], "missing_frames": got.get("missing_frames", []),
            "rate_hz": got["rate_hz"], **{
                f"latency_{k}": v for k, v in got["latency"].items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="stream length per case (default 10)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--dds", default="loopback", choices=("loopback", "hosts"),
                        help="hosts: the profile of a two-host graph (docs/TWO_HOSTS.md), for its local traffic")
    parser.add_argument("--executors", nargs="+", default=list(EXECUTORS), choices=EXECUTORS)
    args = parser.parse_args()

    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"dds {args.dds}")
    print(f"{'case':<36} {'executor':<8} {'sent':>6} {'recv':>6} {'drops':>5} {'Hz':>6} "
          f"{'p50 us':>8} {'p99 us':>8} {'max us':>8}")
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        for executor in args.executors:
            for name, case in CASES.items():
                t0 = time.monotonic()
                r = run_case(name, case, executor, args.seconds, workdir, args.dds)
                results.append(r)
                print(f"{name:<36} {executor:<8} {r['published']:>6} {r['received']:>6} {r['drops']:>5} "
                      f"{r['rate_hz']:>6.1f} {r['latency_p50_us']:>8.0f} {r['latency_p99_us']:>8.0f} "
                      f"{r['latency_max_us']:>8.0f}   ({time.monotonic() - t0:.0f} s)"
                      + (f"  missing frames: {r['missing_frames']}" if r["missing_frames"] else ""), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
