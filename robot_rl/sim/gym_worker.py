"""A Gymnasium env, run in this process or in a process of its own (another virtual environment:
an env that pins a MuJoCo or a numpy this project does not use), behind one small interface:
make, reset(seed), step(action), close. robot_rl.sim.gym_env maps what it returns onto a robot.

This file needs only the standard library, numpy and gymnasium: the env's own interpreter runs it
by path (`<python> -I gym_worker.py`: -I keeps this folder, whose operator.py would shadow the standard library's, off sys.path), with nothing of robot_rl installed there. Messages on the
worker's stdin/stdout, both ways, no pickle:

    the header's length (4 bytes, big-endian), the header (UTF-8 JSON), the arrays' bytes

The header's "arrays" lists [key, dtype, shape] for each array in the order of their bytes.
Observations are flattened to dotted keys ("pixels.front"); the privileged state (`state`) is read
from the env's MuJoCo data by accessor: "sensor:<name>" (a sensor's value) or "attr:<a.b>" (an
attribute path of the unwrapped env).
"""
from __future__ import annotations

import importlib
import json
import os
import signal
import struct
import subprocess
import sys
from typing import Any, BinaryIO, Optional

import numpy as np

MAX_HEADER = 1 << 20


# --- the wire ---------------------------------------------------------------------------------------
def send(out: BinaryIO, header: dict, arrays: Optional[dict[str, np.ndarray]] = None) -> None:
    arrays = {k: np.ascontiguousarray(v) for k, v in (arrays or {}).items()}
    head = json.dumps({**header, "arrays": [[k, v.dtype.str, list(v.shape)] for k, v in arrays.items()]}).encode()
    out.write(struct.pack(">I", len(head)) + head)
    for v in arrays.values():
        out.write(memoryview(v).cast("B"))
    out.flush()


def _read(inp: BinaryIO, n: int) -> bytes:
    buf = inp.read(n)
    if buf is None or len(buf) != n:
        raise EOFError(f"gym worker: stream ended ({0 if not buf else len(buf)} of {n} bytes)")
    return buf


def receive(inp: BinaryIO) -> tuple[dict, dict[str, np.ndarray]]:
    (n,) = struct.unpack(">I", _read(inp, 4))
    if n > MAX_HEADER:
        raise ValueError(f"gym worker: a header of {n} bytes (the stream is out of step)")
    header = json.loads(_read(inp, n).decode())
    arrays = {}
    for key, dtype, shape in header.pop("arrays", []):
        dt = np.dtype(dtype)
        if dt.hasobject:
            raise ValueError(f"gym worker: array {key} has object dtype")
        count = int(np.prod(shape, dtype=np.int64))
        arrays[key] = np.frombuffer(bytearray(_read(inp, count * dt.itemsize)), dtype=dt).reshape(shape)  # writable
    return header, arrays


# --- the env ----------------------------------------------------------------------------------------
def flatten(obs: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """A (nested dict) observation as {dotted key: array}."""
    if isinstance(obs, dict):
        out: dict[str, np.ndarray] = {}
        for k, v in obs.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1] or "obs": np.asarray(obs)}


def _scalars(info: dict) -> dict[str, Any]:
    """The info entries a header can carry: bools, numbers and strings (numpy scalars included)."""
    out = {}
    for k, v in info.items():
        if isinstance(v, (bool, int, float, str, np.bool_, np.integer, np.floating)):
            out[str(k)] = v.item() if isinstance(v, np.generic) else v
        elif isinstance(v, np.ndarray) and v.size == 1 and v.dtype.kind in "biuf":
            out[str(k)] = v.item()
    return out


class Runner:
    """One env, made by gymnasium id (after importing the modules that register it)."""

    def __init__(self, id: str, imports: list[str], kwargs: dict, state: dict[str, str], shadows: bool = True,
                 seed_global: bool = False, pythonpath: Optional[list[str]] = None) -> None:
        import gymnasium as gym
        for folder in pythonpath or []:
            if folder not in sys.path:
                sys.path.insert(0, folder)
        for module in imports:
            importlib.import_module(module)
        self.env = gym.make(id, **kwargs)
        self.unwrapped = self.env.unwrapped
        self.state_spec, self.seed_global = dict(state), seed_global
        if not shadows:   # a CPU renderer spends most of a frame on shadow maps (docs/ENVS.md)
            model = self._mujoco("model")
            model.light_castshadow[:] = 0

    def _mujoco(self, what: str) -> Any:
        for name in (what, f"_{what}"):
            value = getattr(self.unwrapped, name, None)
            if value is not None:
                return value
        raise ValueError(f"the env has no MuJoCo {what} (as .{what} or ._{what}) to read state or render settings from")

    def describe(self) -> dict:
        space = self.env.action_space
        if not hasattr(space, "low"):
            raise ValueError(f"the env's action space is {space}, not a Box")
        obs = {k: [list(v.shape), v.dtype.str] for k, v in flatten(self.env.observation_space.sample()).items()}
        spec = getattr(self.env, "spec", None)
        return {"action_low": np.asarray(space.low, float).tolist(), "action_high": np.asarray(space.high, float).tolist(),
                "observation": obs, "max_episode_steps": getattr(spec, "max_episode_steps", None) or 0}

    def state(self) -> dict[str, np.ndarray]:
        out = {}
        for name, accessor in self.state_spec.items():
            kind, _, path = accessor.partition(":")
            if kind == "sensor":
                value = self._mujoco("data").sensor(path).data
            elif kind == "attr":
                value = self.unwrapped
                for part in path.split("."):
                    value = getattr(value, part)
            else:
                raise ValueError(f"state {name}: accessor {accessor!r} is not sensor:<name> or attr:<path>")
            out[f"state.{name}"] = np.array(value, dtype=np.float64).reshape(-1)
        return out

    def reset(self, seed: int) -> tuple[dict, dict[str, np.ndarray]]:
        if self.seed_global:   # envs that draw their layout from numpy's global generator
            np.random.seed(seed)
        obs, info = self.env.reset(seed=seed)
        return {"info": _scalars(info)}, {**flatten(obs), **self.state()}

    def step(self, action: np.ndarray) -> tuple[dict, dict[str, np.ndarray]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return ({"reward": float(reward), "terminated": bool(terminated), "truncated": bool(truncated),
                 "info": _scalars(info)}, {**flatten(obs), **self.state()})

    def close(self) -> None:
        self.env.close()


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    """Answer make/reset/step/close until close or the end of the stream; an error is a reply."""
    runner: Optional[Runner] = None
    while True:
        try:
            header, arrays = receive(inp)
        except EOFError:   # the client went away without a close: close the env all the same
            if runner is not None:
                try:
                    runner.close()
                except Exception:  # noqa: BLE001 - ending anyway
                    pass
            return
        op = header.get("op")
        try:
            if op == "make":
                runner = Runner(header["id"], header.get("imports", []), header.get("kwargs", {}), header.get("state", {}),
                                header.get("shadows", True), header.get("seed_global", False), header.get("pythonpath"))
                send(out, {"ok": True, **runner.describe()})
            elif runner is None:
                send(out, {"error": f"{op}: no env made yet"})
            elif op == "reset":
                send(out, *runner.reset(int(header["seed"])))
            elif op == "step":
                send(out, *runner.step(arrays["action"]))
            elif op == "close":
                runner.close()
                send(out, {"ok": True})
                return
            else:
                send(out, {"error": f"unknown op {op!r}"})
        except BrokenPipeError:   # the client went away mid-reply (killed): nobody to answer
            return
        except Exception as exc:  # noqa: BLE001 - the env's error goes back to the caller, in one line
            send(out, {"error": f"{type(exc).__name__}: {exc}"})


class WorkerEnv:
    """The client: the same make/reset/step/close as Runner, answered by `python gym_worker.py`."""

    def __init__(self, python: str, make: dict) -> None:
        if not os.access(python, os.X_OK):
            raise ValueError(f"the env's interpreter {python} does not exist (scripts/install_envs.sh makes it)")
        self.proc = subprocess.Popen([python, "-I", os.path.abspath(__file__)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        self.description = self._call({"op": "make", **make})

    def _call(self, header: dict, arrays: Optional[dict] = None) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            send(self.proc.stdin, header, arrays)
            reply, out = receive(self.proc.stdout)
        except (EOFError, BrokenPipeError) as exc:
            raise RuntimeError(f"the env's process ended ({exc}; exit code {self.proc.poll()})") from None
        if "error" in reply:
            raise RuntimeError(f"the env's process: {reply['error']}")
        return (reply, out) if out or header["op"] in ("reset", "step") else reply

    def reset(self, seed: int) -> tuple[dict, dict[str, np.ndarray]]:
        return self._call({"op": "reset", "seed": seed})

    def step(self, action: np.ndarray) -> tuple[dict, dict[str, np.ndarray]]:
        return self._call({"op": "step"}, {"action": np.asarray(action, np.float32)})

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self._call({"op": "close"})
            except RuntimeError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class LocalEnv(Runner):
    """The env in this process (it runs on this project's own packages)."""

    def __init__(self, make: dict) -> None:
        super().__init__(make["id"], make.get("imports", []), make.get("kwargs", {}), make.get("state", {}),
                         make.get("shadows", True), make.get("seed_global", False), make.get("pythonpath"))
        self.description = self.describe()


if __name__ == "__main__":
    # The client decides when this ends (a close, or the end of its pipe): a Ctrl-C to the whole
    # process group (a graph shutting down) must not kill the env mid-step first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The protocol owns stdout: whatever the env prints goes to stderr instead.
    wire = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    serve(sys.stdin.buffer, wire)
    # The env is closed: skip the interpreter's teardown, where renderers' finalizers run after
    # their OpenGL display is gone and print EGL errors.
    sys.stderr.flush()
    os._exit(0)
