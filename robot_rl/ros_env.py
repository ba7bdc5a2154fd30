"""The environment every ROS 2 process of ours runs in. ROS-free: this module never imports rclpy.

Why this exists (docs/ROS2.md has the long version):
- ROS 2 from PyPI wheels needs LD_LIBRARY_PATH to name the wheels' library folders *before* the
  interpreter starts. The wheels' `.pth` hook re-executes every Python process (`os.execve`) to
  set it unless `_ROS_WHEELS_BOOTSTRAP_COMPLETE=1` is already set. We set both up front for every
  child we start, so no process is re-executed behind our back.
- DDS discovery and traffic stay on this machine by default: our Fast DDS profile (SHM with a 32 MB
  segment + UDPv4 on 127.0.0.1 only, builtin transports off). ROS_AUTOMATIC_DISCOVERY_RANGE is
  SUBNET, which leaves the transports to the profile: LOCALHOST makes rmw_fastrtps add UDP sockets
  of its own on 0.0.0.0 and on every other address (measured with `ss -ulpn`; tests/test_ros_env.py).
- Each graph runs on an explicit ROS_DOMAIN_ID, so parallel test runs don't cross-talk.

`dds="hosts"` spans machines on named addresses only (a robot PC and a learner workstation,
docs/TWO_HOSTS.md): the same SHM transport for this machine's nodes, UDPv4 on loopback and this
host's `address` only, and discovery by unicast to the `peers` (Fast DDS initial peers), so no
other interface is used and no multicast is needed. `dds="system"` leaves discovery and
transports to ROS/Fast DDS defaults (every interface); neither is ever the default.
"""
from __future__ import annotations

import glob
import hashlib
import ipaddress
import os
import pathlib
import random
import re
import shlex
import sys
import sysconfig
import tempfile
from importlib import resources
from typing import Literal, Mapping

DdsScope = Literal["loopback", "hosts", "system"]

MARKER = "ROBOT_RL_ROS_ENV"  # set to the DDS scope once a process environment is prepared
RUNNER_PID_VAR = "ROBOT_RL_RUNNER_PID"   # the graph runner's pid, in its children (ros_nodes.runtime)
RESTARTS_VAR = "ROBOT_RL_NODE_RESTARTS"  # how many times the runner restarted this node before (0: first start)
BOOTSTRAP_FLAG = "_ROS_WHEELS_BOOTSTRAP_COMPLETE"
PROFILE_VAR = "FASTDDS_DEFAULT_PROFILES_FILE"
DEPRECATED_PROFILE_VAR = "FASTRTPS_DEFAULT_PROFILES_FILE"  # Fast DDS 3 warns and may prefer it
MAX_DOMAIN_ID = 101
# dds "hosts": topics whose large messages cross to another host go out in datagrams of one Ethernet
# frame (module docstring)
EPISODE_TOPIC = "/store/episode"          # ros_nodes.episode_server -> episode_replica
POLICY_MODEL_TOPIC = "/policy/model"      # ros_nodes.learner_node (send: value) -> control_node
CROSS_HOST_TOPICS = (EPISODE_TOPIC, POLICY_MODEL_TOPIC)
CROSS_HOST_DATAGRAM_BYTES = 1400
CROSS_HOST_HEARTBEAT_NS = 100_000_000   # and lost fragments are asked for again within 0.1 s (Fast DDS: 3 s)  # the largest domain id whose ports stay out of Linux's ephemeral range


def profile_path() -> str:
    """Path of the loopback Fast DDS XML profile shipped inside the package."""
    return str(resources.files("robot_rl") / "resources" / "fastdds_loopback.xml")


def hosts_profile(address: str, peers: list[str]) -> str:
    """A Fast DDS profile for dds "hosts" (module docstring), written once per content to a file
    under the temp dir; returns its path."""
    for a in [address, *peers]:
        try:
            ipaddress.IPv4Address(a)
        except ValueError:
            raise ValueError(f"dds hosts: {a!r} is not an IPv4 address") from None
    if not peers:
        raise ValueError("dds hosts: no peers (the other hosts' addresses)")
    # this host's nodes share the loopback profile's SHM transport (its descriptor, by its id)
    loopback = pathlib.Path(profile_path()).read_text()
    shm = re.search(r"^ *<transport_descriptor>\s*<transport_id>robot_rl_shm</transport_id>.*?</transport_descriptor>\n",
                    loopback, re.M | re.S).group(0)
    allow = "".join(f"          <address>{a}</address>\n" for a in ["127.0.0.1", address])
    initial = "".join(f"            <locator><udpv4><address>{a}</address></udpv4></locator>\n"
                      for a in dict.fromkeys(["127.0.0.1", address, *peers]))
    writers = "".join(f"""    <data_writer profile_name="{topic}">
      <propertiesPolicy><properties><property>
        <name>fastdds.max_message_size</name><value>{CROSS_HOST_DATAGRAM_BYTES}</value>
      </property></properties></propertiesPolicy>
      <times><heartbeat_period><sec>0</sec><nanosec>{CROSS_HOST_HEARTBEAT_NS}</nanosec></heartbeat_period></times>
    </data_writer>
""" for topic in CROSS_HOST_TOPICS)
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- robot_rl dds "hosts": this host {address}, peers {", ".join(peers)} (written by robot_rl.ros_env) -->
<dds xmlns="http://www.eprosima.com">
  <profiles>
    <transport_descriptors>
{shm}      <transport_descriptor>
        <transport_id>robot_rl_udp_hosts</transport_id>
        <type>UDPv4</type>
        <interfaceWhiteList>
{allow}        </interfaceWhiteList>
      </transport_descriptor>
    </transport_descriptors>
    <participant profile_name="robot_rl_hosts" is_default_profile="true">
      <rtps>
        <builtin>
          <initialPeersList>
{initial}          </initialPeersList>
        </builtin>
        <userTransports>
          <transport_id>robot_rl_shm</transport_id>
          <transport_id>robot_rl_udp_hosts</transport_id>
        </userTransports>
        <useBuiltinTransports>false</useBuiltinTransports>
      </rtps>
    </participant>
{writers}  </profiles>
</dds>
"""
    folder = os.path.join(tempfile.gettempdir(), "robot_rl")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"fastdds_hosts_{hashlib.sha256(text.encode()).hexdigest()[:16]}.xml")
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    return path


def wheel_library_dirs() -> list[str]:
    """Library folders of the ROS 2 PyPI wheels in this interpreter's environment (may be empty,
    e.g. with a system ROS install, whose setup.bash already set LD_LIBRARY_PATH)."""
    dirs: list[str] = []
    prefix_lib = os.path.join(sys.prefix, "lib")
    site_dirs = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    for site in sorted(site_dirs):
        dirs.extend(sorted(d for d in glob.glob(os.path.join(site, "ros_*.libs")) if os.path.isdir(d)))
    if dirs:
        dirs.insert(0, prefix_lib)
    return dirs


def validate_domain_id(domain_id: int) -> int:
    if isinstance(domain_id, bool) or not isinstance(domain_id, int) or not 0 <= domain_id <= MAX_DOMAIN_ID:
        raise ValueError(f"ROS domain id must be an integer in 0..{MAX_DOMAIN_ID}, got {domain_id!r}")
    return domain_id


def random_domain_id(rng: random.Random | None = None) -> int:
    """A domain id for a test or bench run, away from 0 (the default a person's shell uses)."""
    return (rng or random.Random()).randint(10, MAX_DOMAIN_ID)


def domain_in_use(domain_id: int, participants: int = 8) -> bool:
    """True if a DDS participant on this machine holds one of the domain's unicast discovery ports
    (RTPS default mapping: 7400 + 250 * domain + 10 + 2 * participant)."""
    import socket
    for p in range(participants):
        port = 7400 + 250 * domain_id + 10 + 2 * p
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return True
    return False


def private_domain_id(rng: random.Random | None = None, tries: int = 50) -> int:
    """A domain id no participant on this machine uses yet, for a self-contained graph (the
    simulator and everything that talks to it): two sessions, or a session and a preflight, then
    never exchange messages. Away from 0."""
    rng = rng or random.Random()
    for _ in range(tries):
        domain = random_domain_id(rng)
        if not domain_in_use(domain):
            return domain
    raise RuntimeError(f"no free ROS domain id found in {tries} tries")


def sim_graph_domain() -> int | None:
    """The domain for a graph that contains its own (simulated) robot: ROS_DOMAIN_ID when the
    user set one, else a private one."""
    return None if os.environ.get("ROS_DOMAIN_ID", "").strip() else private_domain_id()


def ros_environment(
    base: Mapping[str, str] | None = None,
    domain_id: int | None = None,
    dds: DdsScope = "loopback",
    address: str = "",
    peers: list[str] | None = None,
) -> dict[str, str]:
    """A copy of `base` (default: os.environ) prepared for a ROS 2 process of ours. `address`,
    `peers`: this host's address and the other hosts' (dds "hosts" only)."""
    env = dict(os.environ if base is None else base)
    libs = wheel_library_dirs()
    if libs:
        current = [p for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
        env["LD_LIBRARY_PATH"] = os.pathsep.join(libs + [p for p in current if p not in libs])
    env[BOOTSTRAP_FLAG] = "1"
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    if domain_id is None:
        raw = env.get("ROS_DOMAIN_ID", "").strip() or "0"
        if not raw.isdigit():
            raise ValueError(f"ROS_DOMAIN_ID in the environment must be an integer in 0..{MAX_DOMAIN_ID}, got {raw!r}")
        domain_id = int(raw)
    env["ROS_DOMAIN_ID"] = str(validate_domain_id(domain_id))
    if dds in ("loopback", "hosts"):
        env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "SUBNET"   # the profile decides (module docstring)
        env.pop("ROS_STATIC_PEERS", None)
        env.pop("ROS_LOCALHOST_ONLY", None)  # deprecated; conflicts with the range variable
        env[PROFILE_VAR] = profile_path() if dds == "loopback" else hosts_profile(address, list(peers or []))
        env.pop(DEPRECATED_PROFILE_VAR, None)
    elif dds != "system":
        raise ValueError(f"dds scope must be 'loopback', 'hosts' or 'system', got {dds!r}")
    env["PYTHONUNBUFFERED"] = "1"  # children's logs reach the graph runner line by line
    env["RCUTILS_LOGGING_BUFFERED_STREAM"] = "0"
    env[MARKER] = dds
    return env


def is_prepared(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get(BOOTSTRAP_FLAG) == "1" and env.get(MARKER) in ("loopback", "hosts", "system")


def ensure_prepared(dds: DdsScope = "loopback") -> None:
    """Called first by every node entry point: if this process was not started with our
    environment (e.g. `python -m ros_nodes.x` typed by hand), re-execute it once with it.
    LD_LIBRARY_PATH only takes effect for a new process image, hence the exec."""
    if is_prepared():
        return
    os.execve(sys.executable, sys.orig_argv, ros_environment(dds=dds))


def shell_exports(env: Mapping[str, str]) -> str:
    """`export` lines for the variables ros_environment sets, for `eval "$(robot-rl env)"`."""
    keys = ["LD_LIBRARY_PATH", BOOTSTRAP_FLAG, "RMW_IMPLEMENTATION", "ROS_DOMAIN_ID",
            "ROS_AUTOMATIC_DISCOVERY_RANGE", PROFILE_VAR, MARKER]
    return "\n".join(f"export {k}={shlex.quote(env[k])}" for k in keys if k in env)


SHM_DIR = pathlib.Path("/dev/shm")
_SEGMENT_LOCK = re.compile(r"^fastdds_[0-9a-z]{16}_el$")


def clean_stale_shm(folder: pathlib.Path = SHM_DIR) -> tuple[int, int]:
    """Remove the Fast DDS shared-memory segments whose process is gone; (segments, bytes) freed.

    A process frees its segment when it exits, but not when it is killed (SIGKILL, the OOM killer,
    a crash). A live owner holds an exclusive lock on the segment's `_el` file, so a segment whose
    lock can be taken has none: what Fast DDS's own `fastdds shm clean` removes (it needs psutil,
    which the ROS wheels do not bring). The segments live in RAM (tmpfs): left alone, every killed
    graph keeps its participants' 32 MB each until the machine runs out of memory."""
    import fcntl
    removed = freed = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0, 0
    for name in names:
        if not _SEGMENT_LOCK.match(name):
            continue
        lock, segment = folder / name, folder / name[:-3]
        try:
            with open(lock, "ab") as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)   # fails while the owner lives
                size = segment.stat().st_size if segment.exists() else 0
                segment.unlink(missing_ok=True)
                lock.unlink(missing_ok=True)
        except OSError:
            continue
        removed, freed = removed + 1, freed + size
    return removed, freed
