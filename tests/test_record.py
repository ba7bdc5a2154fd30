"""Recording core without ROS: episode lifecycle, step-to-sample alignment with latencies, the
simulated operator, and the control pieces recording relies on (teleop-only ticks, re-anchoring)."""
from __future__ import annotations

import numpy as np
import pytest

from robot_rl.control.core import ControlCore
from robot_rl.control.safety import SafetyLayer
from conftest import ARM6_COMMAND, ARM6_SAFETY
from robot_rl.control.watchdog import Watchdog
from robot_rl.record import EpisodeRecorder, RecordSpecConfig, StepRow, record_store_spec
from robot_rl.store import EpisodeStore, StepSpec, StoreSpec, StoreWriter, StreamSpec
from robot_rl.store.verify import verify

MS = 1_000_000


def small_store(tmp_path, cam_latency_s=0.03):
    spec = StoreSpec(streams=[StreamSpec(name="cam_rgb", kind="rgb", shape=[4, 4, 3], dtype="uint8", rate_hz=10,
                                         latency_s=cam_latency_s),
                              StreamSpec(name="joints", shape=[2], rate_hz=100)],
                     steps=StepSpec(obs_dim=2, action_dim=2))
    return StoreWriter(tmp_path / "s.zarr", spec)


def step(t_ms, value=0.0, intervention=False, hold=False):
    return StepRow(t_ns=t_ms * MS, intervention=intervention, hold=hold, obs=np.full(2, value),
                   policy_action=np.full(2, np.nan), human_action=np.full(2, value), executed_action=np.full(2, value))


def test_steps_name_the_newest_samples_captured_before_them_after_latency(tmp_path):
    writer = small_store(tmp_path)
    rec = EpisodeRecorder(writer, task="t", max_episode_s=100, align_wait_s=0.5)
    rec.begin(now_ns=0)
    # camera frames arrive at 50, 150, 250 ms (captured 30 ms earlier); joints every 10 ms
    for t in range(0, 400, 10):
        rec.add_sample("joints", np.array([t, 0.0]), sensor_ns=t * MS, receive_ns=t * MS + 1)
        if t % 100 == 50:
            rec.add_sample("cam_rgb", np.full((4, 4, 3), t // 50, np.uint8), sensor_ns=t * MS, receive_ns=t * MS)
        if t == 130:
            rec.add_step(step(115))
            rec.add_step(step(125, hold=True))   # camera: frame received at 150 ms was captured at 120 -> before 125
            rec.add_step(step(120))   # backwards in time: refused by the writer, counted
        rec.poll(now_ns=t * MS)
        if t == 140:
            assert len(rec.pending) == 3      # the frame captured after them is not in yet
    result = rec.end(now_ns=400 * MS)
    commit = result.commit.result()
    assert commit.steps == 2 and rec.dropped_steps == 1
    writer.close()
    store = EpisodeStore(tmp_path / "s.zarr")
    s = store.read_steps(0)
    assert s["sample_index"]["cam_rgb"].tolist() == [0, 1]          # captured 20 <= 115 < 120; 120 <= 125
    assert s["sample_index"]["joints"].tolist() == [11, 12]          # received 110 ms (+1 ns) <= 115; 120 <= 125
    assert s["hold"].tolist() == [False, True]                       # the control node's hold flag, per step
    assert verify(tmp_path / "s.zarr").ok


def test_a_step_waits_for_late_samples_then_resolves_without_them(tmp_path):
    writer = small_store(tmp_path, cam_latency_s=0.0)
    rec = EpisodeRecorder(writer, max_episode_s=100, align_wait_s=0.2)
    rec.begin(now_ns=0)
    rec.add_sample("cam_rgb", np.zeros((4, 4, 3), np.uint8), 10 * MS, 10 * MS)
    rec.add_step(step(20))
    rec.poll(now_ns=100 * MS)
    assert len(rec.pending) == 1            # joints have delivered nothing captured after 20 ms yet
    rec.poll(now_ns=221 * MS)
    assert not rec.pending and rec.steps == 1
    rec.end(now_ns=300 * MS).commit.result()
    writer.close()
    s = EpisodeStore(tmp_path / "s.zarr").read_steps(0)
    assert s["sample_index"]["joints"].tolist() == [-1] and s["sample_index"]["cam_rgb"].tolist() == [0]


def test_lifecycle_events_timeout_rerecord_and_bad_input(tmp_path):
    writer = small_store(tmp_path)
    rec = EpisodeRecorder(writer, max_episode_s=1.0)
    rec.begin(now_ns=0)
    rec.add_sample("joints", np.zeros(2), 1, 1)
    assert not rec.add_sample("joints", np.zeros(3), 2, 2)              # wrong shape: refused, counted
    assert rec.streams["joints"].rejected == 1
    assert rec.event("intervention_on") is None and rec.recording      # not an ending event
    r0 = rec.event("success", now_ns=5 * MS)
    assert (r0.status, r0.success) == ("complete", True)
    assert not rec.add_sample("joints", np.zeros(2), 3, 10 * MS)        # between episodes: not recorded
    rec.begin(now_ns=20 * MS)
    r1 = rec.poll(now_ns=1021 * MS)
    assert r1 is not None and (r1.status, r1.success) == ("complete", False) and "timeout" in r1.reason
    rec.begin(now_ns=2000 * MS)
    rec.add_sample("joints", np.ones(2), 4, 2001 * MS)
    r2 = rec.event("rerecord", now_ns=2002 * MS)
    assert r2.status == "discarded"
    for r in (r0, r1, r2):
        r.commit.result()
    writer.close()
    store = EpisodeStore(tmp_path / "s.zarr")
    assert [e.status for e in store.episodes(status=["complete", "discarded"])] == ["complete", "complete", "discarded"]
    assert store.episode(2).streams["joints"][1] - store.episode(2).streams["joints"][0] == 1  # kept, not lost


def test_step_rows_parse_the_control_node_layout():
    obs_dim, a = 3, 2
    row = np.array([5e9, 1, 0, 7, 4e8, 1, 2, 3, np.nan, np.nan, .3, .4, .1, .2, .1, .2, 9, 9])
    s = StepRow.from_row(row, obs_dim, a)
    assert s.t_ns == 5_000_000_000 and s.intervention and not s.hold and s.policy_version == 7
    assert s.state_stamp_ns == 400_000_000
    assert s.obs.tolist() == [1, 2, 3] and s.human_action.tolist() == [.1, .2] and s.executed_action.tolist() == [.1, .2]
    assert np.isnan(s.policy_action).all() and s.base_action.tolist() == [.3, .4]   # residual mode: the base's action
    with pytest.raises(ValueError):
        StepRow.from_row(row[:-1], obs_dim, a)


def test_the_record_spec_is_the_same_for_the_same_settings():
    a, b = record_store_spec(RecordSpecConfig()), record_store_spec(RecordSpecConfig())
    assert a == b and a.stream_names == ["front_rgb", "wrist_rgb", "joints", "ee_pose", "gripper", "teleop"]
    assert a.steps.obs_dim == 17 and a.steps.action_dim == 5
    j = record_store_spec(RecordSpecConfig(command_mode="joint", cameras="", camera_latency_s=0.05))
    assert j.steps.action_dim == 7 and "front_rgb" not in j.stream_names


def test_sim_operator_waits_for_start_then_demonstrates_and_presses_success():
    from robot_rl.control.core import DeltaCommand
    from robot_rl.sim.env import SimConfig
    from robot_rl.robot.kinematics import yaw_from_home, yawed
    from robot_rl.sim.operator import SimOperator
    from robot_rl.sim.server import SimServer, SimServerConfig

    server = SimServer(SimServerConfig(sim=SimConfig(cameras=[])))
    op = SimOperator(server, seed=0)
    to_command = DeltaCommand([0.03, 0.03, 0.03, 0.15])
    for seed in range(3):
        server.reset(seed)
        op.reset()
        idle = op.command()
        assert not idle.intervening and np.all(idle.action[:4] == 0)
        op.start()
        events, rejected = [], 0
        for _ in range(server.env.max_steps + 2):
            cmd = op.command()
            events += cmd.events
            if cmd.events:
                break
            s = server.state()
            target = to_command(cmd.action, np.append(s["ee_pos"], yaw_from_home(s["ee_quat_wxyz"], server.env.home_quat)))
            server.command_gripper(target[4])
            rejected += not server.command_ee(target[:3], yawed(server.env.home_quat, target[3]))[0]
            server.step()
        assert events == ["success"] and rejected == 0, (seed, events, dict(server.rejected))
        assert op.command().events == []     # pressed once


def test_teleop_only_core_holds_without_an_operator_and_records_executed_actions():
    safety = SafetyLayer(ARM6_SAFETY(), 0.1)
    core = ControlCore(None, safety, Watchdog({"proprio": 1.0, "teleop": 1.0}, 0.0), ARM6_COMMAND())
    state = np.array([0.4, 0.0, 0.2, 0.0])
    core.watchdog.update("proprio", 0)
    core.watchdog.update("teleop", 0)
    safety.gripper_at_rest = 1.0   # measured: open
    rec = core.tick(1, {"proprio": np.zeros(17)}, state)
    assert rec.hold == "no operator" and rec.policy_action is None and rec.policy_version == "teleop"
    assert np.allclose(rec.executed_action, [0, 0, 0, 0, 1.0])   # held still, the open gripper stays open
    human = np.array([1.0, -0.5, 0.0, 0.2, 1.0])
    rec = core.tick(2, {"proprio": np.zeros(17)}, state, human_action=human)
    assert rec.hold is None and rec.intervention
    assert np.allclose(rec.executed_action, human)   # within limits: executed exactly as asked
    assert np.allclose(rec.command[:4], state + human[:4] * [0.03, 0.03, 0.03, 0.15])


def test_safety_reanchors_on_the_measured_state_after_a_jump():
    safety = SafetyLayer(ARM6_SAFETY(), 0.1)
    state = np.array([0.4, 0.0, 0.2, 0.0])
    safety.filter(np.append(state, 1.0), state)
    moved = np.array([0.3, 0.2, 0.25, 0.5])       # the scene was reset: the robot is elsewhere
    out, hold = safety.filter(np.append(moved + 0.01, 1.0), moved)
    assert hold is None and safety.counts["reanchor"] == 1
    assert np.allclose(out[:4], moved + 0.01)       # toward where it is asked, not back to the old pose


def test_an_episode_that_begins_in_the_past_records_its_preroll(tmp_path):
    writer = small_store(tmp_path, cam_latency_s=0.0)
    rec = EpisodeRecorder(writer, max_episode_s=100)
    rec.add_sample("joints", np.array([1.0, 0]), 1, 100 * MS)     # before the reset: not recorded
    rec.add_sample("joints", np.array([2.0, 0]), 2, 210 * MS)     # after it, before begin() was called
    rec.add_sample("cam_rgb", np.zeros((4, 4, 3), np.uint8), 2, 215 * MS)
    rec.add_step(step(220, value=2.0))
    rec.begin(now_ns=200 * MS)                                  # the reset service said: 200 ms
    rec.add_sample("joints", np.array([3.0, 0]), 3, 300 * MS)
    rec.end(now_ns=400 * MS).commit.result()
    writer.close()
    store = EpisodeStore(tmp_path / "s.zarr")
    values, _, _ = store.read_stream(0, "joints")
    assert values[:, 0].tolist() == [2.0, 3.0]
    s = store.read_steps(0)
    assert s["obs"][:, 0].tolist() == [2.0] and s["sample_index"]["joints"].tolist() == [0]


def test_a_step_that_acted_on_the_previous_scene_is_not_recorded(tmp_path):
    writer = small_store(tmp_path, cam_latency_s=0.0)
    rec = EpisodeRecorder(writer, max_episode_s=100, align_wait_s=0.0, proprio_stream="joints")
    rec.begin(now_ns=0, min_sensor_ns=3_000_000_000)           # the scene was reset at sensor time 3 s
    assert not rec.add_sample("joints", np.array([9.0, 0]), sensor_ns=2_500_000_000, receive_ns=1)  # in flight
    assert rec.stale_samples == 1
    rec.add_sample("joints", np.array([0.0, 0]), sensor_ns=3_000_000_000, receive_ns=1 * MS)   # the new scene
    rec.add_sample("cam_rgb", np.zeros((4, 4, 3), np.uint8), 3_000_000_000, 2 * MS)
    old, new = step(3), step(5)
    old.state_stamp_ns, new.state_stamp_ns = 2_500_000_000, 3_000_000_000   # the first: on the old scene
    rec.add_step(old)
    rec.add_step(new)
    rec.end(now_ns=10 * MS).commit.result()
    writer.close()
    s = EpisodeStore(tmp_path / "s.zarr").read_steps(0)
    assert rec.foreign_steps == 1 and s["t_ns"].tolist() == [5 * MS] and s["sample_index"]["joints"].tolist() == [0]


def test_calibrated_camera_latency_goes_into_the_spec(tmp_path):
    (tmp_path / "latency.yaml").write_text("front: {latency_s: 0.042, peak_correlation: 0.9}\n")
    spec = record_store_spec(RecordSpecConfig(calibration_dir=str(tmp_path), camera_latency_s=0.01))
    assert spec.stream("front_rgb").latency_s == 0.042 and spec.stream("wrist_rgb").latency_s == 0.01


def test_sim_operator_as_corrector_takes_over_a_policy_that_does_nothing():
    from robot_rl.control.core import DeltaCommand
    from robot_rl.sim.env import SimConfig
    from robot_rl.robot.kinematics import yaw_from_home, yawed
    from robot_rl.sim.operator import SimOperator
    from robot_rl.sim.server import SimServer, SimServerConfig

    server = SimServer(SimServerConfig(sim=SimConfig(cameras=[])))
    op = SimOperator(server, seed=0, mode="corrector")
    to_command = DeltaCommand([0.03, 0.03, 0.03, 0.15])
    server.reset(1)
    op.reset()
    op.start()
    assert not op.command().intervening            # no policy seen yet: it watches
    events, intervened = [], 0
    for _ in range(server.env.max_steps):
        op.observe_policy(np.array([0, 0, 0, 0, 1.0]))   # a policy that stays put
        cmd = op.command()
        events += cmd.events
        intervened += cmd.intervening
        if "success" in cmd.events:
            break
        s = server.state()
        target = to_command(cmd.action, np.append(s["ee_pos"], yaw_from_home(s["ee_quat_wxyz"], server.env.home_quat)))
        server.command_gripper(target[4])
        server.command_ee(target[:3], yawed(server.env.home_quat, target[3]))
        server.step()
    assert events[0] == "intervention_on" and "success" in events and intervened > 10


def test_the_control_watch_waits_for_a_steady_second_but_not_forever():
    """The recorder's first reset waits for a second of driving with no hold; a control node that
    holds now and then (a loaded machine) delays it until max_wait_s, then driving is enough."""
    from robot_rl.record.control_watch import ControlWatch
    w = ControlWatch(started=0.0)
    assert not w.driving(0.0) and not w.settled(0.0, 20.0) and "drive (it holds or is silent)" in w.waiting(0.0)
    t = 0.0
    for k in range(200):                  # 20 s at 10 Hz, a hold every 8th step
        t = 0.1 * k
        w.step(hold=k % 8 == 7, now=t)
        assert not w.steady(t) and not w.settled(t, 20.0)   # never a steady second, and not yet 20 s
        assert w.driving(t) == (k % 8 != 7)                  # the newest record a hold: not driving
    w.step(hold=False, now=20.05)
    assert w.settled(20.05, 20.0) and not w.steady(20.05) and "(25 holds so far)" in w.waiting(20.05)
    w.step(hold=True, now=20.1)
    assert not w.driving(20.1) and not w.settled(20.1, 20.0)
    # steady: ten steps at 10 Hz with no hold, and no gap longer than DRIVING_S
    w = ControlWatch(started=0.0)
    for k in range(11):
        w.step(hold=False, now=0.1 * k)
    assert w.steady(1.0) and w.settled(1.0, 20.0)
    w.step(hold=False, now=1.7)           # after a 0.7 s silence: steady again from here
    assert not w.steady(1.7) and w.driving(1.7) and not w.driving(2.3)
