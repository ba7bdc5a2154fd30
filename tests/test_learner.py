"""The learner (issue #7): RLPD batches with interventions in both halves, exact resume, exports the
control node can run (residual at zero = base, in onnxruntime), UTD enforcement, following a store
that another writer appends to, the CLI, and the learner node hot-swapping policies into a running
control node over ROS 2. Real MuJoCo episodes in a real zarr store, real torch and onnxruntime."""
from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch

from conftest import REPO, read_json, wait_exit, wait_until
from robot_rl import sim
from robot_rl.learn.learner import Learner
from robot_rl.learn.config import LearnerConfig
from robot_rl.policy.checkpoint import load_checkpoint
from robot_rl.policy.registry import PolicyRegistry, load
from robot_rl.policy.runtime import PolicyRuntime
from robot_rl.sim.corrector import SimulatedHuman
from robot_rl.sim.experts import make_expert
from robot_rl.sim.rollout import rollout, sim_store_spec
from robot_rl.store import EpisodeStore
from robot_rl.store.sampler import TransitionSampler
from robot_rl.store.writer import StoreWriter

DEMOS, CORRECTED = 3, 2


def zero_policy(obs):
    return np.zeros(5)


@pytest.fixture(scope="module")
def session_store(tmp_path_factory):
    """3 expert demonstrations, then 2 episodes of a do-nothing policy the simulated human corrects."""
    root = tmp_path_factory.mktemp("learn")
    path = root / "session.zarr"
    env = sim.make("pick_cube", image_size=[64, 64])
    results = []
    with StoreWriter(path, sim_store_spec(env)) as w:
        for seed in range(DEMOS):
            results.append(rollout(env, w, seed, operator=make_expert(env, seed=seed)))
        for seed in range(100, 100 + CORRECTED):
            results.append(rollout(env, w, seed, policy=zero_policy, operator=SimulatedHuman(env, seed=seed),
                                   policy_version=1))
    env.close()
    return path, results


def learner_cfg(store, tmp_path, **kw) -> LearnerConfig:
    base = dict(store=str(store), policy="pol", registry=str(tmp_path / "policies"), run_dir=str(tmp_path / "run"),
                batch=16, utd=10.0, export_every_s=1e6, checkpoint_every_s=1e6, plot_every_s=1e6, seed=3)
    base.update(kw)
    return LearnerConfig(**base)


def test_interventions_are_in_both_row_sets_and_rewards_come_from_success(session_store):
    path, results = session_store
    store = EpisodeStore.open(path)
    s = TransitionSampler(store, cameras=[], nstep=3, gamma=0.9, reward="success")
    eps = store.episodes()
    assert [e.success for e in eps] == [r["success"] for r in results] and all(r["success"] for r in results[:DEMOS])
    human, online = set(s.rows("human").tolist()), set(s.rows("online").tolist())
    interv = s.column("intervention")
    demo_rows = set(range(eps[DEMOS].steps[0]))
    corrected = set(range(eps[DEMOS].steps[0], eps[-1].steps[1])) & set(s.rows("all").tolist())
    assert demo_rows - {eps[i].steps[1] - 1 for i in range(DEMOS) if not eps[i].success} <= human
    assert not demo_rows & online                       # demonstrations are not online data
    assert online == corrected                          # every transition of the corrected episodes
    both = human & online
    assert both and all(interv[r] for r in both)        # an intervention is in both halves
    assert sum(r["interventions"] for r in results[DEMOS:]) >= len(both)
    # the action learned from at an intervention is what the robot executed for the human: the
    # human's, as the control step's safety layer passed it (the gripper rate-limited, as on the robot)
    b = s.batch(np.array(sorted(both)))
    same = np.isclose(b["action"], b["human_action"], atol=1e-6)
    assert same[:, :4].mean() > 0.95 and same[:, 4].mean() > 0.6, same.mean(0)   # a gripper switch spans 5 ticks
    assert np.all(np.abs(b["action"]) <= 1.0 + 1e-6)
    assert np.isnan(b["policy_action"]).sum() == 0      # the policy's own proposal is kept alongside
    # sparse success reward: the last step of a successful episode is terminal with reward 1
    last = np.array([e.steps[1] - 1 for e in eps if e.success])
    lb = s.batch(last)
    assert np.all(lb["ret"] == 1.0) and np.all(lb["discount"] == 0.0) and np.all(lb["done"])
    two_before = s.batch(last - 2)
    np.testing.assert_allclose(two_before["ret"], 0.81, rtol=1e-6)   # gamma^2 * 1, terminal inside 3 steps
    assert np.all(two_before["discount"] == 0.0)


def test_intervention_penalty_lands_on_the_step_before_each_takeover(session_store):
    path, _ = session_store
    store = EpisodeStore.open(path)
    plain = TransitionSampler(store, cameras=[], reward="success")
    penalized = TransitionSampler(EpisodeStore.open(path), cameras=[], reward="success", intervention_penalty=0.5)
    interv = plain.column("intervention")
    diff = penalized.column("reward") - plain.column("reward")
    expected = np.zeros_like(diff)
    for ep in store.episodes():
        a, b = ep.steps
        takeovers = a + np.flatnonzero(~interv[a:b - 1] & interv[a + 1:b])   # policy at t, human at t + 1
        expected[takeovers] = -0.5
    assert np.any(expected < 0)                          # the corrected episodes have takeovers
    np.testing.assert_array_equal(diff, expected)        # and demonstrations (human from step 0) none
    with pytest.raises(ValueError):
        TransitionSampler(store, cameras=[], intervention_penalty=-1)


def test_rlpd_batches_are_half_human_half_online(session_store, tmp_path):
    path, _ = session_store
    learner = Learner(learner_cfg(path, tmp_path, cameras="", batch=64, demo_fraction=0.5))
    raw_rows = []
    orig = learner.sampler.batch
    learner.sampler.batch = lambda rows: raw_rows.append(rows) or orig(rows)
    batch = learner.sample_batch()
    human, online = set(learner.sampler.rows("human").tolist()), set(learner.sampler.rows("online").tolist())
    assert len(raw_rows) == 1 and len(raw_rows[0]) == 64          # one batch: the human half, then the online half
    assert set(raw_rows[0][:32].tolist()) <= human and set(raw_rows[0][32:].tolist()) <= online
    assert batch["action"].shape == (64, 5) and batch["action"].abs().max() <= 1.0
    assert batch["obs"]["proprio"].shape == (64, 17)


def test_resume_continues_exactly(session_store, tmp_path):
    """12 updates straight == 6 updates, checkpoint, a new learner resuming, 6 more: bit for bit."""
    path, _ = session_store
    straight = Learner(learner_cfg(path, tmp_path / "a", max_updates=12))
    straight.run()
    first = Learner(learner_cfg(path, tmp_path / "b", max_updates=6))
    first.run()
    resumed = Learner(learner_cfg(path, tmp_path / "b", max_updates=12), resume=True)
    assert resumed.resumed_from == 6
    resumed.run()
    assert resumed.updates == straight.updates == 12
    for name, module in straight.agent.modules().items():
        other = resumed.agent.modules()[name].state_dict()
        for k, v in module.state_dict().items():
            assert torch.equal(v, other[k]), f"{name}.{k} differs after resume"
    assert torch.equal(straight.agent.log_alpha, resumed.agent.log_alpha)
    # both runs wrote metrics, plots and registry versions; the resumed run's versions chain on
    assert (tmp_path / "b" / "run" / "learning.png").stat().st_size > 10_000
    reg = PolicyRegistry(tmp_path / "b" / "policies")
    assert reg.versions("pol") == ["v0001", "v0002"]
    _, meta = load(reg.resolve("pol/v0002"))
    assert meta.parent == "pol/v0001" and meta.metrics["updates"] == 12


def test_every_export_is_checkpointed_so_a_resume_starts_from_what_the_robot_runs(session_store, tmp_path):
    path, _ = session_store
    learner = Learner(learner_cfg(path, tmp_path, cameras="", export_every_s=1e-6))   # checkpoints: every 1e6 s
    while learner.updates < 20:
        learner.step(max_updates_per_step=4)
    last = learner.exported[-1]
    assert len(learner.exported) >= 3 and last["updates"] == learner.updates
    resumed = Learner(learner_cfg(path, tmp_path, cameras=""), resume=True)
    assert resumed.updates == last["updates"] and resumed.exported[-1]["version"] == last["version"]


def test_the_learner_device_is_checked_at_start(session_store, tmp_path):
    path, _ = session_store
    with pytest.raises(ValueError, match="device must be auto, cpu, cuda or cuda:N"):
        learner_cfg(path, tmp_path, device="gpu0").validate()
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no CUDA GPU"):
            Learner(learner_cfg(path, tmp_path, device="cuda"))
        assert not (tmp_path / "run").exists()   # refused before anything was written
    learner = Learner(learner_cfg(path, tmp_path, device="auto", max_updates=2))
    assert learner.device.type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here: this runs where a GPU machine is lent")
@pytest.mark.parametrize("mode", ["sac", "residual"])
def test_the_learner_on_cuda_trains_checkpoints_resumes_and_exports_with_parity_on_the_cpu(session_store, tmp_path, mode):
    from robot_rl.learn.bc import train_bc
    from robot_rl.learn.config import BCConfig
    from robot_rl.policy.checkpoint import save_checkpoint

    path, _ = session_store
    kw = dict(device="cuda", max_updates=20, cameras="auto")
    if mode == "residual":
        base, pcfg, _ = train_bc(EpisodeStore.open(path), BCConfig(kind="cnn", steps=5, batch=8))
        save_checkpoint(base, pcfg, tmp_path / "base.safetensors")
        kw.update(mode="residual", base=str(tmp_path / "base.safetensors"))
    learner = Learner(learner_cfg(path, tmp_path, **kw))
    learner.run()
    assert learner.updates == 20
    for name, module in learner.agent.modules().items():
        assert all(p.device.type == "cuda" for p in module.parameters()), name
    assert learner.agent.log_alpha.device.type == "cuda"
    onnx_path = PolicyRegistry(tmp_path / "policies").resolve("pol")
    _, meta = load(onnx_path)
    assert meta.metrics["parity"] < 1e-4 and meta.metrics["updates"] == 20
    resumed = Learner(learner_cfg(path, tmp_path, **{**kw, "max_updates": 25}), resume=True)
    assert resumed.resumed_from == 20
    for name, module in learner.agent.modules().items():
        other = resumed.agent.modules()[name].state_dict()
        for k, v in module.state_dict().items():
            assert torch.equal(v, other[k]), f"{name}.{k} differs after loading the checkpoint"
    resumed.run()
    assert resumed.updates == 25


def test_the_learner_logs_its_progress_when_used_as_a_library(session_store, tmp_path):
    """A script that never configures logging still sees the learner's start line and progress."""
    path, _ = session_store
    code = (f"from robot_rl.learn.learner import Learner, LearnerConfig\n"
            f"l = Learner(LearnerConfig(store={str(path)!r}, policy='lib', registry={str(tmp_path / 'p')!r}, "
            f"run_dir={str(tmp_path / 'run')!r}, batch=16, utd=10.0, max_updates=3, cameras=''))\n"
            f"l.run()\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "learner device: cpu" in res.stderr and "learning lib (sac)" in res.stderr, res.stderr[-2000:]
    assert "updates 3" in res.stderr or "exported" in res.stderr, res.stderr[-2000:]


def test_export_runs_in_onnxruntime_and_a_fresh_residual_is_the_base(session_store, tmp_path):
    from robot_rl.learn.bc import train_bc
    from robot_rl.learn.config import BCConfig
    from robot_rl.policy.checkpoint import save_checkpoint

    path, _ = session_store
    store = EpisodeStore.open(path)
    base, pcfg, report = train_bc(store, BCConfig(kind="cnn", steps=30, batch=16))
    assert report["cameras"] == ["front", "wrist"] and report["loss_last"] < report["loss_first"]
    save_checkpoint(base, pcfg, tmp_path / "base.safetensors")
    # critic warm-up longer than the run: the residual actor is still exactly zero
    learner = Learner(learner_cfg(path, tmp_path, mode="residual", base=str(tmp_path / "base.safetensors"),
                                  residual_scale=0.2, critic_warmup_updates=100, max_updates=3))
    learner.run()
    onnx_path = PolicyRegistry(tmp_path / "policies").resolve("pol")
    rt = PolicyRuntime.from_file(onnx_path)
    assert [o.name for o in rt.meta.obs] == ["front", "wrist", "proprio"] and rt.meta.residual.scale == 0.2
    base_model, _ = load_checkpoint(tmp_path / "base.safetensors")
    ep = store.episode(DEMOS)
    for row in list(store.iter_steps(ep))[:5]:
        obs = {"front": row["samples"]["front_rgb"], "wrist": row["samples"]["wrist_rgb"], "proprio": row["obs"]}
        action = rt(obs)
        np.testing.assert_array_equal(action, rt.last_base)          # residual zero: the base, bit for bit
        with torch.no_grad():
            ref = base_model(*[torch.from_numpy(np.asarray(obs[n])[None]) for n in ("front", "wrist", "proprio")])
        np.testing.assert_allclose(action, ref[0].numpy(), atol=1e-5)


def test_the_residual_learner_runs_its_base_once_per_row_and_reads_it_back_unchanged(session_store, tmp_path):
    """The base's actions in a batch come from a per-row cache: equal to the base run on that
    batch's observations and bootstrap observations, and the base runs again only on rows it has
    not seen."""
    from robot_rl.learn.bc import train_bc
    from robot_rl.learn.config import BCConfig
    from robot_rl.policy.checkpoint import save_checkpoint

    path, _ = session_store
    base, pcfg, _ = train_bc(EpisodeStore.open(path), BCConfig(kind="cnn", steps=5, batch=16))
    save_checkpoint(base, pcfg, tmp_path / "base.safetensors")
    learner = Learner(learner_cfg(path, tmp_path, mode="residual", base=str(tmp_path / "base.safetensors"), batch=64))
    learner.refresh()
    seen = []
    run_base = learner._base_action
    learner._base_action = lambda obs: (seen.append(len(obs["proprio"])), run_base(obs))[1]
    for _ in range(3):
        batch = learner.sample_batch()
        np.testing.assert_allclose(batch["base_action"].numpy(), run_base(batch["obs"]).numpy(), atol=1e-6)
        np.testing.assert_allclose(batch["next_base_action"].numpy(), run_base(batch["next_obs"]).numpy(), atol=1e-6)
    assert 0 < seen[0] <= 128   # two 64-row halves, each row once
    rows = learner.sampler.rows()
    both = np.concatenate([rows, learner.sampler.next_rows(rows)])
    before = len(seen)
    learner._base_actions(rows, learner._batch(rows))   # fills in every row's action once
    learner._base_actions(rows, learner._batch(rows))   # all cached: the base does not run
    assert len(seen) <= before + 1 and sum(seen) == len(np.unique(both))


def test_action_chunks_are_the_persons_next_actions_inside_the_episode(session_store):
    """Chunk targets for action-chunking BC, checked step by step against the store: the executed
    actions of t..t+k-1 while they are the person's and in the same episode, nothing after. In
    this store the simulated human never hands back, so a hand-back is made by clearing the
    intervention flag of a few loaded steps."""
    path, _ = session_store
    store = EpisodeStore.open(path)
    s = TransitionSampler(store, cameras=[])
    k = 6
    action, interv = s.column("action"), s.column("intervention")
    ends = {r: ep.steps[1] for ep in store.episodes() for r in range(*ep.steps)}

    def check() -> tuple[int, int]:
        rows = s.rows("human")
        rows = rows[interv[rows]]
        chunks, ok = s.action_chunks(rows, k)
        assert ok[:, 0].all()
        cut_by_end = cut_by_policy = 0
        for r, chunk, good in zip(rows, chunks, ok):
            j = 0
            while j < k and r + j < ends[r] and interv[r + j] and np.isfinite(action[r + j]).all():
                np.testing.assert_array_equal(chunk[j], action[r + j])
                j += 1
            assert good[:j].all() and not good[j:].any() and (chunk[j:] == 0).all()
            cut_by_end += j < k and r + j == ends[r]
            cut_by_policy += j < k and r + j < ends[r]
        return cut_by_end, cut_by_policy

    assert check()[0] > 0                        # chunks near an episode's end stop there
    interv[[10, 11, 40]] = False                 # the policy drove these steps of the first demos
    by_end, by_policy = check()
    assert by_end > 0 and by_policy >= 2 * (k - 1)   # the k - 1 rows before each run stop at it


def test_chunked_bc_exports_both_outputs_and_the_runtime_ensembles_them(session_store, tmp_path):
    """BC with chunk 4: the loss falls, the export carries `action` and `action_chunk` with parity,
    the runtime returns ACT's temporal ensemble of the chunks (recomputed here from torch), a
    reset (or a hold in the control core) starts over, and the metadata says what it is."""
    from robot_rl.control.core import ControlCore
    from robot_rl.control.safety import SafetyLayer
    from conftest import ARM6_COMMAND, ARM6_SAFETY
    from robot_rl.control.watchdog import Watchdog
    from robot_rl.learn.bc import train_bc
    from robot_rl.learn.config import BCConfig
    from robot_rl.policy.export import export

    path, _ = session_store
    store = EpisodeStore.open(path)
    model, pcfg, report = train_bc(store, BCConfig(kind="mlp", steps=200, batch=64, chunk=4, chunk_decay=0.3))
    assert report["chunk"] == 4 and report["loss_last"] < report["loss_first"]
    meta = pcfg.metadata("chunky")
    data, err = export(model, meta)
    assert err <= 1e-5
    onnx_path = PolicyRegistry(tmp_path / "policies").publish(data, meta)
    rt = PolicyRuntime.from_file(onnx_path)
    assert rt.meta.action_chunk == 4 and rt.meta.chunk_decay == 0.3
    steps = list(store.iter_steps(store.episode(0)))[:8]
    with torch.no_grad():
        chunks = [model.forward_chunk(torch.from_numpy(np.asarray(r["obs"], np.float32)[None]))[0].numpy() for r in steps]
    w = np.exp(-0.3 * np.arange(4))
    for t, row in enumerate(steps):
        got = rt({"proprio": row["obs"]})
        # chunks t-3..t (oldest first) each predicted step t at offset t - t'
        olds = range(max(0, t - 3), t + 1)
        want = sum(w[i] * chunks[tp][t - tp] for i, tp in enumerate(olds)) / w[:len(olds)].sum()
        np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.abs(chunks[7][0] - rt({"proprio": steps[7]["obs"]})).max() > 1e-4   # ensembling changed it
    rt.reset()
    np.testing.assert_allclose(rt({"proprio": steps[7]["obs"]}), chunks[7][0], atol=1e-5)
    # the control core resets the chunks when it holds: after a stale input, the first chunk alone
    wd = Watchdog({"proprio": 0.05}, resume_after_s=0.0)
    core = ControlCore(rt, SafetyLayer(ARM6_SAFETY(), 0.1), wd, ARM6_COMMAND())
    state = np.zeros(4)
    for t in range(3):
        wd.update("proprio", t * 10_000_000)
        core.tick(t * 10_000_000, {"proprio": steps[t]["obs"]}, state)
    assert core.tick(1_000_000_000, {"proprio": steps[3]["obs"]}, state).policy_action is None   # stale: hold
    wd.update("proprio", 1_000_000_000)
    rec = core.tick(1_000_000_000, {"proprio": steps[3]["obs"]}, state)
    np.testing.assert_allclose(rec.policy_action, chunks[3][0], atol=1e-5)
    with pytest.raises(Exception, match="action_chunk"):   # metadata that does not match the model
        export(model, dataclasses.replace(pcfg.metadata("liar"), action_chunk=2))


def test_actor_pretraining_runs_once_before_rl_and_a_resume_does_not_repeat_it(session_store, tmp_path):
    """learner.actor_pretrain_updates: BC steps on the human steps before the first RL update bring
    the deterministic action closer to the people's actions; the count is checkpointed, so a resumed
    learner does not pretrain again; a residual refuses the option."""
    path, _ = session_store
    cfg = learner_cfg(path, tmp_path, max_updates=3, actor_pretrain_updates=200, critic_warmup_updates=3)
    learner = Learner(cfg)
    human = learner.convert(learner.sampler.batch(learner.sampler.rows("human")[::4]))
    learner.behavior_policy()   # builds the agent

    def err() -> float:
        return float(((learner.agent.act(human["obs"], deterministic=True) - human["action"]) ** 2).sum(-1).mean())
    before = err()
    learner.run()
    assert learner.agent.pretrain_updates == 200 and learner.updates == 3
    assert err() < 0.5 * before, (before, err())
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any(r.get("pretrain_loss") is not None for r in rows)
    resumed = Learner(learner_cfg(path, tmp_path, max_updates=5, actor_pretrain_updates=200), resume=True)
    assert resumed.agent.pretrain_updates == 200
    resumed.run()
    assert resumed.agent.pretrain_updates == 200 and resumed.updates == 5
    with pytest.raises(ValueError, match="actor_pretrain_updates"):
        learner_cfg(path, tmp_path, mode="residual", base="x.safetensors", actor_pretrain_updates=10).validate()


def test_utd_is_enforced_against_arriving_data(session_store, tmp_path):
    path, _ = session_store
    learner = Learner(learner_cfg(path, tmp_path, cameras="", utd=0.25, idle_exit_s=0.5))
    assert learner.intervention_q_gap() is None          # no critic yet
    learner.run()
    assert np.isfinite(learner.intervention_q_gap())     # the diagnostic bench/learning.py prints
    n = len(learner.sampler)
    assert learner.updates == int(0.25 * n) and learner.governor.measured == pytest.approx(int(0.25 * n) / n)


def test_learner_follows_a_store_another_writer_appends_to(session_store, tmp_path):
    path, _ = session_store
    import shutil
    store_path = tmp_path / "live.zarr"
    shutil.copytree(path, store_path)
    learner = Learner(learner_cfg(store_path, tmp_path, cameras="", utd=0.5, refresh_s=0.1))
    before, episodes = len(learner.sampler), len(learner.sampler.episodes)
    thread = threading.Thread(target=learner.run)
    thread.start()
    try:
        env = sim.make("pick_cube", image_size=[64, 64])
        with StoreWriter(store_path) as w:
            rollout(env, w, 7, policy=zero_policy, operator=SimulatedHuman(env, seed=7), policy_version=2)
        env.close()
        committed = time.monotonic()
        while len(learner.sampler.episodes) == episodes and time.monotonic() - committed < 30:
            time.sleep(0.02)
        seen_after = time.monotonic() - committed
        deadline = time.monotonic() + 60
        while learner.updates < int(0.5 * len(learner.sampler)) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        learner.stop()
        thread.join(60)
    assert len(learner.sampler.episodes) == episodes + 1, f"new episode not picked up ({seen_after:.1f} s)"
    assert len(learner.sampler) > before and learner.updates == int(0.5 * len(learner.sampler))
    assert learner.recent()["policy_episodes"] == CORRECTED + 1


def run_cli(*args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "robot_rl.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def test_bc_and_learn_cli_with_resume(session_store, tmp_path):
    path, _ = session_store
    res = run_cli("bc", "--store", path, "--policy", "base", "--steps", "50", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "exported policies/base/v0001.onnx" in res.stdout
    args = ["learn", "--store", path, "--policy", "res", "--mode", "residual", "--base", "runs/base/bc.safetensors",
            "--cameras", "", "--no-publish", "--set", "batch=32",
            # exports by count, not by the clock: one at each run's end, however fast this machine is
            "--set", "export_every_s=1e9"]
    res = run_cli(*args, "--max-updates", "20", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "'updates': 20" in res.stdout
    res = run_cli(*args, "--max-updates", "40", "--resume", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "resumed from" in res.stderr and "'updates': 40" in res.stdout
    metrics = [json.loads(line) for line in (tmp_path / "runs" / "res" / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["updates"] == 40 and "critic_loss" in metrics[0]
    assert PolicyRegistry(tmp_path / "policies").versions("res") == ["v0001", "v0002"]
    # the run's settings are in its run dir without ROS too, and load back as the config that ran
    from robot_rl import config
    ran = config.load(LearnerConfig, tmp_path / "runs" / "res" / "learner.yaml")
    assert ran.batch == 32 and ran.mode == "residual" and ran.max_updates == 40 and ran.cameras == ""
    # bad input: one line, exit 2 (a truncated checkpoint is refused, not half-loaded)
    ckpt = tmp_path / "runs" / "res" / "checkpoint.safetensors"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    res = run_cli(*args, "--max-updates", "60", "--resume", cwd=tmp_path)
    assert res.returncode == 2 and "cannot be loaded" in res.stderr, res.stderr[-2000:]
    res = run_cli("learn", "--store", tmp_path / "nope.zarr", "--policy", "x", "--no-publish", cwd=tmp_path)
    assert res.returncode == 2 and "nope.zarr" in res.stderr
    res = run_cli("learn", "--store", path, "--policy", "x", "--mode", "residual", cwd=tmp_path)
    assert res.returncode == 2 and "base" in res.stderr


@pytest.mark.hil
def test_learner_node_swaps_policies_into_the_running_control_node(session_store, procs, tmp_path):
    """sim + control node running the BC base + the learner node (residual) in separate processes:
    the control node swaps in the learner's versions while it runs; the learner is killed with -9
    and the control node keeps running the last good policy; --resume continues from the checkpoint."""
    import yaml

    path, _ = session_store
    res = run_cli("bc", "--store", path, "--policy", "base", "--steps", "50", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    reg = tmp_path / "policies"
    cfg = learner_cfg(path, tmp_path, mode="residual", base=str(tmp_path / "runs/base/bc.safetensors"), cameras="",
                      utd=1000.0, export_every_s=1.0, checkpoint_every_s=1.0, batch=64)
    from robot_rl import config
    (tmp_path / "learner.yaml").write_text(yaml.safe_dump(config.to_dict(cfg)))
    sim_node = procs.node("sim_robot", "sim", mode="realtime", control_hz=10.0, cameras="")
    ctl = procs.node("control_node", "control", policy=str(reg / "base" / "v0001.onnx"), registry=str(reg),
                     rate_hz=10.0, report_path=str(tmp_path / "ctl.json"))
    learner = procs.node("learner_node", "learner", config=str(tmp_path / "learner.yaml"))
    deadline = time.monotonic() + 120
    while len(PolicyRegistry(reg).versions("pol")) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(PolicyRegistry(reg).versions("pol")) >= 3, learner.log_path.read_text()[-3000:]
    time.sleep(1.5)
    learner.send_signal(signal.SIGKILL)          # the learner dies mid-run
    learner.wait(10)
    killed_at = PolicyRegistry(reg).versions("pol")[-1]
    time.sleep(2.0)                              # the control node keeps running what it has
    resumed = procs.node("learner_node", "learner2", config=str(tmp_path / "learner.yaml"), resume=True)
    deadline = time.monotonic() + 120
    while PolicyRegistry(reg).versions("pol")[-1] == killed_at and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.5)
    resumed.send_signal(signal.SIGINT)
    assert wait_exit(resumed, 120) == 0, resumed.log_path.read_text()[-3000:]
    ctl.send_signal(signal.SIGINT)
    assert wait_exit(ctl, 30) == 0, ctl.log_path.read_text()[-3000:]
    sim_node.send_signal(signal.SIGINT)
    rep = read_json(tmp_path / "ctl.json")
    swapped = [s for s in rep["swaps"] if s["ok"]]
    assert len(swapped) >= 3 and all(s["version"].startswith("pol/") for s in swapped), rep["swaps"]
    assert not [s for s in rep["swaps"] if not s["ok"]], rep["swaps"]
    assert rep["policy"] == swapped[-1]["version"]
    # swaps arrived from both learner processes: before the kill and after the resume
    versions = [int(s["version"].split("/v")[1]) for s in swapped]
    assert max(versions) > int(killed_at[1:]) and min(versions) <= int(killed_at[1:])
    log = resumed.log_path.read_text()
    assert "resumed from" in log


def test_learner_node_sends_policies_by_value_to_a_control_node_with_its_own_registry(session_store, procs, tmp_path):
    """`send: value` (docs/TWO_HOSTS.md): the control node's registry is not the learner's; the
    learner's versions arrive in it byte for byte over ROS 2 and are swapped in."""
    import shutil

    import yaml

    path, _ = session_store
    res = run_cli("bc", "--store", path, "--policy", "base", "--steps", "50", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    learner_reg, robot_reg = tmp_path / "policies", tmp_path / "robot_policies"
    shutil.copytree(learner_reg / "base", robot_reg / "base")      # the robot host has its base policy
    cfg = learner_cfg(path, tmp_path, mode="residual", base=str(tmp_path / "runs/base/bc.safetensors"), cameras="",
                      utd=1000.0, export_every_s=1.0, checkpoint_every_s=1.0, batch=64)
    from robot_rl import config
    (tmp_path / "learner.yaml").write_text(yaml.safe_dump(config.to_dict(cfg)))
    procs.node("sim_robot", "sim", mode="realtime", control_hz=10.0, cameras="")
    ctl = procs.node("control_node", "control", policy=str(robot_reg / "base" / "v0001.onnx"), registry=str(robot_reg),
                     rate_hz=10.0, report_path=str(tmp_path / "ctl.json"))
    learner = procs.node("learner_node", "learner", config=str(tmp_path / "learner.yaml"), send="value")
    assert wait_until(lambda: len(PolicyRegistry(robot_reg).versions("pol")) >= 2, 120), learner.log_path.read_text()[-3000:]
    time.sleep(1.5)
    learner.send_signal(signal.SIGINT)
    assert wait_exit(learner, 120) == 0, learner.log_path.read_text()[-3000:]
    time.sleep(1.5)
    ctl.send_signal(signal.SIGINT)
    assert wait_exit(ctl, 30) == 0, ctl.log_path.read_text()[-3000:]
    rep = read_json(tmp_path / "ctl.json")
    assert rep["swaps"] and all(s["ok"] for s in rep["swaps"]), rep["swaps"]
    assert all(s["path"].startswith(str(robot_reg)) for s in rep["swaps"])   # loaded from its own registry
    for v in PolicyRegistry(robot_reg).versions("pol"):
        assert (robot_reg / "pol" / f"{v}.onnx").read_bytes() == (learner_reg / "pol" / f"{v}.onnx").read_bytes()
    assert rep["policy"] == rep["swaps"][-1]["version"]


def test_grasp_labels_find_the_cube_in_demonstrations_and_corrections(session_store, tmp_path):
    """pick_cube's labeler `grasp` (robot_rl.tasks.grasp), run by the sampler on real recorded
    episodes: the gripper's position plus the label is where the cube was (within 1 cm), in the
    expert's demonstrations and in the episodes the simulated human corrected, from every step that
    has one; a learner with task pick_cube carries it in its batches, and an aux head's own batches
    (aux.grasp.batch) only labelled rows; a learner without the task carries no labels."""
    from robot_rl.learn.config import AuxConfig
    from robot_rl.tasks.pick_cube import PickCube

    path, results = session_store
    store = EpisodeStore.open(path)
    s = TransitionSampler(store, cameras=[], reward="success", labelers=PickCube().labelers())
    env = sim.make("pick_cube", image_size=[64, 64])
    seeds = list(range(DEMOS)) + list(range(100, 100 + CORRECTED))
    for ep, seed, result in zip(store.episodes(), seeds, results):
        cube = env.reset(seed=seed)[1]["state"]["cube_pos"]
        rows = np.arange(*ep.steps)
        label = s.batch(rows)["labels"]["grasp"]
        obs = s.batch(rows)["obs"]
        if not result["success"]:
            assert np.isnan(label).all()
            continue
        known = np.isfinite(label).all(axis=1)
        # an expert's demonstration grasps once: every step knows where; a corrected episode from
        # its final attempt on (earlier steps NaN), which includes the grasp
        assert known.all() if seed < DEMOS else known[-1]
        grasp = (obs[:, -5:-2] + label[:, :3])[known]
        grasp_yaw = (obs[:, -2] + label[:, 3])[known]   # one yaw, up to wrapping
        assert np.abs(np.angle(np.exp(1j * (grasp_yaw - grasp_yaw[-1])))).max() < 1e-4
        assert np.abs(grasp[:, :2] - cube[:2]).max() < 0.01, (seed, grasp[0], cube)
        assert np.abs(grasp[:, 2] - cube[2]).max() < 0.01
    env.close()
    assert sum(r["success"] for r in results) >= DEMOS
    assert Learner(learner_cfg(path, tmp_path, cameras="", batch=32)).sample_batch()["labels"] == {}
    learner = Learner(learner_cfg(path, tmp_path, cameras="", batch=32, task="pick_cube"))
    assert learner.sample_batch()["labels"]["grasp"].shape == (32, 4)
    assert learner.sample_aux_batches() == {}   # no head with a batch of its own
    # rows="grasp": every transition whose label is known, demonstrations' and corrections' alike
    labelled = np.isfinite(s.batch(s.rows("all"))["labels"]["grasp"]).all(axis=1)
    np.testing.assert_array_equal(s.rows("grasp"), s.rows("all")[labelled])
    assert np.isin(s.rows("grasp"), s.rows("online")).any() and not np.isin(s.rows("grasp"), s.rows("online")).all()
    learner = Learner(learner_cfg(path, tmp_path, cameras="wrist", batch=32, task="pick_cube",
                                  aux={"grasp": AuxConfig(batch=16)}))
    learner.update()
    grasp = learner.sample_aux_batches()["grasp"]["labels"]["grasp"]
    assert grasp.shape == (16, 4) and torch.isfinite(grasp).all()
    with pytest.raises(ValueError, match="needs the task"):
        Learner(learner_cfg(path, tmp_path, aux={"grasp": AuxConfig()}))
    with pytest.raises(ValueError, match="has no auxiliary head 'reach'"):
        Learner(learner_cfg(path, tmp_path, task="pick_cube", aux={"reach": AuxConfig()}))


def _export_matches_torch(learner, path, tmp_path):
    """The learner's last export in onnxruntime against its torch policy on the store's first
    recorded frame (atol 1e-4); returns that observation and torch's action."""
    rt = PolicyRuntime.from_file(PolicyRegistry(tmp_path / "policies").resolve("pol"))
    store = EpisodeStore.open(path)
    row = next(iter(store.iter_steps(store.episode(0))))
    obs = {"front": row["samples"]["front_rgb"], "wrist": row["samples"]["wrist_rgb"], "proprio": row["obs"]}
    torch_action = learner.behavior_policy(deterministic=True)(obs)
    np.testing.assert_allclose(rt(obs), torch_action, atol=1e-4)
    return obs, torch_action


@pytest.mark.parametrize("actor", ["images", "recipe"])
def test_aux_input_policy_trains_resumes_and_exports_with_parity(session_store, tmp_path, actor):
    """An aux head with input: true (pick_cube's grasp head, from the wrist camera, in the gripper's
    frame, turned into the world's): the features end with its prediction. The learner trains it
    (its error logged), checkpoints and resumes it, and its export, head included, passes the parity
    check and matches torch in onnxruntime on a recorded frame; also with
    launch/learner/rlpd_pick_cube.yaml's learning settings as they stand (an actor that reads two
    proprio columns and that prediction, not images; the head's own batch; the BC term on the encoder)."""
    from robot_rl import config
    from robot_rl.learn.config import AuxConfig

    path, _ = session_store
    if actor == "recipe":
        recipe = config.load(LearnerConfig, REPO / "launch/learner/rlpd_pick_cube.yaml")
        sac, task, aux = recipe.sac, recipe.task, recipe.aux
        assert not sac.actor_images and sac.actor_proprio and aux["grasp"].batch
    else:
        sac, task = None, "pick_cube"
        aux = {"grasp": AuxConfig(cameras=["wrist"], input=True, options={"frame": "gripper"})}
    extra = dict(sac=sac) if sac is not None else {}
    learner = Learner(learner_cfg(path, tmp_path, task=task, aux=aux, max_updates=3, actor_pretrain_updates=2, **extra))
    learner.run()
    assert learner.agent.encoder.out_dim == learner.agent.encoder.encoder.out_dim + 4
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any(np.isfinite(m.get("grasp_err_cm", np.nan)) for m in metrics)
    obs, torch_action = _export_matches_torch(learner, path, tmp_path)
    resumed = Learner(learner_cfg(path, tmp_path, task=task, aux=aux, max_updates=4, actor_pretrain_updates=2, **extra),
                      resume=True)
    assert resumed.resumed_from == 3
    np.testing.assert_allclose(resumed.behavior_policy(deterministic=True)(obs), torch_action, atol=1e-6)


def test_learning_bench_runs_the_recipe_file_with_flags_on_top(tmp_path):
    """bench/learning.py --config: the (a) benchmark's learner is the recipe file's, a flag given on
    the command line overrides its field and only that one, and without --config the flags build it."""
    import importlib.util

    from robot_rl import config

    spec = importlib.util.spec_from_file_location("bench_learning", REPO / "bench" / "learning.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    recipe = REPO / "launch" / "learner" / "rlpd_pick_cube.yaml"

    def cfg(*argv):
        args = bench.parse_args(["rlpd", "--out", str(tmp_path), *argv])
        return config.to_dict(bench.learner_config(args, 3, tmp_path / "s.zarr", tmp_path))

    from_file = config.to_dict(config.load(LearnerConfig, recipe))
    ran = cfg("--config", str(recipe))
    assert ran["sac"] == from_file["sac"] and ran["batch"] == from_file["batch"]
    assert ran["actor_pretrain_updates"] == 1500 and ran["seed"] == 3 and ran["store"] == str(tmp_path / "s.zarr")
    over = cfg("--config", str(recipe), "--batch", "64", "--init-temperature=0.2")
    assert over["batch"] == 64 and over["sac"]["init_temperature"] == 0.2
    assert {k: v for k, v in over["sac"].items() if k != "init_temperature"} == \
           {k: v for k, v in ran["sac"].items() if k != "init_temperature"}
    assert ran["task"] == "pick_cube" and ran["aux"] == from_file["aux"] and ran["aux"]["grasp"]["input"]
    flags = cfg("--bc-weight", "2")   # no file: the flags and their defaults
    assert flags["sac"]["bc_weight"] == 2.0 and flags["aux"] == {} and flags["task"] == ""
    assert flags["sac"]["init_temperature"] == 0.1 and flags["critic_warmup_updates"] == 0
