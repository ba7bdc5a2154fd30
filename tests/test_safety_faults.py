"""The control path under faults and bad input (issue #34 items 1-3, 5): a policy whose graph does
not match its metadata, holds and e-stops measured outside the box, garbage into the safety layer,
policies from outside the registry. Real onnxruntime, real exports; the ROS-level halves are in
tests/test_control_node.py."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import mismatched_outputs, publish_mlp
from robot_rl.control.core import ControlCore
from robot_rl.control.safety import SafetyConfig, SafetyLayer
from conftest import ARM6_COMMAND, ARM6_SAFETY
from robot_rl.control.watchdog import Watchdog
from robot_rl.policy import ActionSpec, ObsSpec, PolicyError, PolicyMetadata
from robot_rl.policy.registry import PolicyRegistry
from robot_rl.policy.runtime import PolicyRuntime

PROPRIO = ObsSpec("proprio", [17])
ACTION = ActionSpec(["dx", "dy", "dz", "dyaw", "gripper"], [-1.0] * 5, [1.0] * 5)


def _core(policy, period=0.1):
    core = ControlCore(policy, SafetyLayer(ARM6_SAFETY(), period), Watchdog({"proprio": 1.0}, 0.0), ARM6_COMMAND())
    core.watchdog.update("proprio", 0)
    return core


def test_a_policy_whose_outputs_do_not_match_its_metadata_is_refused_at_load(tmp_path):
    reg = PolicyRegistry(tmp_path / "policies")
    good = PolicyRuntime.from_file(publish_mlp(reg, "good", PROPRIO, ACTION), expected_obs=[PROPRIO], expected_action_dim=5)
    bad = mismatched_outputs(reg)
    with pytest.raises(PolicyError, match=r"output 'action' has shape \[3\] per sample, its metadata says \[5\]"):
        PolicyRuntime.from_file(bad, expected_obs=[PROPRIO], expected_action_dim=5)
    core = _core(good)
    rt, why = core.try_load(str(bad), expected_obs=[PROPRIO], expected_action_dim=5)
    assert rt is None and "output 'action'" in why and core.policy is good


class _Broken:
    """A policy that passed its load checks but fails at run time (a graph with a data-dependent
    shape, a custom op that raises): the core must still decide every tick."""
    version = "broken/v0002"

    def __init__(self, out):
        self.out = out

    def __call__(self, obs):
        if isinstance(self.out, Exception):
            raise self.out
        return self.out


@pytest.mark.parametrize("out", [np.zeros(3, np.float32), np.full(5, np.nan, np.float32), RuntimeError("boom")])
def test_a_tick_whose_policy_fails_holds_and_falls_back_to_the_last_good_policy(tmp_path, out):
    reg = PolicyRegistry(tmp_path / "policies")
    good = PolicyRuntime.from_file(publish_mlp(reg, "good", PROPRIO, ACTION), expected_obs=[PROPRIO], expected_action_dim=5)
    core = _core(good)
    obs, state = {"proprio": np.zeros(17, np.float32)}, np.array([0.4, 0.0, 0.2, 0.0])
    assert core.tick(0, obs, state).hold is None
    core.swap(_Broken(out))
    rec = core.tick(1, obs, state)  # never raises
    assert rec.hold and "broken/v0002 fault" in rec.hold and "back to good/v0001" in rec.hold
    assert rec.command is not None and np.allclose(rec.command[:4], state)  # held where it is
    assert core.policy is good and core.faults == 1 and "broken/v0002" in core.last_fault
    rec = core.tick(2, obs, state)
    assert rec.hold is None and rec.policy_version == "good/v0001"
    # with nothing to fall back to, every faulty tick holds
    core2 = _core(_Broken(out))
    for k in range(3):
        rec = core2.tick(k, obs, state)
        assert rec.hold and "fault" in rec.hold and np.allclose(rec.command[:4], state)
    assert core2.faults == 3


def test_hold_and_estop_command_where_the_robot_is_even_outside_the_box():
    s = SafetyLayer(ARM6_SAFETY(), 0.1)
    s.estop()
    out, why = s.filter([0.4, 0, 0.2, 0, 0], [0.4, 0, -0.25, 0])  # issue #34's reproduction
    assert why == "estop" and np.allclose(out[:4], [0.4, 0, -0.25, 0])  # not z = 0.0, a 25 cm jump
    s.reset_estop()
    # running, measured 25 cm under the box: led back up by at most one step, never snapped onto its face
    out, why = s.filter([0.4, 0, 0.2, 0, 0], [0.4, 0, -0.25, 0])
    assert why is None and out[2] == pytest.approx(-0.25 + s.max_step[2])
    # a NaN state before any command: no motion command at all (not the box centre)
    fresh = SafetyLayer(ARM6_SAFETY(), 0.1)
    assert fresh.filter([0.4, 0, 0.2, 0, 1.0], [np.nan, 0, 0.2, 0]) == (None, "bad_state")
    assert fresh.hold([np.nan] * 4) is None
    fresh.estop()
    assert fresh.filter([0.4, 0, 0.2, 0, 1.0], [np.nan] * 4) == (None, "estop")


def test_the_gripper_rate_comes_from_the_robot_description_and_must_be_positive(tmp_path):
    from robot_rl.control.core import robot_control
    from robot_rl.robot import load
    d = load("arm6")
    d.gripper.max_rate = 2.0
    cfg, _ = robot_control(d, 10.0)
    s = SafetyLayer(cfg, 0.1)
    s.gripper_at_rest = 1.0
    assert s.filter([0.4, 0, 0.2, 0, -1.0], [0.4, 0, 0.2, 0])[0][4] == pytest.approx(0.8)
    d.gripper.max_rate = 0.0
    with pytest.raises(ValueError, match="gripper_max_rate"):
        SafetyLayer(robot_control(d, 10.0)[0], 0.1)


def test_the_first_gripper_command_is_rate_limited_after_start_and_after_an_estop_reset():
    s = SafetyLayer(ARM6_SAFETY(), 0.1)
    s.gripper_at_rest = 1.0   # measured open
    lim = s.cfg.gripper_max_rate * 0.1
    out, _ = s.filter([0.4, 0, 0.2, 0, -1.0], [0.4, 0, 0.2, 0])
    assert out[4] == pytest.approx(1.0 - lim)
    s.estop()
    s.filter([0.4, 0, 0.2, 0, -1.0], [0.4, 0, 0.2, 0])
    s.reset_estop()
    s.gripper_at_rest = 1.0
    out, _ = s.filter([0.4, 0, 0.2, 0, -1.0], [0.4, 0, 0.2, 0])
    assert out[4] == pytest.approx(1.0 - lim)


@pytest.mark.parametrize("bad", ["0.4,0,0.2,0,1", object(), [[0.4, 0], [0.2]], None, {"x": 1}, [0.4, "a", 0, 0, 1]])
def test_filter_holds_on_any_input_instead_of_raising(bad):
    s = SafetyLayer(ARM6_SAFETY(), 0.1)
    state = [0.4, 0, 0.2, 0]
    out, why = s.filter(bad, state)
    assert why == "bad_command" and np.allclose(out[:4], state)
    out, why = s.filter([0.4, 0, 0.2, 0, 1.0], bad)
    assert why == "bad_state" and np.allclose(out[:4], state)  # the last command, made from a valid state


def _fuzz(cfg: SafetyConfig, period: float, n_inputs: int, seed: int) -> dict:
    """Random states (inside, outside the box, NaN) and commands (any scale, NaN, inf, garbage)
    through filter() in running, hold and e-stop modes; counts every command outside its limits."""
    s = SafetyLayer(cfg, period)
    rng = np.random.default_rng(seed)
    lo, hi, n = s.low, s.high, s.n
    near = np.minimum(s.max_step, s.max_vel * period)
    span = hi - lo
    counts = {"inputs": 0, "commands": 0, "none": 0, "outside_limits": 0, "step_from_state": 0, "gripper_rate": 0,
              "held_moved": 0, "none_with_valid_state": 0}
    for i in range(n_inputs):
        mode = i % 3   # 0 running, 1 hold (via hold()), 2 e-stop
        if mode == 2 and not s.estopped:
            s.estop()
        elif mode != 2 and s.estopped:
            s.reset_estop()
        kind = rng.integers(0, 4)
        if kind == 0:
            state = rng.uniform(lo, hi)                      # inside the box
        elif kind == 1:
            state = rng.uniform(lo - span, hi + span)        # often outside it
        elif kind == 2:
            state = rng.uniform(lo, hi)
            state[rng.integers(0, n)] = rng.choice([np.nan, np.inf])
        else:
            state = (s.last[:n] if s.last is not None else rng.uniform(lo, hi)) + rng.normal(0, 1e-3, n)
        cmd = rng.normal(0, 10.0 ** rng.integers(-3, 7), n + 1)
        if rng.random() < 0.1:
            cmd[rng.integers(0, n + 1)] = rng.choice([np.nan, np.inf, -np.inf])
        prev_grip = s.last[n] if s.last is not None else s.gripper_at_rest
        if mode == 1:
            out, why = s.hold(state), "hold"
        else:
            out, why = s.filter(cmd, state)
        counts["inputs"] += 1
        if out is None:   # only allowed where nothing says where the robot is
            counts["none"] += 1
            counts["none_with_valid_state"] += bool(np.all(np.isfinite(state)))
            continue
        counts["commands"] += 1
        finite_state = bool(np.all(np.isfinite(state)))
        if not (np.all(np.isfinite(out)) and -1 <= out[n] <= 1):
            counts["outside_limits"] += 1
        if finite_state:
            # within the box, or (measured outside it) no farther from it than the robot is
            o, st = out[:n], state
            ok = np.all((o >= np.minimum(lo, st) - 1e-12) & (o <= np.maximum(hi, st) + 1e-12))
            counts["outside_limits"] += not ok
            counts["step_from_state"] += bool(np.any(np.abs(o - st) > near + 1e-12))
            if why is not None:   # hold / e-stop / bad command: exactly where the robot is
                counts["held_moved"] += bool(np.any(o != st))
        if abs(out[n] - prev_grip) > s.cfg.gripper_max_rate * period + 1e-12 and why is None:
            counts["gripper_rate"] += 1
    return counts


@pytest.mark.parametrize("mode", ["ee", "joint"])
def test_safety_fuzz_in_running_hold_and_estop_modes(mode):
    if mode == "ee":
        cfg, period = ARM6_SAFETY(), 0.1
    else:
        cfg = SafetyConfig(mode="joint", low=[-2.9, -1.8, -2.6, -2.9, -2.2, -2.9], high=[2.9, 1.8, 2.6, 2.9, 2.2, 2.9],
                           max_step=[0.2] * 6, max_velocity=[2.0] * 6)
        period = 0.01
    counts = _fuzz(cfg, period, 100_002, seed=1 if mode == "ee" else 2)
    print(f"safety fuzz ({mode}): {json.dumps(counts)}")
    assert counts["inputs"] >= 100_000 and counts["commands"] > 80_000 and counts["none_with_valid_state"] == 0
    assert counts["outside_limits"] == 0 and counts["step_from_state"] == 0
    assert counts["held_moved"] == 0 and counts["gripper_rate"] == 0


def test_the_registry_resolves_only_inside_its_root(tmp_path):
    reg = PolicyRegistry(tmp_path / "policies")
    v1 = publish_mlp(reg, "pol", PROPRIO, ACTION)
    assert reg.resolve("pol") == v1 and reg.resolve("pol/v0001") == v1 and reg.resolve(str(v1)) == v1.resolve()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for suffix in (".onnx", ".json"):
        (outside / f"x{suffix}").write_bytes(v1.with_suffix(suffix).read_bytes())
        (reg.root / "pol" / f"link{suffix}").symlink_to(outside / f"x{suffix}")
    for ref in (str(outside / "x.onnx"), f"{reg.root}/pol/../../elsewhere/x.onnx", str(reg.root / "pol" / "link.onnx")):
        with pytest.raises(PolicyError, match="outside the policy registry"):
            reg.resolve(ref)
    for ref in ("../escape", "..", "pol/../../x", "pol/latest", "a b"):
        with pytest.raises(PolicyError, match="not a policy reference"):
            reg.resolve(ref)


def test_a_model_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    import resource
    import subprocess
    import sys

    from robot_rl.policy import registry as registry_mod
    reg = PolicyRegistry(tmp_path / "policies")
    path = publish_mlp(reg, "pol", PROPRIO, ACTION)
    big = path.with_name("v0002.onnx")
    with open(big, "wb") as f:   # 1.5 GB, sparse: costs no disk, would cost memory if read
        f.truncate(1536 * 2**20)
    big.with_suffix(".json").write_text(path.with_suffix(".json").read_text())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(PolicyError, match="over the limit for a model .*512 MiB"):
        registry_mod.load(big)
    with pytest.raises(PolicyError, match="over the limit for a model"):
        PolicyRuntime.from_file(path, max_bytes=2**20 // 1024)  # a limit smaller than this model
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000   # kB: nothing was read
    # `robot-rl policy check` takes names inside the registry only, with one line
    cli = [sys.executable, "-m", "robot_rl.cli", "policy", "check", "--registry", str(reg.root)]
    for ref, why in ((str(tmp_path / "x.onnx"), "outside the policy registry"), ("pol/v0002", "over the limit for a model")):
        res = subprocess.run(cli + [ref], capture_output=True, text=True, timeout=120)
        assert res.returncode == 2 and why in res.stderr and "Traceback" not in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
