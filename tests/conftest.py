"""Shared fixtures: real processes in a per-run ROS domain, on loopback DDS only."""
from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

# One torch/OpenMP thread in the test processes and the learners they start (set before anything
# imports torch): with two, each op waits on both threads, and beside other CPU work (a busy CI
# runner) the small learning tests slowed several-fold (docs/BENCHMARKS.md, "The test suite").
os.environ.setdefault("OMP_NUM_THREADS", "1")

from robot_rl import ros_env  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def user_module(source: pathlib.Path, name: str, folder: pathlib.Path, monkeypatch):
    """`source` copied into a folder of its own as module `name`, importable (not part of robot_rl),
    as a user's code outside the package; the folder is yielded and the module forgotten after."""
    folder.mkdir()
    shutil.copy(source, folder / f"{name}.py")
    monkeypatch.syspath_prepend(str(folder))
    try:
        yield folder
    finally:
        sys.modules.pop(name, None)


@pytest.fixture
def ros_domain() -> int:
    """A ROS_DOMAIN_ID of the test's own, one no participant on this machine uses when it starts:
    nothing of another test (a node still shutting down) or of a parallel run can reach its nodes."""
    return ros_env.private_domain_id()


@pytest.fixture
def ros_child_env(ros_domain, tmp_path) -> dict:
    env = ros_env.ros_environment(domain_id=ros_domain, dds="loopback")
    env["ROS_LOG_DIR"] = str(tmp_path / "ros_log")
    return env


class Procs:
    """Starts processes in their own sessions and makes sure none outlives the test."""

    def __init__(self, env: dict, tmp: pathlib.Path):
        self.env, self.tmp, self.procs = env, tmp, []

    def node(self, module: str, name: str, **params) -> subprocess.Popen:
        from robot_rl.graph import NodeSpec

        spec = NodeSpec(name=name, module=module, parameters=params)
        return self.start(spec.command(), name)

    def start(self, cmd: list[str], name: str, **kwargs) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=REPO, **kwargs)
        proc.log_path = self.tmp / f"{name}.log"
        self.procs.append(proc)
        return proc

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        # killed nodes leave their shared-memory segments (RAM) behind: free them, as graphs do
        ros_env.clean_stale_shm()


@pytest.fixture
def procs(ros_child_env, tmp_path):
    p = Procs(ros_child_env, tmp_path)
    yield p
    p.cleanup()


def wait_exit(proc: subprocess.Popen, timeout: float) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log = proc.log_path.read_text(errors="replace")[-3000:] if hasattr(proc, "log_path") else ""
        pytest.fail(f"process {proc.args[:4]} still running after {timeout} s; log tail:\n{log}")


def run_logged(cmd: list[str], folder: pathlib.Path, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run with its output in files under `folder`: under pytest's own timeout, a command
    that hangs is stopped (SIGINT to its process group, then SIGKILL) and the test fails with what
    it printed, rather than pytest killing the test with nothing of the command's output."""
    folder.mkdir(parents=True, exist_ok=True)
    out_path, err_path = folder / "stdout.log", folder / "stderr.log"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True,
                                text=True, **kwargs)
        try:
            code = proc.wait(timeout=timeout)
        except BaseException as exc:   # our timeout, or pytest's, or Ctrl-C: the command goes too
            for sig, wait in ((signal.SIGINT, 15), (signal.SIGKILL, None)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=wait)
                    break
            if not isinstance(exc, subprocess.TimeoutExpired):
                raise
            pytest.fail(f"{cmd[:4]} still running after {timeout} s; stdout tail:\n"
                        f"{out_path.read_text(errors='replace')[-3000:]}\nstderr tail:\n"
                        f"{err_path.read_text(errors='replace')[-3000:]}")
    return subprocess.CompletedProcess(cmd, code, out_path.read_text(errors="replace"),
                                       err_path.read_text(errors="replace"))


def read_json(path: pathlib.Path) -> dict:
    return json.loads(path.read_text())


def pid_alive(pid: int) -> bool:
    """True if pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def children_of(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                pass
    return out


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


ROBOT_RL = [sys.executable, "-m", "robot_rl.cli"]


def publish_mlp(registry, name: str, obs, action, seed: int = 0, hidden=(16,)) -> pathlib.Path:
    """A randomly initialised MLP policy (torch seed `seed`) exported with the parity check and
    published to `registry` (a PolicyRegistry) as the next version of `name`: its registry path."""
    import torch

    from robot_rl.policy import PolicyMetadata
    from robot_rl.policy.export import export
    from robot_rl.policy.models import MLPPolicy

    torch.manual_seed(seed)
    meta = PolicyMetadata(name=name, obs=[obs], action=action)
    return registry.publish(export(MLPPolicy(obs, action, hidden=tuple(hidden)), meta)[0], meta)


def mismatched_outputs(registry, name: str = "liar") -> pathlib.Path:
    """An ONNX proprio[17] -> action[3] published to `registry` under metadata that says 5 actions:
    self-consistent on disk (sha256 matches), wrong in its graph."""
    from robot_rl.policy import ActionSpec, ObsSpec
    from robot_rl.policy import PolicyMetadata

    proprio = ObsSpec("proprio", [17])
    five = ActionSpec(["dx", "dy", "dz", "dyaw", "gripper"], [-1.0] * 5, [1.0] * 5)
    three = ActionSpec(["dx", "dy", "dz"], [-1.0] * 3, [1.0] * 3)
    path = publish_mlp(registry, name, proprio, three, hidden=(8,))
    data = path.read_bytes()
    path.unlink()
    path.with_suffix(".json").unlink()
    return registry.publish(data, PolicyMetadata(name=name, obs=[proprio], action=five))


def arm6_control(rate_hz: float = 10.0):
    """arm6's safety config and action scaling at rate_hz, from its description."""
    from robot_rl import robot
    from robot_rl.control.core import robot_control
    return robot_control(robot.load("arm6"), rate_hz)


def ARM6_SAFETY():  # noqa: N802 - reads as the constant it stands for
    return arm6_control()[0]


def ARM6_COMMAND():  # noqa: N802
    return arm6_control()[1]


def drive_sim(procs, tmp_path: pathlib.Path, seconds: float, sim: dict, control: dict) -> tuple[dict, dict]:
    """The sim robot node (realtime, no cameras) and a control node driving it for `seconds`, both
    stopped by SIGINT: (the control node's report, the sim's report)."""
    sim_node = procs.node("sim_robot", "sim", **{"mode": "realtime", "control_hz": 20.0, "cameras": "", **sim},
                          report_path=str(tmp_path / "sim.json"))
    ctl = procs.node("control_node", "control", **{"rate_hz": 20.0, **control}, report_path=str(tmp_path / "ctl.json"))
    time.sleep(seconds)
    ctl.send_signal(signal.SIGINT)
    assert wait_exit(ctl, 20) == 0, ctl.log_path.read_text()[-3000:]
    sim_node.send_signal(signal.SIGINT)
    assert wait_exit(sim_node, 20) == 0
    return read_json(tmp_path / "ctl.json"), read_json(tmp_path / "sim.json")
