"""Tasks as plug-ins (robot_rl.tasks): builtin by name, a task written outside the package found
by its dotted path, in process and through the ROS graph, and one-line errors for bad names."""
from __future__ import annotations

import pathlib
import sys

import numpy as np
import pytest
import yaml

from conftest import REPO, run_logged, user_module, wait_exit
from robot_rl import tasks

ROBOT_RL = str(pathlib.Path(sys.executable).parent / "robot-rl")
OUTSIDE = REPO / "tests" / "data" / "outside_task.py"   # the smallest complete task, as a user writes it


@pytest.fixture
def outside_task(tmp_path, monkeypatch):
    """The task module in a folder of its own, importable as `my_tasks` (not part of robot_rl)."""
    with user_module(OUTSIDE, "my_tasks", tmp_path / "user_code", monkeypatch) as folder:
        yield folder


def test_builtin_tasks_by_name_and_bad_references_are_one_line_errors():
    assert tasks.get("pick_cube").name == "pick_cube" and tasks.get("peg_insert").expert is not None
    assert tasks.names()[:3] == ["pick_cube", "peg_insert", "open_drawer"]
    for ref, message in [("juggle", "is not one of pick_cube, peg_insert, open_drawer"),
                         ("no_such_module:Task", "cannot load 'Task' from 'no_such_module'"),
                         ("robot_rl.tasks.pick_cube:Nope", "cannot load 'Nope'"),
                         ("robot_rl.tasks.pick_cube:CUBE_HALF", "is not a robot_rl.tasks.base.Task subclass")]:
        with pytest.raises(ValueError, match=message):
            tasks.get(ref)


@pytest.mark.parametrize("robot", ["arm6", "jaco"])
def test_a_task_written_outside_the_package_runs_by_its_dotted_path(outside_task, robot):
    from robot_rl import sim
    from robot_rl.sim.control_loop import SimControlLoop
    from robot_rl.sim.experts import make_expert

    env = sim.make("my_tasks:Reach", robot=robot, cameras=["front"], image_size=[64, 64])
    assert type(env.task).__module__ == "my_tasks" and env.max_steps == 40
    loop = SimControlLoop(env)
    ok = 0
    for seed in range(5):
        obs, info = loop.reset(seed)
        expert, done = make_expert(env, seed=seed), False
        while not done:
            _, obs, _, term, trunc, info = loop.step(obs, human_action=expert.act(obs, info))
            done = term or trunc
        ok += info["success"]
    assert ok == 5
    # the task's dense reward comes back from the control step, and the seed places the marker
    _, obs, reward, *_ = loop.step(loop.reset(0)[0])
    assert -0.5 < reward < 0.0
    goals = [loop.reset(s)[1]["state"]["goal"] for s in (3, 3, 4)]
    assert np.array_equal(goals[0], goals[1]) and not np.array_equal(goals[0], goals[2])   # the seed places it


def _expert_store(task: str, store: pathlib.Path, episodes: int, key: str) -> list:
    """Record the task's expert on seeds 0.. (front camera, 32x32) into a store; each episode's
    info["state"][key] at its reset."""
    from robot_rl import sim
    from robot_rl.sim.experts import make_expert
    from robot_rl.sim.rollout import rollout, sim_store_spec
    from robot_rl.store.writer import StoreWriter

    env = sim.make(task, cameras=["front"], image_size=[32, 32])
    where = []
    with StoreWriter(store, sim_store_spec(env)) as w:
        for seed in range(episodes):
            where.append(env.reset(seed=seed)[1]["state"][key])
            assert rollout(env, w, seed, operator=make_expert(env, seed=seed))["success"]
    env.close()
    return where


def test_a_learner_runs_an_outside_tasks_labeler_and_aux_head(outside_task, tmp_path):
    """The learner, given the outside task by its dotted path, runs its labeler on every recorded
    episode (the expert's reaches: the label plus the tool's position is where the marker was, to
    the task's 1.5 cm success radius plus the last step's motion: the last stored observation is the
    one before the step that reached) and trains its aux head with the critic (its loss falls), and
    the head goes into the export when the policy reads it, all without robot_rl knowing the task."""
    from robot_rl.learn.config import AuxConfig, LearnerConfig, SACConfig
    from robot_rl.learn.learner import Learner
    from robot_rl.policy.registry import PolicyRegistry
    from robot_rl.policy.runtime import PolicyRuntime

    store = tmp_path / "reach.zarr"
    goals = _expert_store("my_tasks:Reach", store, 4, "goal")
    cfg = LearnerConfig(store=str(store), policy="reach", registry=str(tmp_path / "policies"),
                        run_dir=str(tmp_path / "run"), batch=32, utd=100.0, task="my_tasks:Reach",
                        aux={"goal": AuxConfig(input=True)}, sac=SACConfig(augment_pad=0), export_every_s=1e6, checkpoint_every_s=1e6,
                        plot_every_s=1e6)
    learner = Learner(cfg)
    s = learner.sampler
    assert s.count("goal") == len(s)            # every step of a success is labelled
    for i, ep in enumerate(learner.store.episodes()):
        b = s.batch(np.arange(*ep.steps))
        where = b["obs"][:, -5:-2] + b["labels"]["goal"]
        assert np.abs(where - goals[i]).max() < 0.045, (i, where[0], goals[i])
    losses = [learner.update()["goal_loss"] for _ in range(300)]
    assert np.isfinite(losses).all() and np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20]), losses[::20]
    assert learner.agent.encoder.out_dim == learner.agent.encoder.encoder.out_dim + 3
    learner.export_now()
    rt = PolicyRuntime.from_file(PolicyRegistry(tmp_path / "policies").resolve("reach"))
    row = next(iter(learner.store.iter_steps(learner.store.episode(0))))
    obs = {"front": row["samples"]["front_rgb"], "proprio": row["obs"]}
    np.testing.assert_allclose(rt(obs), learner.behavior_policy(deterministic=True)(obs), atol=1e-4)


def test_peg_insert_labels_where_the_peg_went_in_and_trains_its_goal_head(tmp_path):
    """peg_insert's `goal` labeler on the expert's recorded episodes: the tool's position plus the
    label is above the hole (within its half width: the peg hangs straight down from the tool), on
    every step; the learner trains the `goal` head that a session's learner takes by default."""
    from robot_rl.learn.config import LearnerConfig, SACConfig
    from robot_rl.learn.learner import Learner
    from robot_rl.session import SessionConfig
    from robot_rl.tasks.peg_insert import HOLE_HALF

    store = tmp_path / "peg.zarr"
    holes = _expert_store("peg_insert", store, 2, "hole_pos")
    aux = SessionConfig(task="peg_insert").learner_config().aux
    cfg = LearnerConfig(store=str(store), policy="peg", registry=str(tmp_path / "policies"), run_dir=str(tmp_path / "run"),
                        batch=32, utd=100.0, task="peg_insert", aux=aux, sac=SACConfig(augment_pad=0))
    learner = Learner(cfg)
    s = learner.sampler
    assert list(aux) == ["goal"] and s.count("goal") == len(s)
    for i, ep in enumerate(learner.store.episodes()):
        b = s.batch(np.arange(*ep.steps))
        where = b["obs"][:, -5:-3] + b["labels"]["goal"][:, :2]
        assert np.abs(where - holes[i][:2]).max() < HOLE_HALF, (i, where[0], holes[i])
    assert np.isfinite(learner.update()["goal_loss"])


def test_the_learner_and_the_store_name_no_task():
    """Nothing under robot_rl/learn or robot_rl/store names a task or an object (the issue's grep;
    `peg` only as a word, not inside JPEG, the image codec) or a proprio column layout."""
    import re

    words = re.compile(r"grasp|cube|\bpeg|ProprioLayout|ee_pos|ee_yaw", re.IGNORECASE)
    hits = [f"{f.relative_to(REPO)}:{i}: {line.strip()}"
            for d in ("robot_rl/learn", "robot_rl/store") for f in sorted((REPO / d).rglob("*.py"))
            for i, line in enumerate(f.read_text().splitlines(), 1) if words.search(line)]
    assert not hits, "\n".join(hits)


@pytest.mark.hil
def test_a_task_written_outside_the_package_records_through_ros(procs, tmp_path, outside_task):
    """`robot-rl record --sim --task my_tasks:Reach`: the sim robot node imports the user's task from
    the PYTHONPATH the graph inherits; the expert demonstrates it on the Jaco. The recorder stores
    the task's own (dense) reward with each step: the one the robot published for that step."""
    import re

    from robot_rl import sim
    from robot_rl.robot.features import ProprioLayout
    from robot_rl.store import EpisodeStore

    procs.env = {**procs.env, "PYTHONPATH": f"{outside_task}:{procs.env.get('PYTHONPATH', '')}"}
    store = tmp_path / "reach.zarr"
    proc = procs.start([ROBOT_RL, "record", "--sim", "--task", "my_tasks:Reach", "--robot", "jaco", "--episodes", "2",
                        "--store", str(store), "--image-size", "64"], "record")
    assert wait_exit(proc, 240) == 0, proc.log_path.read_text()[-3000:]
    s = EpisodeStore(store)
    eps = s.episodes()
    assert len(eps) == 2 and all(e.success and e.task == "my_tasks:Reach" for e in eps)
    env = sim.make("my_tasks:Reach", robot="jaco", cameras=[])
    for ep in eps:
        seed = int(re.search(r"seed (\d+)", ep.notes).group(1))   # the sim robot's reset, in the notes
        goal = env.reset(seed=seed)[1]["state"]["goal"]
        steps = s.read_steps(ep, ["obs", "reward"])
        ee = steps["obs"][:, ProprioLayout.of_dim(steps["obs"].shape[1]).ee_pos]
        # step t's reward is the task's at the state step t's command led to: the next step's
        np.testing.assert_allclose(steps["reward"][:-1], -np.linalg.norm(goal - ee[1:], axis=1), atol=2e-4)
        assert -0.015 < steps["reward"][-1] <= 0.0     # the last step reached the marker


@pytest.mark.hil
def test_a_robot_without_a_gripper_reaches_through_ros(procs, tmp_path, outside_task):
    """A description with no gripper (arm6's model, its fingers left unactuated): no opening in the
    proprio features, no gripper value in the actions, no gripper stream; the reach task, written
    outside the package, recorded through the ROS graph with the expert's gripper value dropped."""
    from robot_rl import robot
    from robot_rl.robot.description import BUILTIN
    from robot_rl.robot.features import action_names, proprio_names
    from robot_rl.store import EpisodeStore

    fields = yaml.safe_load((BUILTIN / "arm6.yaml").read_text())
    fields.update(name="bare_arm", model={"mjcf": str(BUILTIN / fields["model"]["mjcf"])}, gripper={})
    desc = tmp_path / "bare_arm.yaml"
    desc.write_text(yaml.safe_dump(fields))
    d = robot.load(str(desc))
    assert not d.has_gripper and "gripper" not in proprio_names(d) and action_names(d) == ["dx", "dy", "dz", "dyaw"]
    procs.env = {**procs.env, "PYTHONPATH": f"{outside_task}:{procs.env.get('PYTHONPATH', '')}"}
    store = tmp_path / "bare.zarr"
    proc = procs.start([ROBOT_RL, "record", "--sim", "--task", "my_tasks:Reach", "--robot", str(desc), "--episodes", "1",
                        "--store", str(store), "--image-size", "64"], "record")
    assert wait_exit(proc, 240) == 0, proc.log_path.read_text()[-3000:]
    s = EpisodeStore(store)
    assert s.spec.steps.action_dim == 4 and s.spec.steps.obs_dim == 16 and "gripper" not in s.spec.stream_names
    ep = s.episodes()[0]
    steps = s.read_steps(ep, ["executed_action"])
    assert ep.success and np.isfinite(steps["executed_action"]).all() and s.spec.stream("teleop").shape == [4]


@pytest.mark.ros
@pytest.mark.hil
def test_a_short_session_runs_a_task_written_outside_the_package(tmp_path, ros_child_env, outside_task):
    """`robot-rl session --task my_tasks:Reach`: every stage on the user's task (demonstrations by
    its expert, the BC base, HIL episodes judged by its progress measure, selection, held-out
    evaluation, the report), with nothing in robot_rl naming it."""
    import json

    from robot_rl.store import EpisodeStore

    env = {**ros_child_env, "PYTHONPATH": f"{outside_task}:{ros_child_env.get('PYTHONPATH', '')}"}
    res = run_logged([sys.executable, "-m", "robot_rl.cli", "session", "--out", str(tmp_path / "s"),
                      "--task", "my_tasks:Reach", "--demos", "2", "--hil-episodes", "2", "--eval-episodes", "2",
                      "--set", "bc.steps=60", "--set", "learner.export_every_s=3", "--set", "learner.batch=32",
                      "--set", "image_size=64", "--set", "select_episodes=2"],
                     tmp_path / "logs", 240, cwd=tmp_path, env=env)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    store = EpisodeStore.open(tmp_path / "s" / "store.zarr")
    eps = store.episodes(status="complete")
    assert len(eps) == 4 and {e.task for e in eps} == {"my_tasks:Reach"}
    rewards = np.concatenate([store.read_steps(e, ["reward"])["reward"] for e in eps])
    assert (rewards <= 0).all() and (rewards < -0.01).any()     # the task's dense reward, stored per step
    report = (tmp_path / "s" / "report.md").read_text()
    assert report.startswith("# Session report: my_tasks:Reach")
    results = json.loads((tmp_path / "s" / "eval.json").read_text())
    assert len(results["base"]["success"]) == len(results["final"]["success"]) == 2
