"""Bring your own simulator (robot_rl.sim.gym_env): a Gymnasium env written outside robot_rl, with
conventions of its own (tests/data/outside_env.py), and gym-hil's PandaPickCube in its own virtual
environment (MuJoCo < 3.9), each through its mapping: checked at start, driven through the control
step into a real store, by its scripted expert and the simulated human."""
from __future__ import annotations

import os
import pathlib
import sys

import numpy as np
import pytest

from conftest import REPO, user_module, wait_exit
from robot_rl.sim.control_loop import SimControlLoop
from robot_rl.sim.corrector import SimulatedHuman
from robot_rl.sim.experts import make_expert
from robot_rl.sim.gym_env import GymRobotEnv
from robot_rl.sim.gym_mapping import ConventionError
from robot_rl.sim.rollout import rollout, sim_store_spec
from robot_rl.store import EpisodeStore
from robot_rl.store.writer import StoreWriter

OUTSIDE = REPO / "tests" / "data" / "outside_env.py"
GYM_HIL = REPO / "robot_rl" / "envs" / "gym_hil" / "pick_cube.yaml"
GYM_HIL_PYTHON = REPO / ".venv-gym-hil" / "bin" / "python"


@pytest.fixture
def outside(tmp_path, monkeypatch):
    """The outside env's folder: its module, its robot description and its mapping, as a user writes them."""
    with user_module(OUTSIDE, "outside_env", tmp_path / "user_env", monkeypatch) as folder:
        import outside_env
        (folder / "gantry.yaml").write_text(outside_env.ROBOT)
        (folder / "mapping.yaml").write_text(outside_env.MAPPING)
        yield folder


def _mapping(folder: pathlib.Path, *overrides: str) -> pathlib.Path:
    """The outside env's mapping with `key=value` overrides, as a file of its own."""
    from robot_rl import config
    import yaml
    data = config.apply_overrides(config.load_yaml(folder / "mapping.yaml"), overrides)
    path = folder / f"mapping_{abs(hash(overrides))}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("where", ["in_process", "own_process"])
def test_an_outside_env_records_expert_episodes_through_the_control_step(outside, tmp_path, where):
    extra = [f"python={sys.executable}"] if where == "own_process" else []
    env = GymRobotEnv(_mapping(outside, *extra))
    try:
        assert env.cfg.cameras == ["top"] and env.cfg.image_size == [48, 48] and env.max_steps == 60
        # its layout comes from numpy's global generator: seeded by the mapping, the seed fixes it
        first = env.reset(seed=5)[1]["state"]["block"]
        assert np.array_equal(env.reset(seed=5)[1]["state"]["block"], first)
        assert not np.array_equal(env.reset(seed=6)[1]["state"]["block"], first)
        with StoreWriter(tmp_path / "s.zarr", sim_store_spec(env)) as w:
            results = [rollout(env, w, seed, operator=make_expert(env, seed=seed)) for seed in range(3)]
    finally:
        env.close()
    assert all(r["success"] for r in results), results
    store = EpisodeStore.open(tmp_path / "s.zarr")
    assert len(store) == 3
    ep = store.episode(0)
    steps = store.read_steps(ep)
    assert len(steps["obs"]) == results[0]["steps"]
    # proprio in the gantry's layout: 3 joints, 3 velocities, tool xyz (= the slides), yaw 0, opening
    obs = steps["obs"]
    assert obs.shape[1] == 3 + 3 + 4 + 1
    assert np.allclose(obs[:, :3], obs[:, 6:9]) and np.all(obs[:, 9] == 0)
    assert obs[0, 10] == pytest.approx(1.0) and obs[-1, 10] < 0.5      # starts open, ends closed on the block
    assert bool(steps["intervention"].all())
    assert store.read_stream(ep, "top_rgb")[0].shape[1:] == (48, 48, 3)


def test_the_simulated_human_corrects_a_weak_policy_on_an_outside_env(outside):
    env = GymRobotEnv(outside / "mapping.yaml")
    weak = make_expert(env, noise_std=0.8, bias_m=0.04, seed=1)
    human = SimulatedHuman(env, seed=2)
    loop = SimControlLoop(env, lambda obs: weak.act(obs, {"state": env.privileged_state()}))
    wins = interventions = steps = 0
    try:
        for seed in range(4):
            obs, info = loop.reset(seed)
            human.reset()
            weak.reset()
            done = False
            while not done:
                proposed = np.asarray(loop.policy(obs))
                act, driving = human.act(proposed, obs, info)
                _, obs, _, term, trunc, info = loop.step(obs, act if driving else None, (proposed, None))
                interventions += driving
                steps += 1
                done = term or trunc
            wins += info["success"]
    finally:
        env.close()
    assert wins >= 3 and 0 < interventions < steps


@pytest.mark.parametrize("override, message", [
    # the gripper's reading declared the wrong way round: closed at reset, where the task starts open
    (["observation.gripper.open=0.0", "observation.gripper.closed=0.08"], r"observation\.gripper: it reads 0\.08 at reset"),
    # a command the env's bounds ([0, 2] on that component) would clip into something else
    (["action.gripper_open=-1.0", "action.gripper_closed=1.0"], r"action\.gripper_open: the command is \[-1\.0\]"),
    (["action.position_scale=100"], r"action\.position_scale: a full step \(3\.0 cm\)"),
    (["observation.cameras.top=pixels.front"], r"observation\.cameras\.top: the env has no observation 'pixels\.front'"),
    (["observation.joints.stop=4"], r"observation\.joints: columns \[0, 4\) of 'robot\.slides'"),
    (["action.gripper=-1"], r"action\.gripper: robot gantry has gripper but the mapping names none"),
    (["id=outside/Nope-v0"], r"Nope"),
])
def test_each_convention_mismatch_is_one_error_naming_its_key(outside, override, message):
    with pytest.raises((ConventionError, Exception), match=message) as info:
        env = GymRobotEnv(_mapping(outside, *override))
        env.reset(seed=0)
    assert "\n" not in str(info.value)


def test_a_success_key_the_env_does_not_give_is_named_at_the_first_step(outside):
    env = GymRobotEnv(_mapping(outside, "success=succeed"))
    try:
        env.reset(seed=0)
        with pytest.raises(ConventionError, match=r"success: the env's info has no 'succeed' \(it has: is_success\)"):
            env.step(np.zeros(5))
    finally:
        env.close()


def test_a_bad_target_is_rejected_and_the_robot_holds_where_it_is(outside):
    env = GymRobotEnv(outside / "mapping.yaml")
    server = env.server()
    server.reset(0)
    start = env.ee_pose()[0].copy()
    for target, reason in [(start + [0, 0.2, 0], "too_fast"), (np.array([0.9, 0, 0.2]), "workspace"),
                           ([np.nan, 0, 0], "not_finite")]:
        ok, why = server.command_ee(target, [1, 0, 0, 0], 1.0)
        assert not ok and why == reason
        server.step()
        assert np.allclose(env.ee_pose()[0], start, atol=1e-6)
    ok, _ = server.command_ee(start + [0.02, 0, 0], [1, 0, 0, 0], 1.0)
    server.step()
    assert ok and np.allclose(env.ee_pose()[0], start + [0.02, 0, 0], atol=1e-6)
    assert server.command_joints(np.zeros(3))[1] == "unsupported"
    env.close()


@pytest.mark.parametrize("step_delay_s", [0.0, 0.3])
def test_an_outside_env_records_through_ros(procs, outside, tmp_path, step_delay_s):
    """`robot-rl record --sim --env`: the sim robot node serves the adapted env (its module from the
    mapping's pythonpath), the expert demonstrates through the control node, the recorder stores
    the episodes in the env's robot layout, with its reward. With a simulator slower than the
    control rate (0.3 s a step at 10 Hz, older than the control node's 0.2 s proprio limit), the
    control node waits for each answer (lockstep_wait_s): no step holds, every episode succeeds."""
    import re

    from robot_rl.store import EpisodeStore

    store = tmp_path / "gantry.zarr"
    mapping = _mapping(outside, f"kwargs.step_delay_s={step_delay_s}")
    proc = procs.start([str(pathlib.Path(sys.executable).parent / "robot-rl"), "record", "--sim", "--env",
                        str(mapping), "--episodes", "2", "--store", str(store)], "record")
    assert wait_exit(proc, 240) == 0, proc.log_path.read_text()[-3000:]
    s = EpisodeStore(store)
    eps = s.episodes()
    assert len(eps) == 2 and all(e.success and e.task == "outside_env:Lift" for e in eps)
    steps = s.read_steps(eps[0], ["obs", "reward", "hold"])
    assert steps["obs"].shape[1] == 11 and not steps["hold"].any()
    assert steps["reward"][0] == 0.0 and steps["reward"].max() == 1.0   # the gantry's sparse reward, per step
    assert s.read_stream(eps[0], "top_rgb")[0].shape[1:] == (48, 48, 3)
    log = proc.log_path.read_text()
    waited = [int(n) for n in re.findall(r"(\d+) ticks waited for the simulator", log)]
    assert waited and (waited[-1] > 10 if step_delay_s else True), waited


needs_gym_hil = pytest.mark.skipif(not GYM_HIL_PYTHON.exists(),
                                   reason="gym-hil's virtual environment is missing: bash scripts/install_envs.sh")


@needs_gym_hil
def test_gym_hil_pick_cube_in_its_own_environment_is_seeded_and_its_expert_records_successes(tmp_path):
    env = GymRobotEnv(GYM_HIL)
    try:
        assert env.description.n == 7 and env.cfg.cameras == ["front", "wrist"]
        cube = env.reset(seed=3)[1]["state"]["cube_pos"]
        assert np.array_equal(env.reset(seed=3)[1]["state"]["cube_pos"], cube)
        assert not np.array_equal(env.reset(seed=4)[1]["state"]["cube_pos"], cube)
        with StoreWriter(tmp_path / "s.zarr", sim_store_spec(env)) as w:
            results = [rollout(env, w, seed, operator=make_expert(env, seed=seed)) for seed in range(3)]
        assert all(r["success"] for r in results), results
        store = EpisodeStore.open(tmp_path / "s.zarr")
        ep = store.episode(0)
        wrist = store.read_stream(ep, "wrist_rgb")[0]
        assert wrist.shape[1:] == (128, 128, 3) and wrist.std() > 5
        obs = store.read_steps(ep)["obs"]
        assert obs.shape[1] == 7 + 7 + 4 + 1 and obs[0, -1] == pytest.approx(1.0) and obs[-1, -1] < 0.5
        # the worker dying is one clear error, not a hang
        env.backend.proc.kill()
        env.backend.proc.wait()
        with pytest.raises(RuntimeError, match="the env's process ended"):
            env.step(np.zeros(5))
    finally:
        env.close()


def test_the_interpreter_may_be_named_by_an_environment_variable(outside, monkeypatch):
    """`python: $VAR/...`: a virtual environment kept outside the checkout (a non-editable install)."""
    from robot_rl.sim.gym_worker import WorkerEnv
    monkeypatch.setenv("OUTSIDE_ENV_BIN", os.path.dirname(sys.executable))
    env = GymRobotEnv(_mapping(outside, "python=$OUTSIDE_ENV_BIN/" + os.path.basename(sys.executable)))
    try:
        assert isinstance(env.backend, WorkerEnv) and env.backend.proc.args[0] == sys.executable
        assert env.reset(seed=0)[0]["proprio"].shape == (11,)
    finally:
        env.close()


def test_the_worker_refuses_a_missing_interpreter(outside):
    with pytest.raises(ValueError, match="interpreter .*nope/bin/python does not exist"):
        GymRobotEnv(_mapping(outside, f"python={os.sep}nope/bin/python"))


def test_the_worker_ends_quietly_when_its_client_is_gone_mid_step(outside, capfd):
    """A client killed while the env steps (a graph's kill -9): the worker's reply finds no reader;
    it exits at once, with no traceback and no renderer teardown noise."""
    from robot_rl.sim.gym_worker import send
    env = GymRobotEnv(_mapping(outside, f"python={sys.executable}", "kwargs.step_delay_s=0.5"))
    env.reset(seed=0)
    proc = env.backend.proc
    send(proc.stdin, {"op": "step"}, {"action": np.zeros(len(env.backend.description["action_low"]), np.float32)})
    proc.stdout.close()         # the client is gone before the reply
    assert proc.wait(timeout=30) == 0
    assert "Traceback" not in capfd.readouterr().err
