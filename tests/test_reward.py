"""The learned reward (issue #7): labels from the operator's episode outcomes, a success classifier
trained on real MuJoCo frames in a real store, exported through the registry (parity-checked, kind
"reward"), used by the learner's sampler as r_t = 1 / terminal where the next frames are classified
a success; the control node's runtime refuses it as a policy; bad input fails with one line."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, publish_mlp
from robot_rl import sim
from robot_rl.learn.learner import Learner
from robot_rl.learn.config import LearnerConfig, RewardConfig
from robot_rl.learn.reward import ClassifierReward, episode_labels, split_episodes, train_and_publish
from robot_rl.policy.ort import session
from robot_rl.policy.registry import PolicyRegistry, load
from robot_rl.policy.runtime import PolicyRuntime
from robot_rl.policy.spec import PolicyError
from robot_rl.sim.experts import make_expert
from robot_rl.sim.rollout import rollout, sim_store_spec
from robot_rl.store import EpisodeStore
from robot_rl.store.sampler import TransitionSampler
from robot_rl.store.schema import StoreError
from robot_rl.store.writer import StoreWriter

SUCCESSES, FAILURES = 6, 2


def idle_policy(obs):
    return np.zeros(5)


@pytest.fixture(scope="module")
def labelled_store(tmp_path_factory):
    """Expert successes and idle-policy failures (the cube never leaves the table), 64x64 frames."""
    path = tmp_path_factory.mktemp("reward") / "labelled.zarr"
    env = sim.make("pick_cube", image_size=[64, 64], max_steps=30)
    expert_env = sim.make("pick_cube", image_size=[64, 64])
    with StoreWriter(path, sim_store_spec(env)) as w:
        for seed in range(SUCCESSES):
            assert rollout(expert_env, w, seed, operator=make_expert(expert_env, seed=seed))["success"]
        for seed in range(50, 50 + FAILURES):
            assert not rollout(env, w, seed, policy=idle_policy)["success"]
    env.close()
    expert_env.close()
    return path


@pytest.fixture(scope="module")
def classifier(labelled_store, tmp_path_factory):
    reg = tmp_path_factory.mktemp("reward_reg")
    cfg = RewardConfig(steps=250, batch=64, val_fraction=0.0, seed=1)
    res = train_and_publish(labelled_store, cfg, "cube_lifted", reg / "policies", plot_dir=reg / "run")
    return res, reg / "policies"


def test_labels_mark_the_tail_of_a_success_and_leave_out_the_guard():
    cfg = RewardConfig(success_tail=3, guard=5)
    np.testing.assert_array_equal(episode_labels(20, True, cfg), [0] * 12 + [-1] * 5 + [1] * 3)
    np.testing.assert_array_equal(episode_labels(20, False, cfg), [0] * 20)
    np.testing.assert_array_equal(episode_labels(6, True, cfg), [-1] * 3 + [1] * 3)   # shorter than tail + guard
    np.testing.assert_array_equal(episode_labels(2, True, cfg), [1, 1])


def test_validation_split_holds_out_both_classes(labelled_store):
    eps = EpisodeStore.open(labelled_store).episodes()
    train, val = split_episodes(eps, 0.5, seed=0)
    assert sorted(e.index for e in train + val) == [e.index for e in eps]
    assert {e.success for e in val} == {True, False} and {e.success for e in train} == {True, False}


def test_classifier_learns_success_frames_and_exports_with_parity(classifier, labelled_store):
    res, reg = classifier
    report = res["report"]
    assert res["parity"] <= 1e-5
    assert report["loss_last"] < report["loss_first"]
    m = report["train"]
    assert m["success_frames"] == 3 * SUCCESSES and m["frames"] > 5 * m["success_frames"]
    assert m["accuracy"] >= 0.9 and m["success_detected"] >= SUCCESSES - 1
    data, meta = load(PolicyRegistry(reg).resolve("cube_lifted"))
    assert meta.kind == "reward" and meta.action.names == ["success"] and meta.metrics["threshold"] == 0.5
    assert res["plot"] is None          # nothing held out, nothing to plot
    # the export scores the last frame of a successful episode above the first one, in onnxruntime
    store = EpisodeStore.open(labelled_store)
    sess = session(data)
    ep = store.episodes(success=True)[0]
    idx = store.read_steps(ep, ["sample_index"])["sample_index"]
    feed = {o.name: store.read_samples(f"{o.name}_rgb", idx[f"{o.name}_rgb"][[0, -1]]) for o in meta.obs}
    first, last = sess.run(["success"], feed)[0][:, 0]
    assert 0 <= first < 0.5 <= last <= 1


def test_learner_rewards_come_from_the_classifier_on_the_next_frames(classifier, labelled_store):
    res, reg = classifier
    store = EpisodeStore.open(labelled_store)
    fn = ClassifierReward(PolicyRegistry(reg).resolve("cube_lifted"), store)
    s = TransitionSampler(store, cameras=[], nstep=1, gamma=0.9, reward=fn)
    reward, terminal = s.column("reward"), s.column("terminal")
    np.testing.assert_array_equal(reward.astype(bool), terminal)
    for ep in store.episodes():
        a, b = ep.steps
        prob = fn.probabilities(store.read_steps(ep, ["sample_index"])["sample_index"])
        want = np.append(prob[1:] >= fn.threshold, False)     # the frames step t led to; none after the last
        np.testing.assert_array_equal(terminal[a:b], want)
        if not ep.success:
            assert not terminal[a:b].any()                     # the cube never moved: never rewarded
    assert sum(terminal[a:b].any() for a, b in (e.steps for e in store.episodes(success=True))) >= SUCCESSES - 1
    assert fn.classified_steps >= len(reward)
    # the same classifier through the learner's config, and a learner that trains on its rewards
    cfg = LearnerConfig(store=str(labelled_store), policy="pol", registry=str(reg), run_dir=str(reg.parent / "lrun"),
                        cameras="", reward="classifier", reward_model="cube_lifted", batch=16, utd=10.0,
                        max_updates=5, export_every_s=1e6, checkpoint_every_s=1e6, plot_every_s=1e6)
    learner = Learner(cfg)
    np.testing.assert_array_equal(learner.sampler.column("terminal"), terminal)
    assert learner.run()["updates"] == 5


def test_bad_input_is_refused_with_a_reason(classifier, labelled_store, tmp_path):
    res, reg = classifier
    with pytest.raises(PolicyError, match="reward model, not a policy"):
        PolicyRuntime.from_file(PolicyRegistry(reg).resolve("cube_lifted"))
    with pytest.raises(ValueError, match="reward_model"):
        LearnerConfig(store="x", policy="p", reward="classifier").validate()
    # a store with no labelled success has nothing to learn success from
    env = sim.make("pick_cube", image_size=[64, 64], max_steps=5)
    with StoreWriter(tmp_path / "fails.zarr", sim_store_spec(env)) as w:
        rollout(env, w, 1, policy=idle_policy)
    env.close()
    with pytest.raises(StoreError, match="no episode labelled a success"):
        train_and_publish(tmp_path / "fails.zarr", RewardConfig(steps=5), "r", tmp_path / "policies")
    # a classifier for other cameras than the store has
    with pytest.raises(PolicyError, match="needs front frames"):
        ClassifierReward(PolicyRegistry(reg).resolve("cube_lifted"), _store_with_size(tmp_path, 32))


def test_success_detector_fires_once_at_the_end_of_a_success_and_never_on_a_failure(classifier, labelled_store):
    """The control node's detector, frame by frame as a robot streams them: on a successful episode it
    fires once, near the end (after `hold` frames at or above the threshold); on a failure never;
    reset() arms it for the next episode. Wrong frames and a policy model are refused."""
    from robot_rl.control.success import SuccessDetector

    res, reg = classifier
    path = PolicyRegistry(reg).resolve("cube_lifted")
    store = EpisodeStore.open(labelled_store)
    det = SuccessDetector(path, hold=2)
    assert det.threshold == 0.5 and det.cameras == ["front", "wrist"]

    def frames_of(ep):
        idx = store.read_steps(ep, ["sample_index"])["sample_index"]
        imgs = {c: store.read_samples(f"{c}_rgb", idx[f"{c}_rgb"]) for c in det.cameras}
        return [{c: imgs[c][k] for c in det.cameras} for k in range(ep.num_steps)]

    fired_at = []
    for ep in store.episodes(success=True):
        det.reset()
        fires = [k for k, f in enumerate(frames_of(ep)) if det(f)[1]]
        assert len(fires) <= 1
        fired_at += [(k, ep.num_steps) for k in fires]
    assert len(fired_at) >= SUCCESSES - 1
    assert all(k >= n - 12 for k, n in fired_at), fired_at        # at the end, not while reaching
    for ep in store.episodes(success=False):
        det.reset()
        assert not any(det(f)[1] for f in frames_of(ep)) and 0 <= det.last_p < 0.5
    one = frames_of(store.episodes(success=True)[0])[0]
    with pytest.raises(PolicyError, match="needs camera 'wrist'"):
        det({"front": one["front"]})
    with pytest.raises(PolicyError, match="needs front frames"):
        det({"front": one["front"][:32], "wrist": one["wrist"]})
    from robot_rl.policy import ActionSpec, ObsSpec
    policy = publish_mlp(PolicyRegistry(reg), "pol", ObsSpec("proprio", [4]), ActionSpec(["a"], [-1.0], [1.0]), hidden=(8,))
    with pytest.raises(PolicyError, match="is a policy, not a reward classifier"):
        SuccessDetector(policy)
    with pytest.raises(ValueError):
        SuccessDetector(path, hold=0)
    with pytest.raises(ValueError, match="threshold"):
        SuccessDetector(path, threshold=1.5)


def _store_with_size(tmp_path, size):
    env = sim.make("pick_cube", image_size=[size, size], max_steps=3)
    with StoreWriter(tmp_path / f"s{size}.zarr", sim_store_spec(env)) as w:
        rollout(env, w, 1, policy=idle_policy)
    env.close()
    return EpisodeStore.open(tmp_path / f"s{size}.zarr")


def test_reward_train_cli(labelled_store, tmp_path):
    cmd = [sys.executable, "-m", "robot_rl.cli", "reward", "train", str(labelled_store), "--name", "lift",
           "--steps", "30", "--registry", str(tmp_path / "policies"), "--run-dir", str(tmp_path / "run"),
           "--set", "val_fraction=0.4", "--set", "batch=32"]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "validation" in out.stdout and "successes detected" in out.stdout
    assert (tmp_path / "policies" / "lift" / "v0001.onnx").exists() and (tmp_path / "run" / "reward.png").exists()
    check = subprocess.run([sys.executable, "-m", "robot_rl.cli", "policy", "check", "lift", "--registry",
                            str(tmp_path / "policies")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "reward classifier; loads and runs" in check.stdout, check.stderr[-2000:]
    bad = subprocess.run([*cmd[:5], str(tmp_path / "missing.zarr"), "--name", "x"], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


@pytest.mark.hil
def test_the_control_node_ends_an_episode_on_the_classifier_in_the_ros_graph(classifier, procs, tmp_path):
    """The recording graph (simulator, expert operator, control node, recorder in their own
    processes) with a reward model: the control node classifies the simulator's camera frames beside
    its loop and ends the episode as a success once the cube is up; the recorder commits it as a
    success. The simulated operator would press success only after 1000 steps of success, and
    presses failure when the episode runs out of steps: only the classifier can make it a success.
    A reward_model that does not exist stops the node at start with one line (exit 2)."""
    from conftest import wait_exit
    from robot_rl.record.graph import RecordingGraph, recording_nodes

    res, reg = classifier
    model = str(PolicyRegistry(reg).resolve("cube_lifted"))
    nodes = recording_nodes(RecordingGraph(store=str(tmp_path / "s.zarr"), episodes=1, image_size=64,
                                           max_episode_s=40.0, reward_model=model, registry=str(reg)))
    started = {}
    for n in nodes:
        params = dict(n.parameters)
        if n.name == "sim":
            params["operator_success_hold"] = 1000
        started[n.name] = procs.node(n.module, n.name, **params)
    assert wait_exit(started["recorder"], 240) == 0, started["recorder"].log_path.read_text()[-3000:]
    log = started["control"].log_path.read_text(errors="replace")
    assert "reward classifier cube_lifted/v0001 ends episodes" in log
    assert "reward classifier: success" in log, log[-3000:]
    ep = EpisodeStore(tmp_path / "s.zarr").episodes()[0]
    assert ep.status == "complete" and ep.success and ep.num_steps >= 15   # not before the cube is up
    bad = procs.node("control_node", "bad", reward_model=str(tmp_path / "missing.onnx"))
    assert wait_exit(bad, 60) == 2
    assert "reward_model" in bad.log_path.read_text() and "Traceback" not in bad.log_path.read_text()
