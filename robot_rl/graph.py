"""The graph runner behind `robot-rl up CONFIG.yaml`: starts a graph's nodes as child processes.

- Each node is `python -m <module> --ros-args -r __node:=<name> -p key:=value ...`, started in the
  environment robot_rl.ros_env prepares (library path, loopback DDS, the graph's domain id).
- Child output is prefixed with the node's name, line by line.
- SIGINT/SIGTERM to the runner is forwarded to every child; children still alive after the
  shutdown timeout are killed. Children are in their own sessions (a terminal's Ctrl-C reaches
  them once, through us) and get SIGTERM if the runner itself dies (PR_SET_PDEATHSIG); a node also
  ends by itself once its parent is no longer the runner (ROBOT_RL_RUNNER_PID, ros_nodes.runtime),
  so no orphan outlives the graph.
- A node with `restart: on-failure|always` is restarted (up to max_restarts), and finds how many
  times in ROBOT_RL_NODE_RESTARTS (a learner then continues from its checkpoint); a required node
  that ends for good ends the graph, and the runner exits 1 if it failed (0 if it exited cleanly).

This module is ROS-free: it only starts processes.
"""
from __future__ import annotations

import ctypes
import dataclasses
import ipaddress
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

import yaml

from robot_rl import ros_env

_ROS_PARAM_SCALARS = (bool, int, float, str)
_PR_SET_PDEATHSIG = 1


def _check_param(name: str, value: Any) -> None:
    """ROS parameters are scalars or homogeneous lists of scalars."""
    if isinstance(value, _ROS_PARAM_SCALARS):
        return
    if isinstance(value, list) and value:
        kinds = {bool if isinstance(v, bool) else (float if isinstance(v, (int, float)) else type(v)) for v in value}
        if len(kinds) == 1 and kinds <= {bool, float, str}:
            return
    raise ValueError(f"parameter {name!r} must be a bool, number, string or a non-empty list of one of those, "
                     f"got {value!r}")


@dataclass
class NodeSpec:
    """One node of a graph."""

    name: str
    module: str  # `synthetic_source` means ros_nodes.synthetic_source; a dotted path is used as is
    parameters: dict[str, Any] = field(default_factory=dict)
    required: bool = True  # the graph ends when this node ends for good
    restart: Literal["never", "on-failure", "always"] = "never"
    max_restarts: int = 3
    restart_delay_s: float = 1.0
    remappings: dict[str, str] = field(default_factory=dict)  # from-topic: to-topic
    env: dict[str, str] = field(default_factory=dict)
    # null: no input; inherit: the runner's stdin (a keyboard teleop node reads the terminal)
    stdin: Literal["null", "inherit"] = "null"
    host: str = ""   # the graph's host (GraphConfig.hosts) this node runs on; "" when it names none

    def validate(self) -> None:
        if not self.name or not self.name.replace("_", "a").isalnum() or self.name[0].isdigit():
            raise ValueError(f"node name {self.name!r} must be letters, digits and _ (not starting with a digit)")
        if self.max_restarts < 0 or self.restart_delay_s < 0:
            raise ValueError("max_restarts and restart_delay_s must be >= 0")
        for key, value in self.parameters.items():
            _check_param(key, value)

    @property
    def python_module(self) -> str:
        return self.module if "." in self.module else f"ros_nodes.{self.module}"

    def ros_args(self) -> list[str]:
        args = ["--ros-args", "-r", f"__node:={self.name}"]
        for src, dst in self.remappings.items():
            args += ["-r", f"{src}:={dst}"]
        for key, value in self.parameters.items():
            args += ["-p", f"{key}:={format_param(value)}"]
        return args

    def command(self, python: str = sys.executable) -> list[str]:
        return [python, "-m", self.python_module, *self.ros_args()]


def format_param(value: Any) -> str:
    """A parameter value as ROS's `-p key:=value` parser (YAML) reads it back unchanged."""
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"  # keep 30.0 a double: `30` would arrive as an integer
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("\n...").strip()


@dataclass
class HostSpec:
    """A machine of a graph that spans several (docs/TWO_HOSTS.md)."""

    address: str   # its IPv4 address on the network the hosts share: DDS uses that interface only


@dataclass
class GraphConfig:
    """A graph of nodes: what `robot-rl up` starts and launch/*.launch.py mirror."""

    name: str
    nodes: list[NodeSpec]
    domain_id: int | None = None  # None: ROS_DOMAIN_ID from the environment, else 0
    dds: Literal["loopback", "system"] = "loopback"
    shutdown_timeout_s: float = 5.0
    # Machines by name, when the graph spans several: each node names its `host`, and
    # `robot-rl up CONFIG --host NAME` on each machine starts that host's nodes, DDS on its address
    # and the others' only. Without --host the whole graph runs on this machine, as `dds` says.
    hosts: dict[str, HostSpec] = field(default_factory=dict)

    def validate(self) -> None:
        if not self.nodes:
            raise ValueError("a graph needs at least one node")
        names = [n.name for n in self.nodes]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"duplicate node name {sorted(dup)[0]!r}")
        if self.domain_id is not None:
            ros_env.validate_domain_id(self.domain_id)
        if self.shutdown_timeout_s <= 0:
            raise ValueError("shutdown_timeout_s must be > 0")
        if self.hosts:
            for name, host in self.hosts.items():
                try:
                    ipaddress.IPv4Address(host.address)
                except ValueError:
                    raise ValueError(f"host {name}: address {host.address!r} is not an IPv4 address") from None
            if len({h.address for h in self.hosts.values()}) < len(self.hosts):
                raise ValueError("two hosts share an address")
            for node in self.nodes:
                if node.host not in self.hosts:
                    raise ValueError(f"node {node.name}: host {node.host!r} is not one of {', '.join(self.hosts)}")
        elif any(n.host for n in self.nodes):
            raise ValueError(f"node {next(n.name for n in self.nodes if n.host)} names a host, but the graph has no hosts")

    def on_host(self, host: str) -> "GraphConfig":
        """The part of the graph that runs on `host`."""
        if host not in self.hosts:
            raise ValueError(f"--host {host!r} is not one of the graph's hosts ({', '.join(self.hosts) or 'none'})")
        nodes = [n for n in self.nodes if n.host == host]
        if not nodes:
            raise ValueError(f"host {host!r} runs none of the graph's nodes")
        return dataclasses.replace(self, nodes=nodes)

    def peers(self, host: str) -> list[str]:
        """The other hosts' addresses, as seen from `host`."""
        me = self.hosts[host].address
        return [h.address for h in self.hosts.values() if h.address != me]

    def environment(self, host: str = "") -> dict[str, str]:
        """The process environment of this graph's nodes: on `host` of a graph that spans machines,
        DDS on that host's address and its peers' (ros_env dds "hosts"); else the graph's `dds`.
        `robot-rl up` starts nodes in it; `robot-rl env --graph G --host H` prints it for a shell."""
        if host:
            return ros_env.ros_environment(domain_id=self.domain_id, dds="hosts", address=self.hosts[host].address,
                                           peers=self.peers(host))
        return ros_env.ros_environment(domain_id=self.domain_id, dds=self.dds)


def _set_pdeathsig() -> None:
    """In the child, before exec: get SIGTERM when the parent (the runner) dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


@dataclass
class _Child:
    spec: NodeSpec
    proc: subprocess.Popen | None = None
    restarts: int = 0
    done: bool = False  # ended for good
    returncode: int | None = None
    restart_at: float | None = None
    partial: bytes = b""  # output after the last newline


class GraphRunner:
    """Start, watch and stop a graph. `run()` blocks until the graph ends; returns the exit code."""

    def __init__(self, graph: GraphConfig, out: TextIO | None = None, duration_s: float | None = None,
                 python: str = sys.executable, extra_env: dict[str, str] | None = None, host: str = ""):
        """`host`: run that host's part of a graph that spans machines (GraphConfig.hosts)."""
        if host:
            graph = graph.on_host(host)
        self.graph, self.host = graph, host
        self.out = out or sys.stdout
        self.duration_s = duration_s
        self.python = python
        self.peers = graph.peers(host) if host else []
        self.env = graph.environment(host)
        self.env.update(extra_env or {})
        self.children = [_Child(spec) for spec in graph.nodes]
        self._selector = selectors.DefaultSelector()
        self._out_lock = threading.Lock()
        self._stop_reason: str | None = None
        self._exit_code = 0
        # optional nodes that ended for good while the graph ran, by name: how ("exited with code 1")
        self.ended_early: dict[str, str] = {}
        # nodes restarted while the graph ran, by name: how each run before a restart ended
        self.restarted: dict[str, list[str]] = {}
        self._width = max(len(s.name) for s in graph.nodes)

    # -- output ------------------------------------------------------------------------------
    def _emit(self, name: str, line: str) -> None:
        with self._out_lock:
            self.out.write(f"[{name:<{self._width}}] {line}\n")
            self.out.flush()

    def _say(self, line: str) -> None:
        self._emit("up", line)

    # -- processes ---------------------------------------------------------------------------
    def _start(self, child: _Child) -> None:
        env = dict(self.env)
        env.update(child.spec.env)
        env[ros_env.RUNNER_PID_VAR] = str(os.getpid())   # ros_nodes.runtime: a node ends when we are gone
        env[ros_env.RESTARTS_VAR] = str(child.restarts)   # a restarted node may continue where it stopped
        child.proc = subprocess.Popen(
            child.spec.command(self.python), env=env,
            stdin=None if child.spec.stdin == "inherit" else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_set_pdeathsig)
        child.restart_at = None
        self._selector.register(child.proc.stdout, selectors.EVENT_READ, child)
        self._say(f"started {child.spec.name} (pid {child.proc.pid}): python -m {child.spec.python_module}")

    def _drain(self, timeout: float) -> None:
        """Forward whatever children wrote. os.read, not readline: a child writing a partial line
        (a progress bar) must never block the runner, which also handles the signals."""
        for key, _ in self._selector.select(timeout):
            child: _Child = key.data
            chunk = os.read(key.fd, 65536)
            if chunk:
                self._forward(child, chunk)
            else:
                self._selector.unregister(key.fileobj)

    def _forward(self, child: _Child, data: bytes, final: bool = False) -> None:
        """Emit the complete lines in child.partial + data; keep the rest for later unless final."""
        *lines, child.partial = (child.partial + data).split(b"\n")
        if final and child.partial:
            lines.append(child.partial)
            child.partial = b""
        for line in lines:
            self._emit(child.spec.name, line.decode(errors="replace").rstrip("\r"))

    def _reap(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.done:
                continue
            if child.proc is None:
                if child.restart_at is not None and now >= child.restart_at and self._stop_reason is None:
                    self._start(child)
                continue
            code = child.proc.poll()
            if code is None:
                continue
            self._drain_child(child)
            child.returncode = code
            child.proc = None
            if self._stop_reason is not None:
                child.done = True
                continue
            spec = child.spec
            failed = code != 0
            how = f"exited with code {code}" if code >= 0 else f"was killed by {signal.Signals(-code).name}"
            want_restart = spec.restart == "always" or (spec.restart == "on-failure" and failed)
            if want_restart and child.restarts < spec.max_restarts:
                child.restarts += 1
                child.restart_at = now + spec.restart_delay_s
                self.restarted.setdefault(spec.name, []).append(how)
                self._say(f"{spec.name} {how}; restarting in {spec.restart_delay_s:g} s "
                          f"({child.restarts}/{spec.max_restarts})")
                continue
            child.done = True
            if spec.required:
                self._say(f"required node {spec.name} {how}; shutting down the graph")
                self._exit_code = 1 if failed else 0
                self._stop_reason = f"{spec.name} ended"
            else:
                self._say(f"node {spec.name} {how}" + ("; giving up restarts" if want_restart else ""))
                self.ended_early[spec.name] = how

    def _drain_child(self, child: _Child) -> None:
        """Forward what a finished child left in its pipe, then close the pipe."""
        stream = child.proc.stdout
        try:
            self._selector.unregister(stream)
        except (KeyError, ValueError):
            pass
        self._forward(child, stream.read(), final=True)
        stream.close()

    def _signal_all(self, sig: int) -> None:
        for child in self.children:
            if child.proc is not None and child.proc.poll() is None:
                try:
                    os.killpg(child.proc.pid, sig)
                except ProcessLookupError:
                    pass

    def request_stop(self, reason: str) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason

    # -- main loop ---------------------------------------------------------------------------
    def run(self) -> int:
        previous = {}

        def on_signal(signum, _frame):
            self.request_stop(signal.Signals(signum).name)

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, on_signal)
        where = (f"host {self.host} ({self.graph.hosts[self.host].address}), DDS to {', '.join(self.peers)}"
                 if self.host else f"DDS {self.graph.dds}")
        stale, freed = ros_env.clean_stale_shm()
        if stale:
            self._say(f"removed {stale} shared-memory segments ({freed / 2**20:.0f} MB) that killed ROS processes "
                      "left in /dev/shm")
        self._say(f"graph {self.graph.name!r}: {len(self.children)} nodes, ROS_DOMAIN_ID="
                  f"{self.env['ROS_DOMAIN_ID']}, {where}")
        deadline = time.monotonic() + self.duration_s if self.duration_s else None
        try:
            for child in self.children:
                self._start(child)
            while self._stop_reason is None:
                self._drain(0.05)
                self._reap()
                if all(c.done for c in self.children):
                    self._stop_reason = "all nodes ended"
                if deadline is not None and time.monotonic() >= deadline:
                    self.request_stop(f"--duration {self.duration_s:g} s reached")
            self._shutdown()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._selector.close()
        self._say(f"graph stopped ({self._stop_reason}); exit code {self._exit_code}")
        return self._exit_code

    def _shutdown(self) -> None:
        live = [c for c in self.children if c.proc is not None]
        if live:
            self._say(f"stopping {len(live)} node(s) ({self._stop_reason})")
        self._signal_all(signal.SIGINT)
        end = time.monotonic() + self.graph.shutdown_timeout_s
        while time.monotonic() < end and any(c.proc is not None and c.proc.poll() is None for c in self.children):
            self._drain(0.05)
        stubborn = [c.spec.name for c in self.children if c.proc is not None and c.proc.poll() is None]
        if stubborn:
            self._say(f"killing {', '.join(stubborn)}: still running {self.graph.shutdown_timeout_s:g} s after SIGINT")
            self._signal_all(signal.SIGKILL)
        for child in self.children:
            if child.proc is not None:
                child.proc.wait()
                self._drain_child(child)
                child.returncode = child.proc.returncode
                child.proc = None
            child.done = True
