"""Two machines on one: network namespaces joined by a veth pair, each with its own /dev/shm and
machine id (what makes Fast DDS take them for two hosts), and the link between them cut, lossy or
slow on demand (nftables drops, tc's token bucket). For tests/test_two_hosts.py and
bench/episode_transfer.py; needs root."""
from __future__ import annotations

import os
import random
import re
import subprocess


class NamespacesRefused(RuntimeError):
    """This kernel or user may not make network namespaces."""


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


class TwoHosts:
    """Namespaces `a` and `b`, addresses `addr[a]`, `addr[b]` on one /24, and `command(host, cmd)`:
    the command line that runs `cmd` as if on that machine."""

    def __init__(self, tmp_path):
        tag = f"{os.getpid() % 10000}{random.randrange(100)}"
        self.ns = {"a": f"rra{tag}", "b": f"rrb{tag}"}
        self.dev = {"a": f"rva{tag}", "b": f"rvb{tag}"}
        net = f"10.{random.randrange(100, 250)}.{random.randrange(256)}"
        self.addr = {"a": f"{net}.1", "b": f"{net}.2"}
        self.tmp = tmp_path
        made = _ip("netns", "add", self.ns["a"])
        if made.returncode != 0:
            raise NamespacesRefused(f"this kernel or user may not make network namespaces: {made.stderr.strip()}")
        for cmd in (["netns", "add", self.ns["b"]],
                    ["link", "add", self.dev["a"], "type", "veth", "peer", "name", self.dev["b"]]):
            r = _ip(*cmd)
            assert r.returncode == 0, r.stderr
        for h in "ab":
            for cmd in (["link", "set", self.dev[h], "netns", self.ns[h]],
                        ["-n", self.ns[h], "addr", "add", f"{self.addr[h]}/24", "dev", self.dev[h]],
                        ["-n", self.ns[h], "link", "set", self.dev[h], "up"],
                        ["-n", self.ns[h], "link", "set", "lo", "up"]):
                r = _ip(*cmd)
                assert r.returncode == 0, r.stderr
            (tmp_path / f"machine-id-{h}").write_text(f"{random.getrandbits(128):032x}\n")

    def command(self, host: str, cmd: list[str]) -> list[str]:
        inner = (f"mount -t tmpfs tmpfs /dev/shm && mount --bind {self.tmp}/machine-id-{host} /etc/machine-id"
                 f" && exec {' '.join(cmd)}")
        return ["ip", "netns", "exec", self.ns[host], "unshare", "--mount", "--propagation", "private",
                "bash", "-c", inner]

    def link(self, up: bool) -> None:
        r = _ip("-n", self.ns["a"], "link", "set", self.dev["a"], "up" if up else "down")
        assert r.returncode == 0, r.stderr

    def impair(self, loss_pct: int = 0, rate_mbit: float = 0.0) -> None:
        """Drop `loss_pct`% of the frames each way at random (nftables, on each end's ingress) and
        limit each direction to `rate_mbit` (tc tbf); 0 leaves that part clean."""
        for h in "ab":
            if loss_pct:
                rules = (f"table netdev rrloss {{\n chain in {{\n  type filter hook ingress device {self.dev[h]} "
                         f"priority 0;\n  numgen random mod 100 < {int(loss_pct)} counter drop\n }}\n}}\n")
                r = subprocess.run(["ip", "netns", "exec", self.ns[h], "nft", "-f", "-"], input=rules,
                                   capture_output=True, text=True)
                assert r.returncode == 0, r.stderr
            if rate_mbit:
                r = subprocess.run(["ip", "netns", "exec", self.ns[h], "tc", "qdisc", "add", "dev", self.dev[h],
                                    "root", "tbf", "rate", f"{rate_mbit:g}mbit", "burst", "64kb",
                                    "latency", "400ms"], capture_output=True, text=True)
                assert r.returncode == 0, r.stderr

    def dropped(self) -> int:
        """Frames the loss rules dropped so far, both ends."""
        total = 0
        for h in "ab":
            r = subprocess.run(["ip", "netns", "exec", self.ns[h], "nft", "list", "table", "netdev", "rrloss"],
                               capture_output=True, text=True)
            total += sum(int(x) for x in re.findall(r"counter packets (\d+)", r.stdout))
        return total

    def remove(self) -> None:
        for h in "ab":
            _ip("netns", "del", self.ns[h])   # takes its end of the veth pair with it
