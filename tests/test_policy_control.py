"""Policies (export, parity, registry, runtime) and the control core (safety, watchdog, override,
swap), with real torch, real onnxruntime and the real simulator."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from conftest import publish_mlp
from robot_rl.control.core import ControlCore
from robot_rl.control.safety import SafetyLayer
from conftest import ARM6_COMMAND, ARM6_SAFETY
from robot_rl.control.watchdog import Watchdog
from robot_rl.policy import ActionSpec, ObsSpec, PolicyError, PolicyMetadata
from robot_rl.policy.export import PARITY_TOL, export, parity
from robot_rl.policy.models import CNNPolicy, MLPPolicy
from robot_rl.policy.registry import PolicyRegistry, load
from robot_rl.policy.runtime import PolicyRuntime
from robot_rl.policy.spec import METADATA_KEY

PROPRIO = ObsSpec("proprio", [17])
ACTION = ActionSpec(["dx", "dy", "dz", "dyaw", "gripper"], [-1.0] * 5, [1.0] * 5)
CAMS = [ObsSpec("front", [64, 64, 3], "uint8"), ObsSpec("wrist", [64, 64, 3], "uint8")]


def mlp(seed=0, **kw):
    torch.manual_seed(seed)
    return MLPPolicy(PROPRIO, ACTION, hidden=(64, 64), **kw)


@pytest.fixture
def registry(tmp_path):
    return PolicyRegistry(tmp_path / "policies")


def test_export_parity_metadata_and_registry(registry):
    model = mlp(mean=np.full(17, 0.5), std=np.full(17, 2.0))
    meta = PolicyMetadata(name="pick", obs=[PROPRIO], action=ACTION, control_hz=10)
    data, err = export(model, meta, recorded={"proprio": np.random.default_rng(5).normal(size=(20, 17)).astype(np.float32)})
    assert err <= PARITY_TOL
    embedded = {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
    assert json.loads(embedded[METADATA_KEY])["obs"][0]["name"] == "proprio"
    p1 = registry.publish(data, meta, metrics={"success": 0.5})
    p2 = registry.publish(data, PolicyMetadata(name="pick", obs=[PROPRIO], action=ACTION), parent="pick/v0001")
    assert [p1.name, p2.name] == ["v0001.onnx", "v0002.onnx"] and registry.names() == ["pick"]
    assert registry.resolve("pick") == p2 and registry.resolve("pick/v0001") == p1
    doc = json.loads(p2.with_suffix(".json").read_text())
    assert doc["parent"] == "pick/v0001" and len(doc["sha256"]) == 64
    assert not list(p1.parent.glob(".*tmp*"))  # atomic writes leave no temporaries


def test_cnn_policy_exports_with_parity():
    torch.manual_seed(0)
    model = CNNPolicy(CAMS, PROPRIO, ACTION, hidden=(64,))
    data, err = export(model, PolicyMetadata(name="cnn", obs=CAMS + [PROPRIO], action=ACTION))
    assert err <= PARITY_TOL
    rt = PolicyRuntime(data, PolicyMetadata(name="cnn", obs=CAMS + [PROPRIO], action=ACTION))
    a = rt({"front": np.zeros((64, 64, 3), np.uint8), "wrist": np.zeros((64, 64, 3), np.uint8),
            "proprio": np.zeros(17, np.float32)})
    assert a.shape == (5,) and np.all(np.abs(a) <= 1)


def test_parity_catches_an_altered_graph():
    model = mlp()
    data, _ = export(model, PolicyMetadata(name="m", obs=[PROPRIO], action=ACTION))
    proto = onnx.load_from_string(data)
    weights = max(proto.graph.initializer, key=lambda t: np.prod(t.dims))
    arr = onnx.numpy_helper.to_array(weights).copy()
    arr.flat[0] += 0.5  # one weight changed
    weights.CopyFrom(onnx.numpy_helper.from_array(arr, weights.name))
    assert parity(model, proto.SerializeToString(), [PROPRIO]) > PARITY_TOL


def test_bad_models_are_refused(registry, tmp_path):
    meta = PolicyMetadata(name="m", obs=[PROPRIO], action=ACTION)
    data, _ = export(mlp(), meta)
    path = registry.publish(data, meta)
    good = PolicyRuntime.from_file(path, expected_obs=[PROPRIO], expected_action_dim=5)
    # wrong sha256 announced
    with pytest.raises(PolicyError, match="not the announced"):
        load(path, expected_sha256="0" * 64)
    # truncated file: its metadata's sha256 no longer matches
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(PolicyError, match="truncated or changed"):
        PolicyRuntime.from_file(path)
    # truncated file with a matching sha256 (a bad upload, faithfully hashed): onnxruntime refuses it
    import hashlib
    doc = json.loads(path.with_suffix(".json").read_text())
    doc["sha256"] = hashlib.sha256(data[: len(data) // 2]).hexdigest()
    path.with_suffix(".json").write_text(json.dumps(doc))
    with pytest.raises(PolicyError, match="cannot load"):
        PolicyRuntime.from_file(path)
    # the wrong observation spec for this robot
    other_path = publish_mlp(registry, "other", ObsSpec("proprio", [12]), ACTION, hidden=(8,))
    with pytest.raises(PolicyError, match="expects observations"):
        PolicyRuntime.from_file(other_path, expected_obs=[PROPRIO])
    # and a control core keeps its running policy when a new one fails to load
    core = ControlCore(good, SafetyLayer(ARM6_SAFETY(), 0.1), Watchdog({"proprio": 1.0}, 0.0), ARM6_COMMAND())
    rt, why = core.try_load(str(other_path), expected_obs=[PROPRIO], expected_action_dim=5)
    assert rt is None and "expects observations" in why and core.policy is good


def test_estop_latches_until_reset():
    safety = SafetyLayer(ARM6_SAFETY(), 0.1)
    state = np.array([0.4, 0.0, 0.2, 0.0])
    safety.estop()
    for _ in range(5):
        out, why = safety.filter(np.array([0.45, 0.02, 0.2, 0.1, 1.0]), state)
        assert why == "estop" and np.allclose(out[:4], state)
    safety.reset_estop()
    out, why = safety.filter(np.array([0.41, 0.0, 0.2, 0.0, 1.0]), state)
    assert why is None and out[0] == pytest.approx(0.41)


def test_watchdog_holds_within_one_period_and_resumes_after_fresh_data():
    period = 10_000_000  # 100 Hz
    wd = Watchdog({"camera": 0.05, "proprio": 0.02}, resume_after_s=0.1)
    t = 0
    states = []
    for k in range(100):
        t = k * period
        wd.update("proprio", t)
        if not 30 <= k < 50:  # the camera stream stops for 0.2 s
            wd.update("camera", t)
        states.append(wd.ok(t))
    first_hold = states.index(False, 10)
    assert first_hold <= 30 + 5 + 1  # max age 50 ms = 5 periods, noticed at the next tick
    resumed = states.index(True, first_hold)
    assert resumed == 50 + 10  # fresh again at 50, then 100 ms of fresh data
    assert wd.stale_events == 1 and wd.stale_inputs == {"camera": 1}   # which input held the loop


def test_exported_policy_drives_the_simulator_like_torch_and_the_human_overrides(registry):
    from robot_rl.sim import make
    model = mlp(seed=3)
    meta = PolicyMetadata(name="sim", obs=[PROPRIO], action=ACTION)
    path = registry.publish(export(model, meta)[0], meta)
    rt = PolicyRuntime.from_file(path, expected_obs=[PROPRIO], expected_action_dim=5)
    env = make("pick_cube", cameras=[])
    obs, _ = env.reset(seed=0)
    core = ControlCore(rt, SafetyLayer(ARM6_SAFETY(), 0.1), Watchdog({"proprio": 0.5}, 0.0), ARM6_COMMAND())
    worst = 0.0
    for k in range(30):
        now = int(env.data.time * 1e9)
        core.watchdog.update("proprio", now)
        pos, yaw = env.ee_pose()
        human = np.array([0, 0, 0.5, 0, 1.0]) if 10 <= k < 15 else None
        rec = core.tick(now, obs, np.append(pos, yaw), human_action=human)
        with torch.no_grad():
            ref = model(torch.from_numpy(obs["proprio"][None])).numpy()[0]
        worst = max(worst, float(np.max(np.abs(rec.policy_action - ref))))
        assert rec.intervention == (human is not None)
        executed = human if human is not None else rec.policy_action
        # the command is the executed action through the safety layer, which keeps it in the workspace
        assert np.all(rec.command[:3] >= core.safety.low[:3]) and np.all(rec.command[:3] <= core.safety.high[:3])
        obs, *_ = env.step(np.clip(executed, -1, 1))
    assert worst <= 1e-5


def test_policy_cli_export_check_list_and_run(tmp_path):
    import subprocess
    import sys
    cli = [sys.executable, "-m", "robot_rl.cli"]

    def run(*args, timeout=120):
        return subprocess.run(cli + [str(a) for a in args], capture_output=True, text=True, timeout=timeout, cwd=tmp_path)

    res = run("policy", "export", "--random-init", "mlp", "--name", "demo", "--save-checkpoint", "a.safetensors")
    assert res.returncode == 0 and "policies/demo/v0001.onnx" in res.stdout, res.stderr
    assert run("policy", "check", "demo", "--checkpoint", "a.safetensors").returncode == 0
    other = run("policy", "export", "--random-init", "mlp", "--seed", "7", "--name", "other", "--save-checkpoint",
                "b.safetensors")
    assert other.returncode == 0
    mismatch = run("policy", "check", "demo", "--checkpoint", "b.safetensors")  # not the model it was exported from
    assert mismatch.returncode == 1 and "PARITY FAILED" in mismatch.stdout
    listing = run("policy", "list")
    assert "demo/v0001" in listing.stdout and "other/v0001" in listing.stdout
    missing = run("policy", "check", "nope")
    assert missing.returncode == 2 and "no policy 'nope'" in missing.stderr
    live = run("run", "--policy", "policies/demo", "--duration", "8", timeout=120)
    assert live.returncode == 0, live.stdout[-2000:] + live.stderr[-2000:]
    assert "demo/v0001:" in live.stdout and "running" in live.stdout  # live loop statistics
    # --real: the control node alone, on a robot's topics; no driver here, so it holds and never runs
    real = run("run", "--policy", "policies/demo", "--real", "--duration", "6", timeout=120)
    assert real.returncode == 0, real.stdout[-2000:] + real.stderr[-2000:]
    assert "[control" in real.stdout and "[sim" not in real.stdout
    # held on the robot's inputs, which it names (nothing has arrived: proprio and both cameras stale)
    assert "overruns, holding (stale: proprio" in real.stdout and "overruns, running," not in real.stdout


def test_hold_on_a_broken_state_keeps_the_last_safe_command():
    safety = SafetyLayer(ARM6_SAFETY(), 0.1)
    state = np.array([0.4, 0.0, 0.2, 0.0])
    good, _ = safety.filter(np.array([0.41, 0.01, 0.2, 0.0, 1.0]), state)
    broken = np.array([np.nan, 0.0, 0.2, 0.0])  # one encoder reads NaN
    out, why = safety.filter(np.array([0.42, 0.0, 0.2, 0.0, 1.0]), broken)
    assert why == "bad_state" and np.array_equal(out, good)  # no jump to a made-up position
    held = safety.hold(state)
    assert np.allclose(held[:4], state) and held[4] == good[4] and np.array_equal(safety.last, held)
