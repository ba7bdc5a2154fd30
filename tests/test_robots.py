"""Robots as descriptions (robot_rl.robot): builtin and foreign models build and declare their
features; a description in a temp dir drives the whole ROS graph; the core names no robot and no
proprio layout; policies name their robot; one control step in process and in the control node."""
from __future__ import annotations

import pathlib
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO, drive_sim, read_json, wait_exit
from robot_rl import config, robot
from robot_rl.robot.description import BUILTIN
from robot_rl.robot.features import action_names, layout, proprio_names
from robot_rl.robot.kinematics import Kinematics

ROBOT_RL = str(pathlib.Path(sys.executable).parent / "robot-rl")
FOREIGN = ("panda", "jaco")   # models from installed packages (gymnasium-robotics, dm_control)


@pytest.mark.parametrize("name", robot.builtin_names())
def test_each_builtin_robot_builds_points_its_tool_down_at_home_and_declares_features(name):
    d = robot.load(name)
    kin = Kinematics(d)
    pos, quat = kin.ik.forward(kin.home_q)
    # home: the tool inside the workspace, pointing down (its approach axis along -z)
    assert np.all(pos >= d.workspace.low) and np.all(pos <= d.workspace.high), pos
    lay = layout(d)
    assert lay.dim == len(proprio_names(d)) == 2 * d.n + 5
    assert proprio_names(d)[lay.ee_yaw] == "ee_yaw" and proprio_names(d)[lay.gripper] == "gripper"
    assert action_names(d, "ee") == ["dx", "dy", "dz", "dyaw", "gripper"]
    assert action_names(d, "joint") == [f"dq_{j}" for j in d.joints] + ["gripper"]
    assert np.all(kin.robot.lower < kin.robot.upper) and np.all(np.isfinite(kin.robot.lower))
    # the yaw measured at home is 0, and an IK target turned by 0.3 rad comes back as 0.3
    assert abs(kin.ee_state(pos, quat)[3]) < 1e-6
    q, err = kin.ik.solve(kin.home_q, pos, kin.tool_quat(0.3))
    p2, q2 = kin.ik.forward(q)
    assert err < 2e-3 and abs(kin.ee_state(p2, q2)[3] - 0.3) < 0.02
    assert robot.load(name).digest() == d.digest() and len({robot.load(n).digest() for n in robot.builtin_names()}) == 4


@pytest.mark.parametrize("name", FOREIGN)
def test_foreign_models_are_read_from_their_installed_packages_not_this_repo(name):
    d = robot.load(name)
    refs = [d.model.mjcf, *d.model.includes, *d.model.body_includes, *(a.mjcf for a in d.model.attach)]
    assert refs and all(r.startswith("pkg://") for r in refs if r)
    tracked = subprocess.run(["git", "ls-files", "*.xml", "*.stl", ":!*resources*"], cwd=REPO, capture_output=True, text=True).stdout.split()
    assert sorted(pathlib.Path(p).name for p in tracked) == ["arm6.xml", "arm7.xml"]   # ours only


@pytest.mark.parametrize("name,task", [(n, "pick_cube") for n in FOREIGN] + [("panda", "open_drawer"),
                                                                         ("jaco", "peg_insert")])
def test_the_expert_does_the_task_with_each_foreign_arm_through_the_control_step(name, task):
    """The scripted expert, through the same control step as the robot's (safety layer, sim robot
    command checks), picks the cube with the Panda and with the Jaco's three fingers, opens the
    drawer with the Panda (its fingers turned across the handle, found from its model), and inserts
    the peg with the Jaco (the peg held square to the world at yaw 0 whatever its hand's axes)."""
    from robot_rl import sim
    from robot_rl.sim.control_loop import SimControlLoop
    from robot_rl.sim.experts import make_expert

    env = sim.make(task, robot=name, cameras=[])
    loop = SimControlLoop(env)
    ok = 0
    for seed in range(6):
        obs, info = loop.reset(seed)
        expert = make_expert(env, seed=seed)
        done = False
        while not done:
            _, obs, _, term, trunc, info = loop.step(obs, human_action=expert.act(obs, info))
            done = term or trunc
        ok += info["success"]
    assert ok >= 5, f"{name}, {task}: expert succeeded on {ok}/6"
    assert loop.server.rejected.total() <= 2, loop.server.rejected


def test_no_robot_name_or_proprio_layout_is_written_outside_the_robot_descriptions():
    names = "|".join(robot.builtin_names())
    patterns = [re.compile(rf"[\"'](?:{names})[\"']"), re.compile(r"Literal\[\"arm"), re.compile(r"2 \* n \+ 5"),
                re.compile(r"slice\(-5"), re.compile(r"\[-5:-2\]"), re.compile(r"\[2 \* n:2 \* n \+ 4\]")]
    hits = []
    for folder in ("robot_rl", "ros_nodes"):
        for path in (REPO / folder).rglob("*.py"):
            if path.is_relative_to(REPO / "robot_rl" / "robot"):
                continue
            for i, line in enumerate(path.read_text().splitlines(), 1):
                if any(p.search(line) for p in patterns):
                    hits.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_bad_descriptions_are_one_line_errors(tmp_path):
    base = (BUILTIN / "arm6.yaml").read_text().replace("arm6.xml", str(BUILTIN / "arm6.xml"))
    cases = {"home: [0, 0, 0, 0, 0, 0]": ("home: [0, 0]", "home has 2 values for 6 joints"),
             "workspace: {low: [0.20, -0.35, 0.0]": ("workspace: {low: [0.90, -0.35, 0.0]", "need low < high"),
             "command: {mode: ee": ("command: {mode: cartesian", "command.mode: expected one of"),
             "tool: {site: ee}": ("tool: {}", "tool.site are required")}
    for i, (old, (new, message)) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.yaml"
        path.write_text(base.replace(old, new))
        with pytest.raises(config.ConfigError, match=re.escape(message)) as exc:
            robot.load(str(path))
        assert "\n" not in str(exc.value) and str(path) in str(exc.value)
    # the CLI says it in one line with exit 2
    proc = subprocess.run([ROBOT_RL, "robots", str(tmp_path / "bad0.yaml")], capture_output=True, text=True)
    assert proc.returncode == 2 and "home has 2 values" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def user_robot(tmp_path: pathlib.Path) -> pathlib.Path:
    """A robot no builtin knows: arm7's model renamed, in a folder of the user's, with its own YAML."""
    folder = tmp_path / "my_robot"
    folder.mkdir()
    xml = (BUILTIN / "arm7.xml").read_text().replace("a7_", "my_")
    (folder / "my_arm.xml").write_text(xml)
    (folder / "my_arm.yaml").write_text((BUILTIN / "arm7.yaml").read_text().replace("a7_", "my_")
                                        .replace("arm7.xml", "my_arm.xml").replace("name: arm7", "name: my_arm"))
    return folder / "my_arm.yaml"


@pytest.mark.hil
def test_a_robot_described_in_a_temp_dir_records_a_lockstep_episode_through_ros(procs, tmp_path):
    """`robot-rl record --sim --robot PATH`: sim robot, control node and recorder, each its own
    process, all reading the user's description; the store names the robot and its joints."""
    from robot_rl.store import EpisodeStore
    from robot_rl.store.verify import verify

    desc = user_robot(tmp_path)
    store = tmp_path / "mine.zarr"
    proc = procs.start([ROBOT_RL, "record", "--sim", "--robot", str(desc), "--episodes", "1", "--store", str(store),
                        "--max-episode-s", "30", "--cameras", "front,wrist", "--image-size", "64"], "record")
    assert wait_exit(proc, 240) == 0, proc.log_path.read_text()[-3000:]
    assert verify(store).ok
    s = EpisodeStore(store)
    ep = s.episodes()[0]
    assert ep.status == "complete" and ep.success
    assert s.spec.robot.name == "my_arm" and s.spec.robot.joint_names == [f"my_j{i}" for i in range(1, 8)]
    assert s.spec.robot.description_sha256 == robot.load(str(desc)).digest()
    assert s.spec.steps.obs_dim == 19 and s.spec.stream("joints").fields[0] == "q_my_j1"


@pytest.mark.hil
def test_a_policy_for_another_robot_is_refused_while_the_running_one_keeps_control(procs, tmp_path):
    """arm6 and jaco have the same shapes (17 proprio, 5 actions): only the robot named in the
    policy's metadata tells them apart. The node refuses jaco's policy with one line and keeps arm6's."""
    import hashlib

    from conftest import publish_mlp
    from robot_rl.policy import ActionSpec, ObsSpec, PolicyMetadata
    from robot_rl.policy.registry import PolicyRegistry
    from robot_rl.policy.spec import RobotRef

    reg = PolicyRegistry(tmp_path / "policies")
    obs, act = ObsSpec("proprio", [17]), ActionSpec(["dx", "dy", "dz", "dyaw", "gripper"], [-1.0] * 5, [1.0] * 5)

    def for_robot(name: str, mode: str, seed: int) -> pathlib.Path:
        path = publish_mlp(reg, "pol", obs, act, seed=seed)
        data = path.read_bytes()
        meta = PolicyMetadata.from_json(__import__("json").loads(path.with_suffix(".json").read_text()))
        path.unlink()
        path.with_suffix(".json").unlink()
        d = robot.load(name)
        named = PolicyMetadata(name="pol", obs=meta.obs, action=meta.action, robot=RobotRef(d.name, d.digest(), mode))
        return reg.publish(data, named)

    mine = for_robot("arm6", "ee", 0)
    theirs = for_robot("jaco", "ee", 1)
    joint_mode = for_robot("arm6", "joint", 2)
    # at start: a policy for another robot is a bad parameter (exit 2, one line)
    bad = procs.node("control_node", "bad", policy=str(theirs), registry=str(reg.root))
    assert wait_exit(bad, 30) == 2
    assert "was made for robot jaco" in bad.log_path.read_text()
    procs.node("sim_robot", "sim", mode="realtime", control_hz=20.0, cameras="")
    ctl = procs.node("control_node", "control", policy=str(mine), registry=str(reg.root), rate_hz=20.0,
                     report_path=str(tmp_path / "ctl.json"))
    updates = [f"{p} {hashlib.sha256(p.read_bytes()).hexdigest()}" for p in (theirs, joint_mode)]
    client = procs.start([sys.executable, str(REPO / "tests" / "control_client.py"), "1.0", *updates], "client")
    assert wait_exit(client, 60) == 0, client.log_path.read_text()[-2000:]
    time.sleep(1.0)
    ctl.send_signal(signal.SIGINT)
    assert wait_exit(ctl, 20) == 0, ctl.log_path.read_text()[-3000:]
    rep = read_json(tmp_path / "ctl.json")
    assert [s["ok"] for s in rep["swaps"]] == [False, False], rep["swaps"]
    assert "was made for robot jaco" in rep["swaps"][0]["why"] and "arm6" in rep["swaps"][0]["why"]
    assert "acts in command mode joint" in rep["swaps"][1]["why"]
    assert rep["policy"] == "pol/v0001" and rep["ticks"] > 40 and rep["policy_faults"] == 0
    # the driver's joint names must name every joint of the description: a wrong count is one line
    for module, extra in (("control_node", {}), ("recorder_node", {"store": str(tmp_path / "x.zarr")})):
        bad = procs.node(module, f"bad_{module}", joint_names="a,b,c", **extra)
        assert wait_exit(bad, 30) == 2, module
        assert "joint_names has 3 names for the 6 joints of arm6" in bad.log_path.read_text(), module
    assert "policy update refused, keeping pol/v0001: policy pol/v0002 was made for robot jaco" in ctl.log_path.read_text()


@pytest.mark.hil
@pytest.mark.parametrize("name", FOREIGN)
def test_foreign_robots_record_a_demonstration_through_ros_in_lockstep(procs, tmp_path, name):
    """The HIL graph (sim robot, teleop-only control node, simulated operator, recorder) on the
    Panda and the Jaco: a complete, successful, verified episode whose store names the robot."""
    from robot_rl.store import EpisodeStore
    from robot_rl.store.verify import verify

    store = tmp_path / f"{name}.zarr"
    proc = procs.start([ROBOT_RL, "record", "--sim", "--robot", name, "--episodes", "1", "--store", str(store),
                        "--max-episode-s", "30", "--image-size", "64", "--seed", "3"], "record")
    assert wait_exit(proc, 240) == 0, proc.log_path.read_text()[-3000:]
    assert verify(store).ok
    s = EpisodeStore(store)
    ep = s.episodes()[0]
    assert ep.status == "complete" and ep.success and s.spec.robot.name == name
    steps = s.read_steps(ep)
    assert steps["intervention"].mean() > 0.9 and np.isfinite(steps["executed_action"]).all(1).mean() > 0.9


class _Residual(__import__("torch").nn.Module):
    """A residual policy in one graph, as the learner deploys it: (action, base_action)."""

    def __init__(self, dim: int, n_act: int) -> None:
        import torch
        super().__init__()
        torch.manual_seed(4)
        self.base, self.res = torch.nn.Linear(dim, n_act), torch.nn.Linear(dim, n_act)

    def forward(self, proprio):
        import torch
        base = torch.tanh(self.base(proprio))
        return torch.clamp(base + 0.3 * torch.tanh(self.res(proprio)), -1.0, 1.0), base


@pytest.mark.hil
def test_one_control_step_residual_base_in_the_store_and_the_same_commands_in_process(procs, tmp_path):
    """A residual policy runs in the control node while the simulated human corrects it, recorded
    over ROS (lockstep): every step the policy ran holds its base action in the store, and the
    in-process control step (robot_rl.sim.control_loop's ControlCore and safety layer) turns the
    same observations, policy outputs and human actions into the same executed actions."""
    from robot_rl.control.core import ControlCore, robot_control
    from robot_rl.control.safety import SafetyLayer
    from robot_rl.control.watchdog import Watchdog
    from robot_rl.policy import ActionSpec, ObsSpec, PolicyMetadata
    from robot_rl.policy.export import export
    from robot_rl.policy.registry import PolicyRegistry
    from robot_rl.policy.runtime import PolicyRuntime
    from robot_rl.policy.spec import ResidualSpec, RobotRef
    from robot_rl.record.graph import RecordingGraph, recording_nodes
    from robot_rl.store import EpisodeStore

    d = robot.load("arm6")
    obs_spec, act = ObsSpec("proprio", [layout(d).dim]), ActionSpec(action_names(d), [-1.0] * 5, [1.0] * 5)
    meta = PolicyMetadata(name="res", obs=[obs_spec], action=act, residual=ResidualSpec("base/v0001", 0.3),
                          robot=RobotRef(d.name, d.digest(), "ee"))
    reg = PolicyRegistry(tmp_path / "policies")
    path = reg.publish(export(_Residual(obs_spec.shape[0], 5), meta)[0], meta)
    store_path = tmp_path / "res.zarr"
    graph = RecordingGraph(store=str(store_path), robot="arm6", episodes=1, teleop="corrector", policy=str(path),
                           registry=str(reg.root), cameras="", max_episode_s=30.0, reset_wait_s=0.5)
    nodes = {n.name: procs.start(n.command(), n.name) for n in recording_nodes(graph)}
    assert wait_exit(nodes["recorder"], 180) == 0, nodes["recorder"].log_path.read_text()[-3000:]
    store = EpisodeStore(store_path)
    ep = store.episodes()[0]
    s = store.read_steps(ep)
    ran = np.isfinite(s["action"]).all(1)
    assert ran.sum() >= 10 and s["intervention"].any() and (~s["intervention"] & ran).any()
    # the base action of every step the policy ran: finite, and what the graph's base output is
    rt = PolicyRuntime.from_file(path)
    for i in np.flatnonzero(ran):
        np.testing.assert_allclose(s["action"][i], rt({"proprio": s["obs"][i]}), atol=1e-5)
        np.testing.assert_allclose(s["base_action"][i], rt.last_base, atol=1e-5)
    assert np.isnan(s["base_action"][~ran]).all()
    # the in-process control step on the same inputs: the same executed actions. The node's safety
    # layer has history from before the episode: seed ours with the first step's command.
    safety_cfg, to_command = robot_control(d, graph.rate_hz)
    safety = SafetyLayer(safety_cfg, 1.0 / graph.rate_hz)
    lay = layout(d)
    state0 = s["obs"][0][lay.ee_state].astype(np.float64)
    safety._sent(list(map(float, to_command(s["executed_action"][0], state0))))
    core = ControlCore(rt, safety, Watchdog({}, 0.0), to_command)
    compared = 0
    for i in range(1, len(s["obs"])):
        obs = {"proprio": s["obs"][i]}
        state = s["obs"][i][lay.ee_state].astype(np.float64)
        if s["hold"][i]:
            safety.hold(state)
            continue
        human = s["human_action"][i] if s["intervention"][i] else None
        rec = core.tick(i, obs, state, human, ran=(rt(obs), rt.last_base) if ran[i] else None)
        np.testing.assert_allclose(rec.executed_action, s["executed_action"][i], atol=2e-4, err_msg=f"step {i}")
        compared += 1
    assert compared >= 10


class _Constant(__import__("torch").nn.Module):
    def __init__(self, action: list[float]) -> None:
        import torch
        super().__init__()
        self.register_buffer("a", torch.tensor([action], dtype=torch.float32))

    def forward(self, proprio):
        return self.a.expand(proprio.shape[0], -1) + 0.0 * proprio[:, :1]


@pytest.mark.parametrize("name", ["arm6", "panda"])
def test_full_orientation_actions_tilt_the_tool_up_to_the_descriptions_tilt_limit(name):
    """ee_rpy: [dx, dy, dz, droll, dpitch, dyaw, grip]. Rolling and pitching tilts the
    tool (measured on the simulated arm) until the safety layer's tilt box stops it; the tool's
    position holds. A 5-value ee action (the expert) drives an ee_rpy robot with roll and pitch held."""
    from robot_rl import sim
    from robot_rl.robot.kinematics import rpy_from_home
    from robot_rl.sim.control_loop import SimControlLoop
    from robot_rl.sim.experts import make_expert

    env = sim.make("pick_cube", robot=name, cameras=[])
    d = env.description
    # at half speed: rolling and pitching at full speed at once needs more than the sim robot's 3 rad/s
    # on some joints, and it refuses such commands (holds), as a driver with velocity limits would
    loop = SimControlLoop(env, policy=lambda obs: np.array([0, 0, 0, 0.5, -0.5, 0, 1.0]), mode="ee_rpy")
    assert loop.action_dim == 7 and action_names(d, "ee_rpy")[3:6] == ["droll", "dpitch", "dyaw"]
    obs, _ = loop.reset(0)
    pos0 = env.ee_pose()[0]
    for _ in range(30):
        _, obs, *_ = loop.step(obs)
    quat = np.zeros(4)
    __import__("mujoco").mju_mat2Quat(quat, env.data.site_xmat[env.robot.ee_site])
    roll, pitch, _ = rpy_from_home(quat, env.home_quat)
    lo, hi = d.workspace.tilt
    assert abs(roll - hi) < 0.05 and abs(pitch - lo) < 0.05, (roll, pitch)
    # (commands are relative to the measured pose: a servo lagging a fast tilt lets it drift a few cm)
    assert np.linalg.norm(env.ee_pose()[0] - pos0) < 0.06 and loop.core.safety.counts["bounds"] > 0
    assert not loop.server.rejected, loop.server.rejected
    # the expert's 5-value actions in ee_rpy mode: the cube is still picked
    loop = SimControlLoop(env, mode="ee_rpy")
    obs, info = loop.reset(1)
    expert, done = make_expert(env, seed=1), False
    while not done:
        _, obs, _, term, trunc, info = loop.step(obs, human_action=expert.act(obs, info))
        done = term or trunc
    assert info["success"]


@pytest.mark.hil
def test_the_control_node_commands_full_orientation_through_ros(procs, tmp_path):
    """command_mode ee_rpy on the panda: the node turns a policy's roll/pitch deltas into
    PoseStamped targets the sim robot accepts, and its safety layer holds the tilt box."""
    from robot_rl.policy import ActionSpec, ObsSpec, PolicyMetadata
    from robot_rl.policy.export import export
    from robot_rl.policy.registry import PolicyRegistry
    from robot_rl.policy.spec import RobotRef

    d = robot.load("panda")
    names = action_names(d, "ee_rpy")
    meta = PolicyMetadata(name="tilt", obs=[ObsSpec("proprio", [layout(d).dim])],
                          action=ActionSpec(names, [-1.0] * 7, [1.0] * 7), robot=RobotRef(d.name, d.digest(), "ee_rpy"))
    reg = PolicyRegistry(tmp_path / "policies")
    path = reg.publish(export(_Constant([0, 0, 0, 0.5, 0.5, 0, 1.0]), meta)[0], meta)
    rep, sim_rep = drive_sim(procs, tmp_path, 8.0, {"robot": "panda"},
                             {"robot": "panda", "command_mode": "ee_rpy", "policy": str(path), "registry": str(reg.root)})
    assert rep["policy"] == "tilt/v0001" and rep["ticks"] > 100 and rep["policy_faults"] == 0
    assert rep["clamps"].get("bounds", 0) > 0      # 0.5 rad/s of roll and pitch reach the 0.8 rad tilt box
    assert sim_rep["accepted"] > 100 and not sim_rep["rejected"], sim_rep["rejected"]
