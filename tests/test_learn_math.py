"""The learner's math on hand-checkable examples (issue #7's first pieces)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from robot_rl.learn.augment import random_shift
from robot_rl.learn.residual import combine
from robot_rl.store.returns import nstep_returns
from robot_rl.learn.utd import UTDGovernor


def test_nstep_returns_by_hand():
    r = [1.0, 2.0, 3.0, 4.0]
    # a terminal last step: gamma 0.5, n 3
    out = nstep_returns(r, [False, False, False, True], n=3, gamma=0.5)
    assert out["ret"].tolist() == [1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3 + 0.25 * 4, 3 + 0.5 * 4, 4]
    assert out["discount"].tolist() == [0.125, 0.0, 0.0, 0.0]      # only step 0 bootstraps (from obs_3)
    assert out["next"][0] == 3 and out["valid"].all()
    # the episode was cut (timeout): bootstrap from the last recorded observation, fewer steps
    out = nstep_returns(r, [False] * 4, n=3, gamma=0.5)
    assert out["ret"].tolist()[:3] == [2.75, 2 + 0.5 * 3, 3.0]
    assert out["discount"].tolist()[:3] == [0.125, 0.25, 0.5] and out["next"].tolist()[:3] == [3, 3, 3]
    assert out["valid"].tolist() == [True, True, True, False]      # the last step has no next obs
    # n = 1 is the one-step target
    one = nstep_returns(r, [False, False, True, False], n=1, gamma=0.9)
    assert one["ret"].tolist()[:3] == r[:3] and one["discount"].tolist()[:3] == [0.9, 0.9, 0.0]
    assert one["next"].tolist()[:3] == [1, 2, 2] and not one["valid"][3]
    with pytest.raises(ValueError):
        nstep_returns(r, [False] * 4, n=0, gamma=0.9)


def test_utd_is_enforced_and_measured():
    g = UTDGovernor(ratio=4, warmup_transitions=5)
    g.add_data(5)
    assert g.owed() == 0                  # warm-up: data first
    g.add_data(10)
    assert g.owed() == 40
    g.did_update(40)
    assert g.owed() == 0 and g.measured == 4.0
    with pytest.raises(RuntimeError):
        g.did_update()                    # more than the ratio allows
    g.add_data(1)
    g.did_update(2)                       # the learner fell behind: 2 of 4 taken
    assert g.owed() == 2 and g.measured == pytest.approx(42 / 11)


def test_residual_at_zero_is_exactly_the_base():
    """A fresh residual actor (zero-initialized mean) composed with a base in the exported graph
    gives the base's action bit for bit, in the robot's units; once trained it edits the base by
    at most scale * half range."""
    from robot_rl.learn.deploy import DeployedPolicy
    from robot_rl.learn.encoder import ObsEncoder
    from robot_rl.learn.nets import SquashedGaussianActor
    from robot_rl.policy.models import MLPPolicy
    from robot_rl.policy.spec import ActionSpec, ObsSpec

    torch.manual_seed(0)
    action = ActionSpec(["a", "b", "c"], [-0.5, 0.0, -2.0], [0.5, 1.0, 3.0])
    base = MLPPolicy(ObsSpec("proprio", [7]), action, hidden=[32])
    encoder = ObsEncoder(7)
    actor = SquashedGaussianActor(7 + 3, 3, hidden=[32], zero_init_mean=True)
    policy = DeployedPolicy(encoder, actor, action, ["proprio"], base=base, base_obs_names=["proprio"],
                            residual_scale=0.1).eval()
    obs = torch.randn(256, 7) * 3
    with torch.no_grad():
        act, base_act = policy(obs)
        assert torch.equal(act, base(obs)) and torch.equal(base_act, base(obs))
        torch.nn.init.normal_(actor.net[-1].weight)          # trained: edits by <= scale * half range
        act, base_act = policy(obs)
    half = (torch.tensor(action.high) - torch.tensor(action.low)) / 2
    edit = (act - base_act).abs()
    assert edit.max() > 0 and torch.all(edit <= 0.1 * half + 1e-6)
    assert torch.all(act >= torch.tensor(action.low)) and torch.all(act <= torch.tensor(action.high))
    # in the learner's normalized space the same rule, clipped to [-1, 1]
    one = torch.ones(3)
    assert torch.equal(combine(torch.tensor([0.95, -0.2, 0.0]), torch.tensor([1.0, 0.0, -1.0]), 0.1, -one, one),
                       torch.tensor([1.0, -0.2, -0.1]))


def test_random_shift_moves_each_image_and_keeps_uint8():
    g = torch.Generator().manual_seed(0)
    imgs = torch.randint(0, 256, (8, 16, 16, 3), dtype=torch.uint8, generator=g)
    out = random_shift(imgs, pad=2, generator=g)
    assert out.dtype == torch.uint8 and out.shape == imgs.shape
    assert torch.equal(random_shift(imgs, pad=0), imgs)
    # every output is the input shifted by some (dy, dx) in [-2, 2]: its interior matches exactly
    for b in range(8):
        found = any(torch.equal(out[b, 2:-2, 2:-2], imgs[b, 2 + dy:14 + dy, 2 + dx:14 + dx])
                    for dy in range(-2, 3) for dx in range(-2, 3))
        assert found
    assert not all(torch.equal(out[b], imgs[b]) for b in range(8))


def test_squashed_gaussian_log_prob_matches_torch_distributions():
    from torch.distributions import Normal, TransformedDistribution
    from torch.distributions.transforms import TanhTransform

    from robot_rl.learn.nets import SquashedGaussianActor

    torch.manual_seed(0)
    actor = SquashedGaussianActor(3, 2, hidden=[16])
    obs = torch.randn(4096, 3)
    a, logp = actor(obs)
    mu, log_std = actor.net(obs).chunk(2, dim=-1)
    log_std = actor.LOG_STD_MIN + 0.5 * (actor.LOG_STD_MAX - actor.LOG_STD_MIN) * (torch.tanh(log_std) + 1)
    ref = TransformedDistribution(Normal(mu, log_std.exp()), [TanhTransform()]).log_prob(a.clamp(-0.999, 0.999)).sum(-1)
    ok = a.abs().max(-1).values < 0.99           # away from the edges, where atanh is exact enough
    assert ok.sum() > 1000 and torch.allclose(logp[ok], ref[ok], atol=1e-3)
    assert torch.equal(actor(obs, deterministic=True)[0], torch.tanh(mu))


def test_sac_learns_a_contextual_bandit():
    """One-step episodes: reward -|a - obs[0]|. The deterministic action must track obs[0]."""
    from robot_rl.learn.encoder import ObsEncoder
    from robot_rl.learn.sac import SAC
    from robot_rl.learn.config import SACConfig

    sac = SAC(ObsEncoder(2), 1, SACConfig(hidden=[64, 64], lr=1e-3, init_temperature=0.01), seed=0)
    rng = np.random.default_rng(0)
    for _ in range(1500):
        obs = rng.uniform(-0.8, 0.8, (128, 2)).astype(np.float32)
        act = rng.uniform(-1, 1, (128, 1)).astype(np.float32)
        batch = {"obs": {"proprio": torch.from_numpy(obs)}, "action": torch.from_numpy(act),
                 "ret": torch.from_numpy(-np.abs(act[:, 0] - obs[:, 0])), "discount": torch.zeros(128),
                 "next_obs": {"proprio": torch.from_numpy(obs)}}
        metrics = sac.update(batch)
    test = torch.from_numpy(rng.uniform(-0.8, 0.8, (256, 2)).astype(np.float32))
    err = (sac.act({"proprio": test}, deterministic=True)[:, 0] - test[:, 0]).abs().mean()
    assert err < 0.15, float(err)
    assert np.isfinite(list(metrics.values())).all() and sac.updates == 1500


def test_critic_ensemble_members_are_independent_networks():
    """The members run as one batched matmul per layer but stay separate networks: different
    initializations, and a member's output has no gradient into another member's weights."""
    from robot_rl.learn.nets import CriticEnsemble

    torch.manual_seed(0)
    critic = CriticEnsemble(10, 3, ensemble=4, hidden=[32, 32])
    q = critic(torch.randn(8, 10), torch.randn(8, 3))
    assert q.shape == (4, 8) and len({round(float(v), 5) for v in q[:, 0].detach()}) == 4
    q[2].sum().backward()
    for p in critic.parameters():
        grads = p.grad.flatten(1).abs().sum(1)
        assert grads[2] > 0 and torch.all(grads[[0, 1, 3]] == 0)


def _bandit_with_human(sac_cfg, human_sign: float, updates: int = 1500):
    """One-step episodes, reward -|a - obs[0]|; half of each batch is 'human' steps whose action is
    human_sign * obs[0] (+1: the right action, -1: a bad correction), the rest random actions."""
    from robot_rl.learn.encoder import ObsEncoder
    from robot_rl.learn.sac import SAC

    sac = SAC(ObsEncoder(2), 1, sac_cfg, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(updates):
        obs = rng.uniform(-0.8, 0.8, (128, 2)).astype(np.float32)
        act = rng.uniform(-1, 1, (128, 1)).astype(np.float32)
        human = np.arange(128) < 64
        act[human, 0] = human_sign * obs[human, 0]
        batch = {"obs": {"proprio": torch.from_numpy(obs)}, "action": torch.from_numpy(act),
                 "ret": torch.from_numpy(-np.abs(act[:, 0] - obs[:, 0])), "discount": torch.zeros(128),
                 "next_obs": {"proprio": torch.from_numpy(obs)}, "intervention": torch.from_numpy(human)}
        metrics = sac.update(batch)
    test = torch.from_numpy(rng.uniform(-0.8, 0.8, (256, 2)).astype(np.float32))
    a = sac.act({"proprio": test}, deterministic=True)[:, 0]
    return float((a - test[:, 0]).abs().mean()), float((a + test[:, 0]).abs().mean()), metrics


def test_bc_term_imitates_human_steps_and_the_q_filter_drops_bad_corrections():
    from robot_rl.learn.config import SACConfig

    base = dict(hidden=[64, 64], lr=1e-3, init_temperature=0.01)
    # good corrections: the actor tracks them, and the filter keeps most of them late in training
    to_good, _, m = _bandit_with_human(SACConfig(**base, bc_weight=1.0), +1.0, updates=600)
    assert to_good < 0.15 and m["bc_loss"] < 0.05 and "bc_kept" in m
    # bad corrections (the opposite of the rewarded action), BC unfiltered and strong: imitated
    _, to_bad, m = _bandit_with_human(SACConfig(**base, bc_weight=20.0, bc_q_filter=False), -1.0)
    assert to_bad < 0.2 and m["bc_kept"] == 1.0
    # the same with the Q filter: the critic rates them below the policy's action, so they are
    # dropped and the actor follows the reward instead
    to_good, _, m = _bandit_with_human(SACConfig(**base, bc_weight=20.0), -1.0)
    assert to_good < 0.15 and m["bc_kept"] < 0.2
    with pytest.raises(ValueError):
        SACConfig(bc_weight=-1.0).validate()


def test_bc_encoder_lets_only_the_imitation_term_into_the_encoder():
    """sac.bc_encoder: one update on the same batch from the same weights and random state, with and
    without it. The encoder differs (imitation gradient), the critic and the actor do not (the
    term adds nothing to the critic's gradient, and the actor still learns on detached features)."""
    from robot_rl.learn.encoder import ObsEncoder
    from robot_rl.learn.config import EncoderConfig, SACConfig
    from robot_rl.learn.sac import SAC

    rng = np.random.default_rng(0)
    obs = {"proprio": torch.from_numpy(rng.normal(size=(32, 3)).astype(np.float32)),
           "cam": torch.from_numpy(rng.integers(0, 256, (32, 16, 16, 3), dtype=np.uint8))}
    batch = {"obs": obs, "next_obs": obs, "action": torch.from_numpy(rng.uniform(-1, 1, (32, 2)).astype(np.float32)),
             "ret": torch.zeros(32), "discount": torch.full((32,), 0.9), "intervention": torch.arange(32) < 16}
    agents = []
    for bc_encoder in (False, True):
        torch.manual_seed(0)
        enc = ObsEncoder(3, ["cam"], (16, 16), EncoderConfig(channels=4, feature_dim=8, downsample=1))
        sac = SAC(enc, 2, SACConfig(hidden=[16], bc_weight=1.0, bc_q_filter=False, bc_encoder=bc_encoder), seed=0)
        torch.manual_seed(1)
        sac.update(batch)
        agents.append(sac)
    plain, through = agents

    def same(a, b):
        return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert not same(plain.encoder, through.encoder)
    assert same(plain.critic, through.critic) and same(plain.actor, through.actor)


def test_actor_pretraining_imitates_the_batch_and_leaves_the_rl_parts_alone():
    """pretrain_actor: the deterministic action learns the demonstrated mapping (a = -obs[0] on the
    first dim, a = 0.5 on the second) through encoder and actor; critic, target, temperature and the
    RL optimizers are exactly as built; a residual refuses it."""
    from robot_rl.learn.encoder import ObsEncoder
    from robot_rl.learn.sac import SAC
    from robot_rl.learn.config import SACConfig

    torch.manual_seed(0)
    sac = SAC(ObsEncoder(2), 2, SACConfig(hidden=[64, 64], lr=1e-3), seed=0)
    critic0 = [p.clone() for p in [*sac.critic.parameters(), *sac.critic_target.parameters()]]
    alpha0 = sac.log_alpha.detach().clone()
    rng = np.random.default_rng(0)

    def demo(n):
        obs = rng.uniform(-0.8, 0.8, (n, 2)).astype(np.float32)
        return torch.from_numpy(obs), torch.from_numpy(np.stack([-obs[:, 0], np.full(n, 0.5, np.float32)], 1))
    test_obs, test_act = demo(256)

    def err():
        return float((sac.act({"proprio": test_obs}, deterministic=True) - test_act).abs().mean())
    before = err()
    for _ in range(600):
        obs, act = demo(128)
        loss = sac.pretrain_actor({"obs": {"proprio": obs}, "action": act})
    assert err() < 0.05 < before and loss < 0.01, (before, err(), loss)
    assert sac.pretrain_updates == 600 and sac.updates == 0
    assert all(torch.equal(a, b) for a, b in zip(critic0, [*sac.critic.parameters(), *sac.critic_target.parameters()]))
    assert torch.equal(sac.log_alpha.detach(), alpha0)
    assert all(not opt.state for opt in sac.optimizers().values())
    residual = SAC(ObsEncoder(2), 2, SACConfig(hidden=[16], residual_scale=0.2), seed=0)
    with pytest.raises(ValueError, match="residual"):
        residual.pretrain_actor({"obs": {"proprio": test_obs}, "action": test_act, "base_action": test_act})


def _grasp_sac(enc, action_dim=2, sac_cfg=None, options=None, **aux):
    """SAC with pick_cube's grasp head (a task's aux head, robot_rl.tasks.grasp_head) as the learner
    builds it: by name, through the task's factory."""
    from robot_rl.learn.config import AuxConfig, SACConfig
    from robot_rl.learn.sac import SAC
    from robot_rl.tasks.pick_cube import PickCube

    task = PickCube()
    return SAC(enc, action_dim, sac_cfg or SACConfig(hidden=[64, 64], lr=1e-3, augment_pad=0), seed=0,
               aux={"grasp": AuxConfig(options=options or {}, **aux)},
               make_head=lambda name, cols: task.aux_head(name, cols, 7, 64, options or {}))


@pytest.mark.parametrize("frame", ["world", "gripper"])
def test_grasp_head_learns_where_the_grasp_was_from_the_rows_that_know_it(frame):
    """An aux head (pick_cube's grasp head) on the image features learns batch["labels"]["grasp"]
    (here: where a bright square sits in the image; with options.frame gripper, that offset in the
    gripper's axes, so the world offset turns with the yaw in proprio) in pretraining and in RL
    updates, from the rows where it is finite (NaN rows, episodes that never grasped, neither count
    nor poison the loss); predict() answers in the world's axes; the head is checkpointed with the
    agent and needs a camera; unknown options and heads are refused."""
    from robot_rl.learn.encoder import ObsEncoder
    from robot_rl.learn.config import EncoderConfig
    from robot_rl.tasks.grasp_head import turn_xy
    from robot_rl.tasks.pick_cube import PickCube

    torch.manual_seed(0)
    enc = ObsEncoder(7, ["cam"], (16, 16), EncoderConfig(channels=8, feature_dim=16, downsample=1))
    sac = _grasp_sac(enc, options={"frame": frame})
    assert "aux_grasp" in sac.modules()
    rng = np.random.default_rng(0)

    def batch(n):
        r, c = rng.integers(0, 13, n), rng.integers(0, 13, n)
        img = np.zeros((n, 16, 16, 3), np.uint8)
        for i in range(n):
            img[i, r[i]:r[i] + 3, c[i]:c[i] + 3] = 255
        seen = torch.from_numpy(0.1 * np.stack([(c - 6) / 6, (r - 6) / 6, np.zeros(n)], 1).astype(np.float32))
        proprio = torch.from_numpy(rng.uniform(-1, 1, (n, 7)).astype(np.float32))   # [..., yaw, opening]
        offset = turn_xy(seen, proprio[:, -2]) if frame == "gripper" else seen
        offset = torch.cat([offset, 5 * seen[:, 1:2]], dim=1)   # and a yaw to turn, also seen (the row)
        offset[: n // 3] = float("nan")                  # a third of the rows never grasped
        obs = {"proprio": proprio, "cam": torch.from_numpy(img)}
        return {"obs": obs, "next_obs": obs, "action": torch.zeros(n, 2), "ret": torch.zeros(n),
                "discount": torch.zeros(n), "intervention": torch.ones(n, dtype=torch.bool),
                "labels": {"grasp": offset}}
    sac.pretrain_actor(batch(128))
    first = sac.pretrain_metrics["grasp_err_cm"]
    for _ in range(400):
        sac.pretrain_actor(batch(128))
    last = sac.pretrain_metrics["grasp_err_cm"]
    assert np.isfinite(first) and last < 0.3 * first, (first, last)
    m = sac.update(batch(128))
    assert np.isfinite(m["grasp_loss"]) and m["grasp_err_cm"] < 0.3 * first
    test = batch(64)
    truth = test["labels"]["grasp"]
    known = torch.isfinite(truth).all(1)
    guess = sac.heads["grasp"].si(sac.predict("grasp", test["obs"]))[known]
    miss_cm = 100 * (guess[:, :3] - truth[known][:, :3]).norm(dim=1).median()
    assert miss_cm < 0.3 * first, (miss_cm, first)
    yaw_miss = (guess[:, 3] - truth[known][:, 3]).abs().median()
    assert yaw_miss < 0.3 * truth[known][:, 3].abs().median(), yaw_miss
    truth[:] = float("nan")
    assert np.isnan(sac.update(test)["grasp_err_cm"])
    assert all(torch.isfinite(p).all() for p in sac.heads["grasp"].parameters())
    with pytest.raises(ValueError, match="camera"):
        _grasp_sac(ObsEncoder(7))
    with pytest.raises(ValueError, match="frame"):
        _grasp_sac(enc, options={"frame": "tool"})
    with pytest.raises(ValueError, match="has no auxiliary head 'reach'"):
        PickCube().aux_head("reach", [0], 7, 8, {})


def test_aux_head_learns_from_its_own_batch_through_its_cameras_only():
    """An aux head with a batch of its own (aux.NAME.batch): update(batch, aux_batches={name: ...})
    trains it on that batch (here the RL batch knows no grasp at all, and the head still learns
    where the square is), with an image pass over the head's cameras only (its batch carries no
    other camera); the encoder's other columns are zero in such a pass."""
    from robot_rl.learn.config import AuxConfig, EncoderConfig
    from robot_rl.learn.encoder import ObsEncoder

    torch.manual_seed(0)
    enc = ObsEncoder(7, ["cam", "other"], (16, 16), EncoderConfig(channels=8, feature_dim=16, downsample=1))
    sac = _grasp_sac(enc, cameras=["cam"], batch=64)
    rng = np.random.default_rng(0)

    def obs(n):
        r, c = rng.integers(0, 13, n), rng.integers(0, 13, n)
        img = np.zeros((n, 16, 16, 3), np.uint8)
        for i in range(n):
            img[i, r[i]:r[i] + 3, c[i]:c[i] + 3] = 255
        offset = torch.from_numpy(0.1 * np.stack([(c - 6) / 6, (r - 6) / 6, np.zeros(n), np.zeros(n)], 1).astype(np.float32))
        return {"proprio": torch.from_numpy(rng.uniform(-1, 1, (n, 7)).astype(np.float32)),
                "cam": torch.from_numpy(img)}, offset

    def rl_batch(n):
        o, _ = obs(n)
        o["other"] = torch.from_numpy(rng.integers(0, 255, (n, 16, 16, 3), dtype=np.uint8))
        return {"obs": o, "next_obs": o, "action": torch.zeros(n, 2), "ret": torch.zeros(n), "discount": torch.zeros(n),
                "labels": {"grasp": torch.full((n, 4), float("nan"))}}

    def grasp_batch(n):
        o, offset = obs(n)
        return {"grasp": {"obs": o, "labels": {"grasp": offset}}}
    assert np.isnan(sac.update(rl_batch(64))["grasp_err_cm"])   # without its batch: the RL batch's rows
    first = sac.update(rl_batch(64), aux_batches=grasp_batch(64))["grasp_err_cm"]
    for _ in range(400):
        last = sac.update(rl_batch(64), aux_batches=grasp_batch(64))["grasp_err_cm"]
    assert np.isfinite(first) and last < 0.3 * first, (first, last)
    o, offset = obs(64)
    full = {**o, "other": torch.zeros(64, 16, 16, 3, dtype=torch.uint8)}
    with torch.no_grad():
        assert torch.equal(sac.image_encoder(o, ["cam"])[:, 7:23], sac.image_encoder(full)[:, 7:23])
        assert not sac.image_encoder(o, ["cam"])[:, 23:].any()
    guess = sac.heads["grasp"].si(sac.predict("grasp", full))[:, :2]
    assert 100 * (guess - offset[:, :2]).norm(dim=1).median() < 0.3 * first
    with pytest.raises(ValueError, match="batch"):
        AuxConfig(batch=-1).validate()
    with pytest.raises(ValueError, match="weight"):
        AuxConfig(weight=0).validate()


def test_actor_without_images_reads_proprio_and_the_aux_estimate_only():
    """sac.actor_images false: the actor's action depends on proprio and the input aux head's
    estimate (the features' last four columns), not on the image features; the critic still reads
    them; actor_proprio narrows the proprio it reads. Needs a head with input; not with a residual."""
    from robot_rl.learn.encoder import ObsEncoder
    from robot_rl.learn.config import EncoderConfig, SACConfig
    from robot_rl.learn.sac import SAC

    enc = ObsEncoder(7, ["cam"], (16, 16), EncoderConfig(channels=8, feature_dim=16, downsample=1))
    sac = _grasp_sac(enc, 3, SACConfig(hidden=[32], actor_images=False), input=True)
    f = torch.randn(5, sac.encoder.out_dim)
    images = f.clone()
    images[:, 7:-4] = torch.randn(5, sac.encoder.out_dim - 11)    # other image features, same proprio and estimate
    a, _ = sac.actor(f, deterministic=True)
    assert torch.equal(a, sac.actor(images, deterministic=True)[0])
    grasp = f.clone()
    grasp[:, -4:] += 1.0
    assert not torch.allclose(a, sac.actor(grasp, deterministic=True)[0])
    assert not torch.allclose(sac.critic(f, a), sac.critic(images, a))
    # actor_proprio: only those proprio columns (here the last two of 7) and the estimate
    narrow = _grasp_sac(enc, 3, SACConfig(hidden=[32], actor_images=False, actor_proprio=[-2, -1]), input=True)
    other_proprio = f.clone()
    other_proprio[:, :5] = torch.randn(5, 5)
    a, _ = narrow.actor(f, deterministic=True)
    assert torch.equal(a, narrow.actor(other_proprio, deterministic=True)[0])
    assert not torch.allclose(a, narrow.actor(grasp, deterministic=True)[0])
    moved = f.clone()
    moved[:, 6] += 1.0
    assert not torch.allclose(a, narrow.actor(moved, deterministic=True)[0])
    with pytest.raises(ValueError, match="7 columns"):
        _grasp_sac(enc, 3, SACConfig(actor_images=False, actor_proprio=[7]), input=True)
    with pytest.raises(ValueError, match="actor_images"):
        SACConfig(actor_proprio=[-1]).validate()
    with pytest.raises(ValueError, match="input: true"):
        SAC(enc, 3, SACConfig(actor_images=False))
    with pytest.raises(ValueError, match="residual"):
        SACConfig(actor_images=False, residual_scale=0.1).validate()


def test_temporal_ensemble_by_hand():
    """ACT's temporal ensembling: every chunk's prediction for now, weights exp(-m i) from the oldest."""
    from robot_rl.policy.chunking import TemporalEnsemble

    ens = TemporalEnsemble(3, decay=np.log(2))   # weights 1, 1/2, 1/4 from the oldest
    c = [np.array([[0.0], [1.0], [2.0]]), np.array([[10.0], [11.0], [12.0]]),
         np.array([[20.0], [21.0], [22.0]]), np.array([[30.0], [31.0], [32.0]])]
    assert ens(c[0]) == pytest.approx(0.0)
    assert ens(c[1]) == pytest.approx((1 * 1.0 + 0.5 * 10.0) / 1.5)
    assert ens(c[2]) == pytest.approx((1 * 2.0 + 0.5 * 11.0 + 0.25 * 20.0) / 1.75)
    assert ens(c[3]) == pytest.approx((1 * 12.0 + 0.5 * 21.0 + 0.25 * 30.0) / 1.75)   # c[0] has run out
    ens.reset()
    assert ens(c[3]) == pytest.approx(30.0)
    with pytest.raises(ValueError):
        ens(np.zeros((2, 1)))
    with pytest.raises(ValueError):
        TemporalEnsemble(0)
