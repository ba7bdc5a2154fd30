"""`robot-rl record --sim`: simulator, control node (teleop-only), simulated operator and recorder,
each in its own process, into a real store on disk."""
from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import signal
import sys
import time

import numpy as np
import pytest

from conftest import children_of, wait_exit, wait_until
from robot_rl.sim.env import RobotEnv, SimConfig
from robot_rl.store import EpisodeStore
from robot_rl.store.verify import verify

ROBOT_RL = str(pathlib.Path(sys.executable).parent / "robot-rl")
RATE_HZ = 10.0


def record(procs, store, episodes, name="record"):
    return procs.start([ROBOT_RL, "record", "--sim", "--episodes", str(episodes), "--store", str(store),
                        "--max-episode-s", "30"], name)


@pytest.mark.hil
def test_record_three_episodes_verify_rates_frame_refs_and_open_loop_replay(procs, tmp_path):
    store_path = tmp_path / "demo.zarr"
    proc = record(procs, store_path, 3)
    assert wait_exit(proc, 240) == 0, proc.log_path.read_text()[-3000:]
    report = verify(store_path)
    assert report.ok, report.problems
    store = EpisodeStore(store_path)
    eps = store.episodes()
    assert len(eps) == 3 and all(e.status == "complete" for e in eps)
    spec = store.spec
    for e in eps:
        s = store.read_steps(e)
        t = s["t_ns"]
        assert len(t) >= 10 and np.all(np.diff(t) > 0)
        # frame counts match the configured rate within 2% while the episode's steps ran (the
        # reset publishes one more frame, of the initial scene, just before the first step)
        for cam in ("front_rgb", "wrist_rgb"):
            recv = store.stamps(e, cam, "receive")
            frames = int(np.count_nonzero((recv[1:] > t[0]) & (recv[1:] <= t[-1])))   # [0]: the reset's frame
            expected = (t[-1] - t[0]) / 1e9 * RATE_HZ
            assert abs(frames / expected - 1) <= 0.02, (cam, frames, expected)
        # the joint sample a step names is the one its tick acted on: the step's observation holds it
        joints = store.read_samples("joints", s["sample_index"]["joints"])
        assert np.array_equal(joints, s["obs"][:, :joints.shape[1]])
        # every other stream: the newest sample captured before the tick
        for name in [n for n in spec.stream_names if n != "joints"]:
            lo, hi = e.streams[name]
            recv = store.stamps(e, name, "receive") - int(spec.stream(name).latency_s * 1e9)
            idx = s["sample_index"][name]
            assert np.all((idx == -1) | ((idx >= lo) & (idx < hi))), name
            used = idx >= 0
            assert used[1:].all(), f"{name}: steps without a sample"
            k = idx[used] - lo
            assert np.all(recv[k] <= t[used]), f"{name}: a step names a sample captured after it"
            nxt = np.minimum(k + 1, len(recv) - 1)
            assert np.all((k + 1 == len(recv)) | (recv[nxt] > t[used])), f"{name}: not the newest sample"
        # the operator drove every step (teleop-only: no policy ran)
        assert s["intervention"].all() and np.isnan(s["action"]).all()
        # open loop: the recorded actions in a fresh simulator with the episode's seed
        seed = int(re.search(r"seed (\d+)", e.notes).group(1))
        env = RobotEnv(SimConfig(task="pick_cube", cameras=[]))
        obs, info = env.reset(seed=seed)
        err = 0.0
        for k in range(len(t)):
            err = max(err, float(np.abs(obs["proprio"] - s["obs"][k]).max()))
            obs, _, _, _, info = env.step(s["executed_action"][k])
        env.close()
        assert err < 1e-3, f"episode {e.index}: replay departs from the recording by {err}"
        assert info["success"] == e.success is True


@pytest.mark.hil
def test_kill9_recorder_in_episode_3_then_repair_and_append(procs, tmp_path):
    store_path = tmp_path / "demo.zarr"
    proc = record(procs, store_path, 5)
    log = proc.log_path
    assert wait_until(lambda: "episode 1 committed" in log.read_text(errors="replace") or proc.poll() is not None, 180)
    assert proc.poll() is None, log.read_text()[-3000:]
    time.sleep(1.0)   # into episode 3 (index 2): started, some of it durable
    recorder = [p for p in children_of(proc.pid) if "recorder_node" in open(f"/proc/{p}/cmdline").read()]
    assert len(recorder) == 1
    os.kill(recorder[0], signal.SIGKILL)
    wait_exit(proc, 60)          # the graph ends with its required recorder
    repair = procs.start([ROBOT_RL, "data", "repair", str(store_path)], "repair")
    assert wait_exit(repair, 60) == 0, repair.log_path.read_text()
    store = EpisodeStore(store_path)
    first = store.episodes()
    assert [e.status for e in first[:2]] == ["complete", "complete"] and all(e.success for e in first[:2])
    assert verify(store_path).ok
    before = {e.index: store.read_steps(e)["t_ns"].tolist() for e in first[:2]}
    # a later run appends
    again = record(procs, store_path, 1, "record_again")
    assert wait_exit(again, 180) == 0, again.log_path.read_text()[-3000:]
    store = EpisodeStore(store_path)
    eps = store.episodes(status=["complete", "aborted"])
    assert len(eps) == len(first) + 1 and eps[-1].status == "complete" and eps[-1].success
    assert {i: store.read_steps(i)["t_ns"].tolist() for i in before} == before   # untouched
    assert verify(store_path).ok


def test_a_person_drives_from_the_keyboard_and_ends_the_episode(procs, tmp_path):
    """`robot-rl record --teleop keyboard`: keys typed into the terminal (a pseudo-terminal here)
    move the simulated robot; Enter labels the episode a success and ends it."""
    master, slave = os.openpty()
    store_path = tmp_path / "kb.zarr"
    proc = procs.start([ROBOT_RL, "record", "--sim", "--teleop", "keyboard", "--episodes", "1", "--store",
                        str(store_path), "--max-episode-s", "60"], "record_kb", stdin=slave)
    try:
        assert wait_until(lambda: "ep 0 " in proc.log_path.read_text(errors="replace") or proc.poll() is not None, 120)
        assert proc.poll() is None, proc.log_path.read_text()[-3000:]
        for _ in range(15):              # hold "w" (+x) for ~1.5 s, as a key repeats
            os.write(master, b"w")
            time.sleep(0.1)
        time.sleep(0.5)
        os.write(master, b"\r")          # success
        assert wait_exit(proc, 120) == 0, proc.log_path.read_text()[-3000:]
    finally:
        os.close(master)
        os.close(slave)
    store = EpisodeStore(store_path)
    (e,) = store.episodes()
    assert e.status == "complete" and e.success is True and "teleop keyboard" in e.notes
    s = store.read_steps(e)
    assert s["intervention"].all() and np.any(s["human_action"][:, 0] == 1.0)
    x = s["obs"][:, 12]                  # end-effector x in the proprio vector (arm6: 6 joints)
    assert x.max() - x[0] > 0.05         # the arm moved forward by what the keys asked


@pytest.mark.hil
def test_record_with_mcap_writes_the_raw_topics_beside_the_store(procs, tmp_path):
    """`record --mcap`: the graph's topics, raw, in an MCAP file that the mcap reader decodes; every
    step the store committed is among its /control/step messages, images at the camera rate."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    store_path = tmp_path / "demo.zarr"
    proc = procs.start([ROBOT_RL, "record", "--sim", "--episodes", "1", "--store", str(store_path),
                        "--max-episode-s", "30", "--mcap"], "record_mcap")
    assert wait_exit(proc, 240) == 0, proc.log_path.read_text()[-3000:]
    (path,) = tmp_path.glob("demo.zarr.*.mcap")
    topics: dict[str, list] = {}
    with open(path, "rb") as f:
        for schema, channel, message, decoded in make_reader(f, decoder_factories=[DecoderFactory()]).iter_decoded_messages():
            topics.setdefault(channel.topic, []).append(decoded)
    store = EpisodeStore(store_path)
    (ep,) = store.episodes()
    steps = store.read_steps(ep)
    logged = {int(m.data[0]) for m in topics["/control/step"]}
    assert set(steps["t_ns"].tolist()) <= logged
    frames = len(topics["/camera/front/image_raw"])
    assert frames >= 0.9 * ep.num_steps and topics["/camera/front/image_raw"][0].encoding == "rgb8"
    assert len(topics["/joint_states"]) >= ep.num_steps and "/episode/event" in topics


@pytest.mark.hil
def test_a_lost_reset_reply_is_asked_for_again(procs, tmp_path):
    """DDS can lose a service's reply; the recorder calls the reset again after reset_reply_s instead
    of waiting for it forever, and records its episodes."""
    import yaml

    from robot_rl.record.graph import RecordingGraph, recording_nodes

    store_path = tmp_path / "lossy.zarr"
    nodes = [dataclasses.asdict(n) for n in recording_nodes(RecordingGraph(
        store=str(store_path), episodes=2, sim=True, teleop="expert", max_episode_s=30.0))]
    recorder = next(n for n in nodes if n["name"] == "recorder")
    recorder["parameters"].update(reset_service="/sim/reset_lossy", reset_reply_s=2.0)
    nodes.append({"name": "lossy_reset", "module": "outside_nodes.lossy_reset", "required": False,
                  "env": {"PYTHONPATH": str(pathlib.Path(__file__).parent / "data")}})
    graph = tmp_path / "graph.yaml"
    graph.write_text(yaml.safe_dump({"name": "lossy", "nodes": nodes}))
    proc = procs.start([ROBOT_RL, "up", str(graph)], "up")
    assert wait_exit(proc, 240) == 0, proc.log_path.read_text()[-3000:]
    log = proc.log_path.read_text(errors="replace")
    assert "losing the reply to reset call 1" in log and "/sim/reset_lossy: no reply in 2 s; calling it again" in log
    eps = EpisodeStore(store_path).episodes()
    assert [e.status for e in eps] == ["complete", "complete"] and all("reset: episode" in e.notes for e in eps)


@pytest.mark.hil
def test_a_reset_service_that_never_comes_up_is_waited_for_with_the_status_lines_going_on(procs, tmp_path):
    """The recorder waits for a reset service that is not up without blocking its thread: its status
    lines say what it waits for, and start_timeout_s still ends the wait (the service's own 60 s
    limit before the first episode would be long past it)."""
    import yaml

    from robot_rl.record.graph import RecordingGraph, recording_nodes

    store_path = tmp_path / "noreset.zarr"
    nodes = [dataclasses.asdict(n) for n in recording_nodes(RecordingGraph(
        store=str(store_path), episodes=1, sim=True, teleop="expert", max_episode_s=30.0))]
    recorder = next(n for n in nodes if n["name"] == "recorder")
    recorder["parameters"].update(reset_service="/sim/reset_nobody", start_timeout_s=12.0)
    graph = tmp_path / "graph.yaml"
    graph.write_text(yaml.safe_dump({"name": "noreset", "nodes": nodes}))
    proc = procs.start([ROBOT_RL, "up", str(graph)], "up")
    assert wait_exit(proc, 120) != 0
    log = proc.log_path.read_text(errors="replace")
    assert re.search(r"waiting for /sim/reset_nobody to come up \(\d+ s\)", log), log[-3000:]
    assert "no episode started in 12 s: waiting for /sim/reset_nobody to come up" in log, log[-3000:]
    assert verify(store_path).ok and len(EpisodeStore(store_path).episodes()) == 0


def test_a_recorder_that_cannot_start_an_episode_fails_naming_what_it_waited_for(procs, tmp_path):
    """start_timeout_s (set by graphs with the simulator inside): a robot whose streams never come
    makes the recorder exit 1 with what it waited for, not wait forever; the store is left valid."""
    store_path = tmp_path / "nothing.zarr"
    proc = procs.node("recorder_node", "recorder", store=str(store_path), episodes=1, start_timeout_s=3.0)
    assert wait_exit(proc, 120) == 1
    log = proc.log_path.read_text(errors="replace")
    assert re.search(r"no episode started in 3 s: waiting for streams: front_rgb, wrist_rgb, joints", log), log
    assert verify(store_path).ok and len(EpisodeStore(store_path).episodes()) == 0
