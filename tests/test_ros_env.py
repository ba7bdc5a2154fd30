"""The ROS process environment: loopback DDS, library path, domain id; robot_rl stays ROS-free."""
from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from robot_rl import ros_env


def test_loopback_environment():
    env = ros_env.ros_environment(base={"FASTRTPS_DEFAULT_PROFILES_FILE": "/x.xml", "ROS_LOCALHOST_ONLY": "1"},
                                  domain_id=42)
    assert env["ROS_DOMAIN_ID"] == "42"
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SUBNET"   # LOCALHOST opens sockets on every address
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"] == ros_env.profile_path()
    assert "FASTRTPS_DEFAULT_PROFILES_FILE" not in env and "ROS_LOCALHOST_ONLY" not in env
    assert env["_ROS_WHEELS_BOOTSTRAP_COMPLETE"] == "1"
    assert ros_env.is_prepared(env)
    # The ROS wheels' libraries must be on the library path before a child starts.
    for lib_dir in ros_env.wheel_library_dirs():
        assert lib_dir in env["LD_LIBRARY_PATH"].split(os.pathsep)
    assert any(d.endswith("ros_rclpy.libs") for d in ros_env.wheel_library_dirs())


def test_system_scope_leaves_discovery_alone():
    env = ros_env.ros_environment(base={}, domain_id=3, dds="system")
    assert "ROS_AUTOMATIC_DISCOVERY_RANGE" not in env and "FASTDDS_DEFAULT_PROFILES_FILE" not in env


@pytest.mark.parametrize("bad", [-1, 102, True, "3"])
def test_bad_domain_id(bad):
    with pytest.raises(ValueError, match="domain id"):
        ros_env.ros_environment(base={}, domain_id=bad)


def test_profile_keeps_dds_on_this_machine():
    ns = {"d": "http://www.eprosima.com"}
    root = ET.parse(ros_env.profile_path()).getroot()
    transports = {t.find("d:transport_id", ns).text: t for t in root.iter("{http://www.eprosima.com}transport_descriptor")}
    shm = [t for t in transports.values() if t.find("d:type", ns).text == "SHM"]
    udp = [t for t in transports.values() if t.find("d:type", ns).text == "UDPv4"]
    assert len(shm) == 1 and int(shm[0].find("d:segment_size", ns).text) >= 32 * 1024 * 1024
    assert len(udp) == 1
    assert [a.text for a in udp[0].iter("{http://www.eprosima.com}address")] == ["127.0.0.1"]
    participant = root.find(".//d:participant", ns)
    assert participant.get("is_default_profile") == "true"
    assert participant.find(".//d:useBuiltinTransports", ns).text == "false"
    used = [t.text for t in participant.iter("{http://www.eprosima.com}transport_id")]
    assert sorted(used) == sorted(transports)


def test_core_package_never_imports_rclpy():
    """robot_rl/ is ROS-free: importing every module of it must not load rclpy."""
    code = (
        "import pkgutil, importlib, sys, robot_rl\n"
        "for m in pkgutil.walk_packages(robot_rl.__path__, 'robot_rl.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('rclpy', 'sensor_msgs', 'std_msgs')]\n"
        "print('ROS modules:', bad); sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_node_started_by_hand_prepares_its_own_environment(tmp_path, ros_domain):
    """`python -m ros_nodes.x` without our environment re-executes itself once with it."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("ROBOT_RL_ROS_ENV", "ROS_AUTOMATIC_DISCOVERY_RANGE", "FASTDDS_DEFAULT_PROFILES_FILE")}
    env["ROS_DOMAIN_ID"] = str(ros_domain)
    env["ROS_LOG_DIR"] = str(tmp_path)
    code = ("from ros_nodes import runtime; import os; "
            "print(os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'], os.environ['FASTDDS_DEFAULT_PROFILES_FILE'])")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["SUBNET", ros_env.profile_path()]


def test_a_private_domain_skips_one_a_participant_holds():
    """Simulator graphs without ROS_DOMAIN_ID get a domain no one on this machine uses: a second
    session or a preflight next to a running session must not reach its simulator."""
    import random
    import socket

    from robot_rl import ros_env
    first = ros_env.random_domain_id(random.Random(7))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:   # a participant's discovery port
        held.bind(("127.0.0.1", 7400 + 250 * first + 10 + 2 * 3))
        assert ros_env.domain_in_use(first)
        picked = ros_env.private_domain_id(random.Random(7))
        assert picked != first and not ros_env.domain_in_use(picked)
    assert not ros_env.domain_in_use(first)


def _udp_sockets(pid: int) -> list[str]:
    """Local addresses ("a.b.c.d:port") of the UDP sockets process `pid` holds: /proc/net/udp,
    the table `ss -ulpn` prints, matched to the process through its socket inodes."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    with open(f"/proc/{pid}/net/udp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[9] in inodes:
                ip_hex, port_hex = cols[1].split(":")
                ip = ".".join(str(int(ip_hex[i:i + 2], 16)) for i in (6, 4, 2, 0))
                out.append(f"{ip}:{int(port_hex, 16)}")
    return out


def test_a_running_graph_opens_udp_on_loopback_only(procs, tmp_path):
    """Two real nodes talking over DDS: every UDP socket they hold is on 127.0.0.0/8 (or the
    discovery multicast group, joined on loopback only); none on 0.0.0.0 or another address."""
    import time

    from conftest import wait_exit
    src = procs.node("synthetic_source", "src", kind="joint_state", topic="/joint_states", rate_hz=50.0, qos="reliable")
    mon = procs.node("topic_monitor", "mon", topic="/joint_states", msg_type="sensor_msgs/msg/JointState",
                     qos="reliable", expected_count=50, duration_s=60.0, status_period_s=0.0)
    deadline = time.monotonic() + 60
    sockets: dict[str, list[str]] = {}
    while time.monotonic() < deadline and mon.poll() is None:   # sample while both talk
        try:
            now = {name: _udp_sockets(p.pid) for name, p in (("src", src), ("mon", mon))}
        except FileNotFoundError:   # the monitor exited between two reads
            break
        if all(now.values()):   # both up (not one of them starting or shutting down)
            sockets = now
        time.sleep(0.2)
    assert wait_exit(mon, 5) == 0, mon.log_path.read_text()[-2000:]   # discovery and data worked
    assert sockets and all(sockets.values()), sockets
    foreign = {name: [a for a in addrs if not (a.startswith("127.") or a.startswith("239.255."))]
               for name, addrs in sockets.items()}
    assert not any(foreign.values()), f"UDP sockets off loopback: {foreign} (all: {sockets})"


def test_env_for_a_host_of_a_graph_that_spans_machines(tmp_path):
    """`robot-rl env --graph G --host H` prints the environment `robot-rl up G --host H` gives its
    nodes: the hosts profile naming this host's address and its peer's."""
    graph = tmp_path / "lab.yaml"
    graph.write_text("name: lab\nhosts:\n  robot: {address: 10.9.0.1}\n  learner: {address: 10.9.0.2}\n"
                     "nodes:\n  - {name: talker, module: synthetic_source, host: robot}\n"
                     "  - {name: listener, module: topic_monitor, host: learner}\n")
    cli = [sys.executable, "-m", "robot_rl.cli", "env", "--graph", str(graph)]
    out = subprocess.run(cli + ["--host", "learner"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    exports = dict(line[len("export "):].split("=", 1) for line in out.stdout.splitlines() if line.startswith("export "))
    assert exports[ros_env.MARKER] == "hosts"
    profile = pathlib.Path(exports[ros_env.PROFILE_VAR].strip("'\"")).read_text()
    assert "<address>10.9.0.2</address>" in profile and "10.9.0.1" in profile   # own address, and the peer
    bad = subprocess.run(cli + ["--host", "nope"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "not one of the graph's hosts" in bad.stderr and bad.stderr.count("\n") == 1


def _segments() -> set[str]:
    return {n for n in os.listdir(ros_env.SHM_DIR) if re.match(r"^fastdds_[0-9a-z]{16}_el$", n)}


def test_the_shared_memory_of_a_killed_node_is_freed_and_a_live_nodes_kept(procs):
    """A node killed with SIGKILL leaves its Fast DDS segment in /dev/shm (RAM); clean_stale_shm,
    which every graph runs first, removes it and leaves the segment of a node still running."""
    import signal
    import time

    before = _segments()
    alive = procs.node("synthetic_source", "alive", kind="joint_state", topic="/a", rate_hz=10.0)
    doomed = procs.node("synthetic_source", "doomed", kind="joint_state", topic="/b", rate_hz=10.0)
    owned: dict[str, set[str]] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(owned) < 2:
        # whose segment is whose: the process holding the flock on its _el file (peers map each
        # other's segments too, so the maps do not tell)
        locks: dict[int, set[int]] = {}
        for line in pathlib.Path("/proc/locks").read_text().splitlines():
            f = line.split()
            if len(f) > 5 and f[1] == "FLOCK":
                locks.setdefault(int(f[4]), set()).add(int(f[5].split(":")[-1]))
        for name, p in (("alive", alive), ("doomed", doomed)):
            mine = set()
            for seg in _segments() - before:
                try:
                    if os.stat(ros_env.SHM_DIR / seg).st_ino in locks.get(p.pid, set()):
                        mine.add(seg)
                except FileNotFoundError:
                    pass
            if mine:
                owned[name] = mine
        time.sleep(0.2)
    assert set(owned) == {"alive", "doomed"}, owned
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait()
    assert owned["doomed"] <= _segments()            # killed: its segment stays behind
    removed, freed = ros_env.clean_stale_shm()
    assert removed >= 1 and freed >= 32 * 2**20      # our profile's 32 MB segment at least
    left = _segments()
    assert not owned["doomed"] & left and owned["alive"] <= left
    assert alive.poll() is None
