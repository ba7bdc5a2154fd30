"""The MuJoCo simulator core: determinism, experts, both robot models, actions and bad input.
Real MuJoCo, headless rendering."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from robot_rl import config, tasks
from robot_rl.robot.description import BUILTIN
from robot_rl.sim import SimConfig, make
from robot_rl.sim.env import RobotEnv
from robot_rl.sim.experts import make_expert, run_episode
from robot_rl.sim.outcomes import tracker_for


def rollout(env, seed, steps=30, noise=0.2):
    """Expert actions with seeded noise; everything the env returns, per step."""
    expert = make_expert(env, noise_std=noise, seed=seed)
    obs, info = env.reset(seed=seed)
    expert.reset()
    out = [obs]
    for _ in range(steps):
        obs, reward, term, trunc, info = env.step(expert.act(obs, info))
        out.append(obs)
        if term or trunc:
            break
    return out


@pytest.mark.parametrize("task", ["pick_cube", "peg_insert", "open_drawer"])
def test_same_seed_gives_bit_identical_trajectories(task):
    a, b = make(task), make(task)  # two separate simulators, cameras on
    try:
        ra, rb = rollout(a, seed=7), rollout(b, seed=7)
        assert len(ra) == len(rb) > 5
        for oa, ob in zip(ra, rb):
            for key in oa:
                assert np.array_equal(oa[key], ob[key]), key
        rc = rollout(a, seed=8)
        assert not np.array_equal(ra[0]["proprio"], rc[0]["proprio"])  # the seed moves the start pose
    finally:
        a.close()
        b.close()


def test_seed_determines_object_pose_and_reset_restores_it():
    env = make("pick_cube", cameras=[])
    _, i1 = env.reset(seed=3)
    env.step(np.array([0, 0, -1, 0, 1.0]))
    _, i2 = env.reset(seed=3)
    _, i3 = env.reset(seed=4)
    np.testing.assert_array_equal(i1["state"]["cube_pos"], i2["state"]["cube_pos"])
    assert not np.array_equal(i1["state"]["cube_pos"], i3["state"]["cube_pos"])


@pytest.mark.parametrize("task", ["pick_cube", "peg_insert", "open_drawer"])
def test_expert_success_over_100_seeds(task):
    env = make(task, cameras=[])
    expert = make_expert(env, seed=0)
    results = [run_episode(env, expert, seed) for seed in range(100)]
    rate = np.mean([r["success"] for r in results])
    assert rate >= 0.95, rate


@pytest.mark.parametrize("task", ["pick_cube", "peg_insert", "open_drawer"])
def test_a_differently_built_robot_plugs_in_by_its_description(task, tmp_path):
    # the 7-joint arm, loaded from a folder of its own as a user's MJCF and description would be
    shutil.copy(BUILTIN / "arm7.xml", tmp_path / "my_arm.xml")
    (tmp_path / "my_arm.yaml").write_text((BUILTIN / "arm7.yaml").read_text().replace("arm7.xml", "my_arm.xml")
                                          .replace("name: arm7", "name: my_arm"))
    env = make(task, robot=str(tmp_path / "my_arm.yaml"), cameras=["front", "wrist"])
    assert env.robot.n == 7 and env.observation_space["proprio"].shape == (19,)
    expert = make_expert(env, seed=0)
    assert sum(run_episode(env, expert, s)["success"] for s in range(20)) >= 19
    obs, _ = env.reset(seed=0)
    assert obs["wrist"].shape == (128, 128, 3) and obs["wrist"].std() > 0
    env.close()


def test_a_peg_that_lands_within_the_lead_in_slides_into_the_hole_and_outcomes_say_where_it_stopped():
    env = make("peg_insert", cameras=[])
    # the expert aiming 4 mm off the hole's centre (3 mm more than the clearance): the lead-in guides it
    off = make_expert(env, seed=0, bias_m=0.004)
    assert sum(run_episode(env, off, s)["success"] for s in range(10)) >= 9
    # aiming 2 cm off, it never gets the peg over the hole; an exact aim succeeds
    rows = {}
    for bias in (0.02, 0.0):
        expert = make_expert(env, seed=0, bias_m=bias)
        obs, info = env.reset(seed=1)
        expert.reset()
        tracker, done = tracker_for(env), False
        while not done:
            obs, _, term, trunc, info = env.step(expert.act(obs, info))
            tracker.step(info)
            done = term or trunc
        rows[bias] = tracker.result(info["success"])
    assert rows[0.0]["outcome"] == "success" and rows[0.0]["depth_cm"] >= 2.0
    assert rows[0.02]["outcome"] in ("never over the hole",) and rows[0.02]["closest_xy_cm"] > 0.5, rows


def test_a_tasks_failure_predicate_ends_the_episode_as_a_failure_everywhere():
    """pick_cube fails once the cube is off the table: the env, the in-process control step and the
    simulated operator end the episode there (terminated, not a success), and the outcome says why."""
    from robot_rl.sim.control_loop import SimControlLoop
    from robot_rl.sim.operator import SimOperator

    def knock_off(env):
        adr = env.task.qadr
        env.data.qpos[adr:adr + 3] = [0.42, 0.7, -0.3]   # beside the table, below its top
        env.data.qvel[:] = 0

    env = make("pick_cube", cameras=[])
    env.reset(seed=0)
    tracker = tracker_for(env)
    hold = np.array([0, 0, 0, 0, 1.0])
    _, _, term, trunc, info = env.step(hold)
    tracker.step(info)
    assert not term and not info["failure"]
    knock_off(env)
    _, reward, term, trunc, info = env.step(hold)
    tracker.step(info)
    assert term and not trunc and info["failure"] and not info["success"] and reward == 0.0
    assert tracker.result(False)["outcome"] == "knocked the cube off the table"

    loop = SimControlLoop(env)
    obs, _ = loop.reset(3)
    knock_off(env)
    _, obs, _, term, trunc, info = loop.step(obs, human_action=hold)
    assert term and not trunc and info["failure"] and not info["success"]

    operator = SimOperator(loop.server, seed=0)
    loop.server.reset(4)
    operator.reset()
    operator.start()
    assert operator.command().events == []
    knock_off(env)
    loop.server.step()
    assert operator.command().events == ["failure"] and env.steps == 1   # at once, not at the step limit
    # a task without a failure predicate runs to its step limit
    assert not tasks.get("open_drawer")().failure(None, None, None)


def test_degraded_expert_is_weaker():
    env = make("pick_cube", cameras=[])
    good = make_expert(env, seed=0)
    weak = make_expert(env, seed=0, bias_m=0.03, noise_std=0.3)
    ok_good = sum(run_episode(env, good, s)["success"] for s in range(30))
    ok_weak = sum(run_episode(env, weak, s)["success"] for s in range(30))
    assert ok_good == 30 and ok_weak < 25


def test_joint_mode_tracks_and_clamps_targets():
    env = make("pick_cube", cameras=[], action_mode="joint")
    env.reset(seed=0)
    target = env.q + np.array([0.1, -0.1, 0.1, 0.0, 0.1, 0.2])
    for _ in range(10):
        obs, *_ = env.step(np.concatenate([target, [1.0]]))
    np.testing.assert_allclose(env.q, target, atol=0.01)
    q = env.joint_targets(np.concatenate([env.robot.upper + 5.0, [0.0]]))
    np.testing.assert_array_equal(q, env.robot.upper)


def test_ee_delta_moves_the_end_effector_and_respects_the_workspace():
    env = make("pick_cube", cameras=[])
    env.reset(seed=0)
    p0, _ = env.ee_pose()
    for _ in range(3):
        env.step(np.array([1.0, 0, 0, 0, 1.0]))
    p1, _ = env.ee_pose()
    assert 0.05 < p1[0] - p0[0] <= 3 * env.cfg.max_pos_step + 0.005
    for _ in range(40):
        env.step(np.array([0, 0, -1.0, 0, 1.0]))
    assert env.ee_pose()[0][2] > -0.005  # never driven into the table


@pytest.mark.parametrize("bad", [np.full(5, np.nan), np.zeros(4), np.array([0, 0, np.inf, 0, 0])])
def test_bad_actions_are_refused_and_the_robot_does_not_move(bad):
    env = make("pick_cube", cameras=[])
    env.reset(seed=0)
    q, ctrl, t = env.q, env.data.ctrl.copy(), env.data.time
    with pytest.raises(ValueError, match="finite"):
        env.step(bad)
    np.testing.assert_array_equal(env.q, q)
    np.testing.assert_array_equal(env.data.ctrl, ctrl)
    assert env.data.time == t


@pytest.mark.parametrize("override, message", [
    ({"task": "juggle"}, "not one of"), ({"control_hz": 5}, "10..1000"), ({"physics_hz": 450}, ">= 500"),
    ({"physics_hz": 700, "control_hz": 30}, "whole multiple"), ({"cameras": ["top"]}, "not front or wrist"),
])
def test_bad_sim_config_is_a_one_line_error(override, message):
    with pytest.raises(config.ConfigError, match=message):
        config.from_dict(SimConfig, override)


def test_robot_description_names_are_checked(tmp_path):
    text = (BUILTIN / "arm6.yaml").read_text().replace("arm6.xml", str(BUILTIN / "arm6.xml"))
    for name, broken, message in [("site", text.replace("{site: ee}", "{site: nope}"), "no site named 'nope'"),
                                  ("file", text.replace(str(BUILTIN / "arm6.xml"), "/nonexistent/arm.xml"), "not found"),
                                  ("joints", text.replace("joint6]", "joint6, joint7]"), "7 joints but 6 actuators"),
                                  ("package", text.replace(str(BUILTIN / "arm6.xml"), "pkg://no_such_package/arm.xml"),
                                   "not installed")]:
        path = tmp_path / f"{name}.yaml"
        path.write_text(broken)
        with pytest.raises((ValueError, FileNotFoundError), match=message):
            RobotEnv(SimConfig(robot=str(path)))
    with pytest.raises(config.ConfigError, match="no such description"):
        config.from_dict(SimConfig, {"robot": "no_such_robot"})


def _corrected_episodes(policy, n=10, triggers=None, **human_kw):
    """(success, per-step intervention flags) of n corrected episodes; `triggers`, a list, gets
    each episode's takeovers by what set them off."""
    from robot_rl.sim.corrector import CorrectedEnv, CorrectorConfig, SimulatedHuman
    env = make("pick_cube", cameras=[])
    human = SimulatedHuman(env, CorrectorConfig(**human_kw), seed=0)
    cenv = CorrectedEnv(env, human)
    out = []
    for seed in range(n):
        obs, info = cenv.reset(seed=seed)
        flags, done = [], False
        while not done:
            obs, _, term, trunc, info = cenv.step(policy(env, obs, info))
            flags.append(info["is_intervention"])
            done = term or trunc
        out.append((info["success"], flags))
        if triggers is not None:
            triggers.append(dict(human.triggers))
    return out


def test_simulated_human_leaves_a_good_policy_alone():
    expert = {}

    def good(env, obs, info):
        e = expert.setdefault("e", make_expert(env, seed=1))
        if env.steps == 0:
            e.reset()
        return e.act(obs, info)
    results = _corrected_episodes(good)
    assert all(s for s, _ in results) and not any(any(f) for _, f in results)


def test_simulated_human_takes_over_after_its_reaction_delay_and_rescues_episodes():
    idle = lambda env, obs, info: np.zeros(5)  # noqa: E731  (a policy that does nothing)
    # off the expert's plan from the first step: noticed after `patience` steps (step 2), acts 3 later
    results = _corrected_episodes(idle, patience=3, reaction_steps=3)
    assert sum(s for s, _ in results) >= 9
    assert all(flags.index(True) == 2 + 3 for _, flags in results)
    # no tube: only the stall triggers it (no progress for 6 steps: noticed at step 6, acts 3 later)
    results = _corrected_episodes(idle, tube=100.0, stall_steps=6, reaction_steps=3)
    assert sum(s for s, _ in results) >= 9
    assert all(flags.index(True) == 6 + 3 for _, flags in results)


def _dive(env, obs, info):
    """Succeeds by a route the expert does not take: straight at a point 3 cm above the cube's top
    (the expert stops 8 cm above its centre first), then down, close, lift."""
    from robot_rl.sim.experts import nearest_yaw as _nearest_yaw
    from robot_rl.tasks.pick_cube import CUBE_HALF
    pos, yaw = env.ee_pose()
    cube = info["state"]["cube_pos"]
    cube_yaw = _nearest_yaw(float(info["state"]["cube_yaw"][0]), yaw)
    grip = 1.0
    if env.gripper_opening() < 0.6:                      # closed on the cube: lift
        target, grip = np.array([cube[0], cube[1], 0.2]), -1.0
    elif np.linalg.norm(cube[:2] - pos[:2]) > 0.004 or abs(cube_yaw - yaw) > 0.04:
        target = np.array([cube[0], cube[1], CUBE_HALF + 0.03])
    elif pos[2] > CUBE_HALF + 0.006:
        target = np.array([cube[0], cube[1], CUBE_HALF])
    else:                                                # there: close
        target, grip = pos, -1.0
    return np.r_[np.clip((target - pos) / env.cfg.max_pos_step, -1, 1),
                 np.clip((cube_yaw - yaw) / env.cfg.max_yaw_step, -1, 1), grip]


def _successes_alone(policy, n: int) -> list[bool]:
    """The scripted policy(env, obs, info) on seeds 0..n-1 with no human: success per episode."""
    env = make("pick_cube", cameras=[])
    alone = []
    for seed in range(n):
        obs, info = env.reset(seed=seed)
        done = False
        while not done:
            obs, _, term, trunc, info = env.step(policy(env, obs, info))
            done = term or trunc
        alone.append(info["success"])
    return alone


def test_the_progress_judge_leaves_a_policy_that_succeeds_by_another_route_alone():
    assert all(_successes_alone(_dive, 10))
    # the plan judge takes over on some of these episodes (its route is not the expert's) ...
    plan = _corrected_episodes(_dive, judge="plan")
    assert sum(any(f) for _, f in plan) >= 2
    # ... the progress judge on none, and every episode still succeeds
    progress = _corrected_episodes(_dive, judge="progress")
    assert all(s for s, _ in progress) and not any(any(f) for _, f in progress)


def _slow_grasp(env, obs, info):
    """_dive, but it holds the closed gripper at the cube for 8 steps before it lifts (the expert
    waits 4): fingers that have stopped make no task progress for a while."""
    from robot_rl.tasks.pick_cube import CUBE_HALF
    if env.steps == 0:
        _slow_grasp.held = 0
    a = _dive(env, obs, info)
    if a[4] < 0 and info["state"]["cube_pos"][2] < CUBE_HALF + 0.002 and _slow_grasp.held < 8:
        _slow_grasp.held += env.gripper_opening() < 0.6
        a[:4] = 0.0   # hold still, closing, then closed, before lifting
    return a


def test_the_progress_judge_lets_a_policy_take_its_time_at_the_grasp():
    """Its plan follows the scene: at the cube it compares the policy with closing, not with
    hovering 8 cm above (where its own phases would still be after the dive), so a pause at the
    grasp is not off-plan."""
    assert all(_successes_alone(_slow_grasp, 6))
    results = _corrected_episodes(_slow_grasp, judge="progress", n=6)
    assert all(s for s, _ in results) and not any(any(f) for _, f in results)


def test_expert_replan_picks_up_the_plan_where_the_scene_is():
    """A takeover with the gripper already around the cube closes and lifts from there; away from
    the cube the plan starts over."""
    from robot_rl.tasks.pick_cube import CUBE_HALF
    env = make("pick_cube", cameras=[])
    expert = make_expert(env, seed=0)
    obs, info = env.reset(seed=3)
    expert.replan(info)
    assert expert.phase == 0                               # at the start pose: hover above it first
    while env.ee_pose()[0][2] > CUBE_HALF + 0.006 or env.gripper_opening() < 0.99:   # dive to the cube, open
        obs, _, _, _, info = env.step(_dive(env, obs, info))
        assert env.steps < 60
    expert.phase = 0                                       # where its own phases were after a dive
    expert.replan(info)
    assert expert.phase == 2                               # around the cube: close
    top, done = 0.0, False
    while not done:
        a = expert.act(obs, info)
        obs, _, term, trunc, info = env.step(a)
        done = term or trunc
        if info["state"]["cube_pos"][2] < CUBE_HALF + 0.002:
            top = max(top, float(env.ee_pose()[0][2]))
    assert info["success"] and top < CUBE_HALF + 0.02      # closed and lifted without climbing back to hover
    expert.replan(info)
    assert expert.phase == 3                               # holding it up: lift


def test_the_progress_judge_still_takes_over_a_policy_that_gets_nowhere():
    idle = lambda env, obs, info: np.zeros(5)  # noqa: E731
    triggers = []
    results = _corrected_episodes(idle, judge="progress", patience=3, reaction_steps=3, triggers=triggers)
    assert sum(s for s, _ in results) >= 9
    assert all(t.get("off_plan", 0) >= 1 and "regress" not in t for t in triggers), triggers
    # the task does not advance, so off the plan is off: noticed after `patience` steps, acts 3 later
    assert all(flags.index(True) == 2 + 3 for _, flags in results)


def _expert_after(k: int, scale: float = 1.0, away_at: int = 10**6, back_at: int = 10**6):
    """A policy that idles for k steps, then does what the expert would at `scale` of its speed,
    from step `away_at` on climbs away from the task, and from `back_at` on does the expert's job
    again."""
    holder = {}

    def policy(env, obs, info):
        e = holder.setdefault("e", make_expert(env, seed=1))
        if env.steps == 0:
            e.reset()
        if env.steps < k:
            return np.zeros(5)
        if away_at <= env.steps < back_at:
            return np.array([0.0, 0.0, 1.0, 0.0, 1.0])
        if env.steps in (k, back_at) or info.get("is_intervention"):   # from wherever the scene is when it gets control
            e.replan(info)
        a = e.act(obs, info)
        a[:4] *= scale
        return a
    return policy


def test_the_progress_judge_hands_back_once_the_policy_is_on_track():
    """A policy that idles, then does the expert's motion at half its speed: the human takes over
    for `hold_steps` and hands back (the policy heads the right way, if slower), and the policy
    finishes alone. The plan judge takes over again at the slow grasp in some episodes."""
    results = _corrected_episodes(_expert_after(8, scale=0.5), judge="progress", hold_steps=6, n=6)
    for success, flags in results:
        first = flags.index(True)
        assert success and flags[first:first + 6] == [True] * 6 and not any(flags[first + 6:]), flags
    plan = _corrected_episodes(_expert_after(8, scale=0.5), judge="plan", hold_steps=6, n=6)
    assert sum(any(f[f.index(True) + 12:]) for _, f in plan) >= 2


def test_the_progress_judge_takes_over_when_the_task_goes_backwards():
    """A policy that does the expert's job, then climbs away: the human takes over once the task is
    `regress_m` behind its best, long before a stall would have made it."""
    triggers = []
    results = _corrected_episodes(_expert_after(0, away_at=8), judge="progress", stall_steps=50,
                                  reaction_steps=1, n=6, triggers=triggers)
    for (success, flags), set_off in zip(results, triggers):
        assert success and 8 < flags.index(True) <= 8 + 5, flags
        assert set_off.get("regress", 0) >= 1 and "stall" not in set_off, set_off


def test_the_progress_judge_leaves_a_policy_that_mends_its_mistake_before_the_takeover():
    """The same climb away, but the policy heads back to the task before the human's reaction delay
    is over (a missed grasp it reopens and retries): the human leaves it be. Climbing on, it is
    taken over (above)."""
    triggers = []
    results = _corrected_episodes(_expert_after(0, away_at=8, back_at=10), judge="progress", stall_steps=50,
                                  reaction_steps=2, n=6, triggers=triggers)
    assert all(s and not any(f) for s, f in results) and not any(triggers), (results, triggers)
    late = _corrected_episodes(_expert_after(0, away_at=8, back_at=14), judge="progress", stall_steps=50,
                               reaction_steps=2, n=6)
    assert all(any(f) for _, f in late)


def test_a_bad_corrector_judge_is_refused():
    from robot_rl.record.graph import RecordingGraph
    from robot_rl.sim.corrector import CorrectorConfig, SimulatedHuman
    with pytest.raises(ValueError, match="judge must be plan or progress"):
        SimulatedHuman(make("pick_cube", cameras=[]), CorrectorConfig(judge="vibes"))
    with pytest.raises(ValueError, match="corrector_judge must be plan or progress"):
        RecordingGraph(store="s.zarr", teleop="corrector", policy="p", corrector_judge="vibes").validate()


def test_cli_sim_writes_a_video_and_a_strip(tmp_path):
    import subprocess
    import sys

    import cv2
    out = subprocess.run([sys.executable, "-m", "robot_rl.cli", "sim", "--task", "pick_cube", "--expert",
                          "--seed", "2", "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "success" in out.stdout
    cap = cv2.VideoCapture(str(tmp_path / "pick_cube_seed2.mp4"))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = cap.read()
    cap.release()
    steps = int(out.stdout.split(" after ")[1].split()[0])
    assert ok and frames == steps + 1 and frame.shape == (240, 640, 3)  # front | wrist, one frame per step
    strip = cv2.imread(str(tmp_path / "pick_cube_seed2.png"))
    assert strip is not None and strip.shape == (120, 8 * 160, 3)
    bad = subprocess.run([sys.executable, "-m", "robot_rl.cli", "sim", "--task", "juggle"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "--task: task 'juggle' is not one of pick_cube, peg_insert, open_drawer" in bad.stderr
