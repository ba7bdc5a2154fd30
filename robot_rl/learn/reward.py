"""A learned reward: a success classifier on camera frames (HIL-SERL's reward classifier).

Labels come from what the operator marked in the store: an episode labelled a success ends in the
task's success state (the operator presses `success` once the task is done, and the simulated
operator only after the success state has held for a few steps), so the frames of its last
`success_tail` steps are successes. Every frame of an episode labelled a failure is a failure, and
so are the frames of a successful episode before its last `success_tail + guard` steps; the
`guard` steps in between (nearly done, or done but not yet marked) are left out. Episodes with no
label are not used.

    model, meta, report = train_reward(EpisodeStore.open("runs/session/store.zarr"), RewardConfig())

The model is the policies' image encoder per camera + an MLP -> P(success), exported to ONNX
through the registry (metadata kind "reward", output `success`; a control node refuses it as a
policy). `ClassifierReward` runs such an export over a store's episodes for the learner
(LearnerConfig.reward = "classifier"): r_t = 1 and terminal where the frames after step t are
classified a success, as HIL-SERL's classifier wrapper does online.
"""
from __future__ import annotations

import dataclasses
import pathlib
import time
from typing import Any, Callable, Optional

import numpy as np
import torch
from torch import nn

from robot_rl.learn.augment import random_shift
from robot_rl.learn.bc import loss_summary
from robot_rl.learn.config import RewardConfig
from robot_rl.learn.data import camera_name, image_streams
from robot_rl.log import get_logger
from robot_rl.policy.models import ImageEncoder, pool_frames
from robot_rl.policy.spec import ActionSpec, ObsSpec, PolicyError, PolicyMetadata
from robot_rl.store.reader import Episode, EpisodeStore
from robot_rl.store.schema import StoreError

log = get_logger(__name__)


class SuccessClassifier(nn.Module):
    """uint8 [B, H, W, 3] per camera -> P(success) [B, 1]. forward() returns the probability (what
    the export runs); logits() what the loss trains."""

    def __init__(self, cameras: list[ObsSpec], cfg: RewardConfig) -> None:
        super().__init__()
        self.encoders = nn.ModuleList(ImageEncoder(c.shape[:2], cfg.channels, cfg.feature_dim, cfg.downsample)
                                      for c in cameras)
        self.head = nn.Sequential(nn.Linear(len(cameras) * cfg.feature_dim, cfg.hidden), nn.ReLU(),
                                  nn.Linear(cfg.hidden, 1))

    def logits(self, *images: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([enc(img) for enc, img in zip(self.encoders, images)], dim=1))

    def forward(self, *images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(*images))


def episode_labels(num_steps: int, success: bool, cfg: RewardConfig) -> np.ndarray:
    """Per step: 1 success, 0 failure, -1 left out."""
    labels = np.zeros(num_steps, np.int8)
    if success:
        tail = min(cfg.success_tail, num_steps)
        labels[num_steps - tail:] = 1
        labels[max(0, num_steps - tail - cfg.guard):num_steps - tail] = -1
    return labels


@dataclasses.dataclass
class LabelledFrames:
    frames: dict[str, np.ndarray]  # stream -> uint8 [N, h, w, 3] (pooled)
    labels: np.ndarray             # [N] 0/1
    episode: np.ndarray            # [N] store episode index


def load_labelled(store: EpisodeStore, episodes: list[Episode], streams: list[str], cfg: RewardConfig) -> LabelledFrames:
    frames: dict[str, list[np.ndarray]] = {s: [] for s in streams}
    labels, eps = [], []
    for ep in episodes:
        lab = episode_labels(ep.num_steps, bool(ep.success), cfg)
        idx = store.read_steps(ep, ["sample_index"])["sample_index"]
        keep = lab >= 0
        for s in streams:
            keep &= idx[s] >= 0   # a step that used no frame of a camera has nothing to classify
        keep = np.flatnonzero(keep)
        if not len(keep):
            continue
        for s in streams:
            f = store.read_samples(s, idx[s][keep])
            frames[s].append(pool_frames(torch.from_numpy(f), cfg.downsample).numpy() if cfg.downsample > 1 else f)
        labels.append(lab[keep])
        eps.append(np.full(len(keep), ep.index))
    if not labels:
        return LabelledFrames({s: np.zeros((0,), np.uint8) for s in streams}, np.zeros(0, np.int8), np.zeros(0, np.int64))
    return LabelledFrames({s: np.concatenate(v) for s, v in frames.items()}, np.concatenate(labels), np.concatenate(eps))


def split_episodes(episodes: list[Episode], fraction: float, seed: int) -> tuple[list[Episode], list[Episode]]:
    """(train, validation) by episode, each class split on its own so both sets hold successes and
    failures where there are any."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for group in ([e for e in episodes if e.success], [e for e in episodes if not e.success]):
        order = rng.permutation(len(group))
        n_val = int(round(len(group) * fraction)) if len(group) > 1 else 0
        val += [group[i] for i in order[:n_val]]
        train += [group[i] for i in order[n_val:]]
    return sorted(train, key=lambda e: e.index), sorted(val, key=lambda e: e.index)


def _predict(model: nn.Module, data: LabelledFrames, streams: list[str], batch: int = 512) -> np.ndarray:
    out = []
    with torch.no_grad():
        for i in range(0, len(data.labels), batch):
            out.append(model(*[torch.from_numpy(data.frames[s][i:i + batch]) for s in streams])[:, 0].numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def classification_metrics(prob: np.ndarray, data: LabelledFrames, episodes: list[Episode],
                           threshold: float) -> dict[str, Any]:
    """Frame metrics (accuracy, precision, recall) and the episode view the learner depends on:
    a successful episode is detected when one of its last `success_tail` frames is classified a
    success, and a false alarm is a failed episode with any frame classified a success, or a
    successful one classified a success before its tail and guard."""
    pred = prob >= threshold
    y = data.labels.astype(bool)
    tp, fp, fn = int(np.sum(pred & y)), int(np.sum(pred & ~y)), int(np.sum(~pred & y))
    succ = [e for e in episodes if e.success]
    fail = [e for e in episodes if not e.success]
    detected = sum(bool(np.any(pred[(data.episode == e.index) & y])) for e in succ)
    false_alarm = sum(bool(np.any(pred[(data.episode == e.index) & ~y])) for e in episodes)
    return {"frames": int(len(y)), "success_frames": int(y.sum()),
            "accuracy": float(np.mean(pred == y)) if len(y) else float("nan"),
            "precision": tp / (tp + fp) if tp + fp else float("nan"),
            "recall": tp / (tp + fn) if tp + fn else float("nan"),
            "episodes": len(episodes), "success_episodes": len(succ), "failure_episodes": len(fail),
            "success_detected": detected, "false_alarm_episodes": false_alarm}


def train_reward(store: EpisodeStore, cfg: RewardConfig,
                 progress: Optional[Callable[[int, int, float], None]] = None
                 ) -> tuple[SuccessClassifier, PolicyMetadata, dict[str, Any]]:
    """(model in eval mode, its metadata for export, report with train/validation metrics).
    Raises StoreError when the store lacks labelled successes or failures."""
    cfg.validate()
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    streams = image_streams(store, cfg.cameras)
    if not streams:
        raise StoreError(f"{store.path}: a reward classifier needs an rgb stream; the store has none")
    labelled = [e for e in store.episodes(status=["complete", "aborted"]) if e.success is not None and e.num_steps]
    if not any(e.success for e in labelled):
        raise StoreError(f"{store.path}: no episode labelled a success (the operator's "
                         "success/failure key when recording) to learn success frames from")
    train_eps, val_eps = split_episodes(labelled, cfg.val_fraction, cfg.seed)
    t0 = time.monotonic()
    train = load_labelled(store, train_eps, streams, cfg)
    val = load_labelled(store, val_eps, streams, cfg)
    pos, neg = np.flatnonzero(train.labels == 1), np.flatnonzero(train.labels == 0)
    if not len(pos) or not len(neg):
        raise StoreError(f"{store.path}: training needs frames of both classes; have {len(pos)} success and "
                         f"{len(neg)} failure frames (record longer episodes or failures, or lower guard)")
    log.info("reward: %d success and %d failure frames from %d episodes (%d held out), loaded in %.1f s",
             len(pos), len(neg), len(train_eps), len(val_eps), time.monotonic() - t0)
    cams = [ObsSpec(camera_name(s), list(store.spec.stream(s).shape), "uint8") for s in streams]
    model = SuccessClassifier(cams, cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    half = cfg.batch // 2
    target = torch.cat([torch.ones(half), torch.zeros(cfg.batch - half)])[:, None]
    losses = []
    model.train()
    t_train = time.monotonic()
    for step in range(1, cfg.steps + 1):
        rows = np.concatenate([rng.choice(pos, half), rng.choice(neg, cfg.batch - half)])  # balanced: successes are rare
        images = [random_shift(torch.from_numpy(train.frames[s][rows]), cfg.augment_pad) for s in streams]
        loss = nn.functional.binary_cross_entropy_with_logits(model.logits(*images), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if progress is not None:
            progress(step, cfg.steps, losses[-1])
    model.eval()
    report: dict[str, Any] = {
        "cameras": [c.name for c in cams], "steps": cfg.steps, "seconds": round(time.monotonic() - t_train, 1),
        **loss_summary(losses),
        "threshold": cfg.threshold, "success_tail": cfg.success_tail, "guard": cfg.guard,
        "train": classification_metrics(_predict(model, train, streams), train, train_eps, cfg.threshold)}
    if val_eps:
        report["validation"] = classification_metrics(_predict(model, val, streams), val, val_eps, cfg.threshold)
        report["validation_curves"] = {int(e.index): _predict(model, _subset(val, e.index), streams).round(4).tolist()
                                       for e in val_eps[:8]}
    meta = PolicyMetadata(name="", obs=cams, action=ActionSpec(["success"], [0.0], [1.0], units="probability"),
                          kind="reward")
    return model, meta, report


def _subset(data: LabelledFrames, episode: int) -> LabelledFrames:
    m = data.episode == episode
    return LabelledFrames({s: f[m] for s, f in data.frames.items()}, data.labels[m], data.episode[m])


def plot_validation(report: dict[str, Any], path: pathlib.Path) -> Optional[pathlib.Path]:
    """P(success) along held-out episodes, with the threshold: where it fires is what the learner
    will reward."""
    curves = report.get("validation_curves")
    if not curves:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for ep, p in curves.items():
        ax.plot(np.arange(len(p)) - len(p) + 1, p, lw=1.2, label=f"episode {ep}")
    ax.axhline(report["threshold"], color="k", ls="--", lw=0.8)
    ax.set_xlabel("labelled frames before the episode's end (guard steps left out)")
    ax.set_ylabel("P(success)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("reward classifier on held-out episodes")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def train_and_publish(store_path, cfg: RewardConfig, name: str, registry, plot_dir=None) -> dict[str, Any]:
    """Train, export (parity-checked) to the registry under `name`, plot the held-out episodes.
    Returns {"path", "parity", "report", "plot"}."""
    from robot_rl.log import progress
    from robot_rl.policy.export import export
    from robot_rl.policy.registry import PolicyRegistry

    report_step = progress("reward classifier steps")
    model, meta, report = train_reward(EpisodeStore.open(store_path), cfg,
                                       lambda step, total, loss: report_step(step, total, f"loss {loss:.4f}"))
    meta.name = name
    data, err = export(model, meta)
    metrics = {"threshold": cfg.threshold, "success_tail": cfg.success_tail, "guard": cfg.guard,
               **{f"val_{k}": v for k, v in report.get("validation", {}).items()}}
    path = PolicyRegistry(registry).publish(data, meta, metrics=metrics)
    plot = plot_validation(report, pathlib.Path(plot_dir or f"runs/{name}") / "reward.png")
    return {"path": path, "parity": err, "report": report, "plot": plot}


class ClassifierReward:
    """A registry reward classifier as the learner's reward: for an episode's steps, r_t = 1 and
    terminal_t where the frames of step t+1 are classified a success (the state a_t led to), as
    HIL-SERL's classifier wrapper rewards online. The last step has no next frames: 0, not
    terminal (the sampler drops it). Runs onnxruntime on full-resolution frames read from the store."""

    def __init__(self, path: str | pathlib.Path, store: EpisodeStore, threshold: Optional[float] = None,
                 batch: int = 64) -> None:
        from robot_rl.policy import registry
        from robot_rl.policy.ort import session

        data, self.meta = registry.load(path)
        if self.meta.kind != "reward":
            raise PolicyError(f"{path}: {self.meta.name}/{self.meta.version} is a {self.meta.kind}, not a reward classifier")
        self.sess = session(data)
        self.store, self.batch = store, batch
        self.threshold = float(threshold if threshold is not None else self.meta.metrics.get("threshold", 0.5))
        self.streams = []
        for o in self.meta.obs:
            stream = f"{o.name}_rgb"
            have = [s.name for s in store.spec.streams]
            if stream not in have or list(store.spec.stream(stream).shape) != list(o.shape):
                raise PolicyError(f"reward classifier {self.meta.name}/{self.meta.version} needs {o.name} frames "
                                  f"{o.shape}; the store has {have}")
            self.streams.append(stream)
        self.classified_steps = 0

    def probabilities(self, sample_index: dict[str, np.ndarray]) -> np.ndarray:
        """P(success) of each step's frames; NaN where a step used no frame of some camera."""
        n = len(next(iter(sample_index.values()))) if sample_index else 0
        prob = np.full(n, np.nan, np.float32)
        ok = np.ones(n, bool)
        for s in self.streams:
            ok &= sample_index[s] >= 0
        rows = np.flatnonzero(ok)
        for i in range(0, len(rows), self.batch):
            r = rows[i:i + self.batch]
            feed = {o.name: self.store.read_samples(s, sample_index[s][r]) for o, s in zip(self.meta.obs, self.streams)}
            prob[r] = self.sess.run(["success"], feed)[0][:, 0]
        self.classified_steps += len(rows)
        return prob

    def __call__(self, ep: Episode, steps: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """(reward, terminal) per step of one episode."""
        prob = self.probabilities(steps["sample_index"])
        hit = np.zeros(len(prob), bool)
        hit[:-1] = prob[1:] >= self.threshold   # NaN compares False
        return hit.astype(np.float32), hit
