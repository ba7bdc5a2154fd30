"""Tasks as plug-ins (robot_rl.tasks): builtin by name, a task written outside the package found
by its dotted path, in process and through the ROS graph, and one-line errors for bad names."""
from __future__ import annotations

import pathlib
import shutil
import sys

import numpy as np
import pytest

from conftest import REPO, wait_exit
from robot_rl import tasks

ROBOT_RL = str(pathlib.Path(sys.executable).parent / "robot-rl")
OUTSIDE = REPO / "tests" / "data" / "outside_task.py"   # the smallest complete task, as a user writes it


@pytest.fixture
def outside_task(tmp_path, monkeypatch):
    """The task module in a folder of its own, importable as `my_tasks` (not part of robot_rl)."""
    folder = tmp_path / "user_code"
    folder.mkdir()
    shutil.copy(OUTSIDE, folder / "my_tasks.py")
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    sys.modules.pop("my_tasks", None)


def test_builtin_tasks_by_name_and_bad_references_are_one_line_errors():
    assert tasks.get("pick_cube").name == "pick_cube" and tasks.get("peg_insert").expert is not None
    assert tasks.names()[:2] == ["pick_cube", "peg_insert"]
    for ref, message in [("juggle", "is not one of pick_cube, peg_insert"),
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

    desc = tmp_path / "bare_arm.yaml"
    desc.write_text((BUILTIN / "arm6.yaml").read_text().replace("arm6.xml", str(BUILTIN / "arm6.xml"))
                    .replace("name: arm6", "name: bare_arm")
                    .replace("gripper: {actuators: [grip_left, grip_right], open: 0.04, closed: 0.0}", "gripper: {}"))
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
