"""The learner loop: follows a store, trains SAC (or a residual on a frozen base) on RLPD batches,
and exports the policy through the registry on a timer.

    learner = Learner(LearnerConfig(store="data/session.zarr", policy="pick_sac"), on_export=publish)
    learner.run()          # until stop() / max_updates / idle_exit_s

Each iteration: pick up newly committed episodes (every `refresh_s`; they count as data for the
UTD governor), take the gradient updates the UTD ratio allows (none when data is not arriving:
the ratio is enforced, and the achieved one is logged), export every `export_every_s` (parity
check, registry, then `on_export(path, sha256)`, which the ROS node turns into /policy/update),
checkpoint every `checkpoint_every_s` and with every export, and write metrics (JSONL) and plots
(PNG) to `run_dir`.

Batches are RLPD's: `demo_fraction` from steps where a person acted (demonstrations and
interventions) and the rest from episodes a policy ran (interventions included): an intervention
is learned from in both halves, with the human's action as the action.

`device` (robot_rl.learn.device) places the networks, the temperature, the optimizers and every
batch on the CPU or a CUDA GPU; batches are drawn from the store on the CPU, and on CUDA the next
one is drawn on a thread while the GPU runs the current update. Exports run on the CPU.

`task` names the task plug-in (robot_rl.tasks) whose labelers the sampler runs on every episode and
whose auxiliary heads `aux` turns on (robot_rl.learn.aux); the learner itself knows no task.

Over 400 lines on purpose: the learner loop (data, updates, export, checkpoint, metrics) in one
readable file, as CleanRL keeps an algorithm in one; the agent and its losses are in sac.py.
"""
from __future__ import annotations

import concurrent.futures
import copy
import dataclasses
import json
import pathlib
import threading
import time
from typing import Any, Callable, Optional

import numpy as np
import torch

from robot_rl.learn import device as devices
from robot_rl.learn.checkpoint import load_learner_state, save_learner_state
from robot_rl.learn.config import LearnerConfig
from robot_rl.learn.data import BatchConverter, action_spec, camera_name, image_streams, obs_specs, proprio_stats, robot_ref
from robot_rl.learn.deploy import DeployedPolicy
from robot_rl.learn.encoder import ObsEncoder
from robot_rl.learn.sac import SAC
from robot_rl.learn.utd import UTDGovernor
from robot_rl import tasks
from robot_rl.log import ensure as ensure_logging, get_logger
from robot_rl.policy.checkpoint import load_checkpoint
from robot_rl.policy.export import export
from robot_rl.policy.models import pool_frames
from robot_rl.policy.registry import PolicyRegistry
from robot_rl.policy.spec import PolicyError, PolicyMetadata, ResidualSpec
from robot_rl.store.reader import EpisodeStore
from robot_rl.store.sampler import TransitionSampler
from robot_rl.store.schema import StoreError

log = get_logger(__name__)


class Learner:
    def __init__(self, cfg: LearnerConfig, on_export: Optional[Callable[[pathlib.Path, str], None]] = None,
                 resume: bool = False) -> None:
        cfg.validate()
        ensure_logging()   # progress and events show in library use as on the CLI
        if not cfg.store or not cfg.policy:
            raise ValueError("the learner needs a store and a policy name")
        # checked here, not in validate: a session's learner section takes the session's task
        if cfg.aux and not cfg.task:
            raise ValueError(f"aux {', '.join(cfg.aux)} needs the task whose heads they are (task: NAME)")
        self.cfg, self.on_export = cfg, on_export
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = devices.resolve(cfg.device)
        log.info("learner device: %s", devices.describe(self.device))
        self.store = EpisodeStore.open(cfg.store)   # before anything is written: a bad store changes nothing
        self.run_dir = cfg.run_path
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.streams = image_streams(self.store, cfg.cameras)
        self.obs = obs_specs(self.store, self.streams)
        self.base, self.base_cfg = None, None
        if cfg.mode == "residual":
            self.base, self.base_cfg = load_checkpoint(cfg.base)
            self.base.requires_grad_(False).to(self.device)
            want = {o.name: list(o.shape) for o in self.base_cfg.obs}
            have = {o.name: list(o.shape) for o in self.obs}
            if any(have.get(k) != v for k, v in want.items()):
                raise PolicyError(f"base policy {cfg.base} takes {want}; the store provides {have}")
            if self.base_cfg.kind == "cnn" and self.base_cfg.downsample != cfg.encoder.downsample:
                raise PolicyError(f"base policy pools images by {self.base_cfg.downsample}, the learner by "
                                  f"{cfg.encoder.downsample}: set encoder.downsample={self.base_cfg.downsample}")
        self.action = self.base_cfg.action if self.base_cfg else action_spec(self.store)
        k = cfg.encoder.downsample
        pool = (lambda f: pool_frames(torch.from_numpy(f), k).numpy()) if k > 1 and self.streams else None
        reward: Any = cfg.reward
        if cfg.reward == "classifier":
            from robot_rl.learn.reward import ClassifierReward
            reward = ClassifierReward(PolicyRegistry(cfg.registry).resolve(cfg.reward_model), self.store,
                                      cfg.reward_threshold or None)
            log.info("rewards from classifier %s/%s (threshold %.2f)", reward.meta.name, reward.meta.version,
                     reward.threshold)
        self.reward_fn = reward
        self.task = tasks.get(cfg.task)() if cfg.task else None
        labelers = self.task.labelers() if self.task is not None else {}
        for name in cfg.aux:   # a head's label must come from its task: fail here, not at the first update
            self.task.aux_head(name, [0], self.store.spec.steps.obs_dim, 8, cfg.aux[name].options)
        self.sampler = TransitionSampler(self.store, cameras=self.streams, seed=cfg.seed, nstep=cfg.nstep,
                                         gamma=cfg.gamma, reward=reward, memory_budget_mb=cfg.memory_budget_mb,
                                         intervention_penalty=cfg.intervention_penalty,
                                         frame_transform=pool, labelers=labelers)
        self.convert = BatchConverter(self.streams, self.action)
        self._mid = torch.from_numpy(self.convert.mid).to(self.device)
        self._half = torch.from_numpy(self.convert.half).to(self.device)
        self._base_cache = np.empty((0, len(self.convert.mid)), np.float32)   # _base_actions(): per sampler row
        # on CUDA the next batch is assembled on a thread while the GPU runs the current update
        self._prefetch: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._pending: Optional[concurrent.futures.Future] = None
        self.governor = UTDGovernor(cfg.utd, cfg.warmup_transitions)
        self.governor.add_data(len(self.sampler))
        self.agent: Optional[SAC] = None
        self.registry = PolicyRegistry(cfg.registry)
        self.exported: list[dict[str, Any]] = []
        self.episode_stats: list[dict[str, Any]] = []
        self._seen_episodes = 0
        self._collect_episode_stats()
        self._stop = threading.Event()
        self._acc: dict[str, list[float]] = {}
        self._last_q_mean = float("nan")
        self._t0 = time.monotonic()
        self._last = {"refresh": time.monotonic(), "export": time.monotonic(), "checkpoint": time.monotonic(),
                      "plot": time.monotonic(), "metrics": time.monotonic(), "progress": 0.0, "data": time.monotonic()}
        self._updates_at = (time.monotonic(), 0)
        self.resumed_from: Optional[int] = None
        if resume:
            self._resume()

    # --- data -----------------------------------------------------------------------------------
    def refresh(self) -> int:
        """Load newly committed episodes; returns the transitions added."""
        self._settle()   # never while a prefetched batch is being drawn
        added = self.sampler.refresh()
        if added:
            self.governor.add_data(added)
            self._last["data"] = time.monotonic()
            self._collect_episode_stats()
        return added

    def _collect_episode_stats(self) -> None:
        for ep in self.store.episodes()[self._seen_episodes:]:
            steps = self.store.read_steps(ep, ["intervention", "action"])
            policy_ran = bool(np.isfinite(steps["action"]).all(axis=1).any())
            self.episode_stats.append({"episode": ep.index, "success": bool(ep.success), "steps": ep.num_steps,
                                       "policy": policy_ran, "status": ep.status,
                                       "intervention_rate": float(np.mean(steps["intervention"])) if ep.num_steps else 0.0})
        self._seen_episodes = len(self.store)

    def recent(self, n: int = 20) -> dict[str, float]:
        """Success and intervention rate over the last n episodes a policy ran."""
        eps = [e for e in self.episode_stats if e["policy"]][-n:]
        if not eps:
            return {"success_rate": float("nan"), "intervention_rate": float("nan"), "policy_episodes": 0}
        return {"success_rate": float(np.mean([e["success"] for e in eps])),
                "intervention_rate": float(np.mean([e["intervention_rate"] for e in eps])), "policy_episodes": len(eps)}

    # --- the agent --------------------------------------------------------------------------------
    def _build_agent(self) -> SAC:
        cfg = self.cfg
        torch.manual_seed(cfg.seed)   # the encoder's initialization too, not just the SAC networks'
        proprio_dim = self.store.spec.steps.obs_dim
        hw = self.store.spec.stream(self.streams[0]).shape[:2] if self.streams else (128, 128)
        encoder = ObsEncoder(proprio_dim, [camera_name(s) for s in self.streams], hw, cfg.encoder)
        if len(self.sampler):
            encoder.set_normalization(*proprio_stats(self.sampler.column("obs")))
        sac_cfg = dataclasses.replace(cfg.sac, residual_scale=cfg.residual_scale if cfg.mode == "residual" else 0.0)
        task = self.task

        def make_head(name, columns):
            return task.aux_head(name, columns, proprio_dim, cfg.sac.hidden[0], cfg.aux[name].options)
        return SAC(encoder, self.action.dim, sac_cfg, seed=cfg.seed, aux=cfg.aux, make_head=make_head,
                   device=self.device)

    def _base_action(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The base policy's action, normalized as BatchConverter normalizes actions."""
        assert self.base is not None and self.base_cfg is not None
        with torch.no_grad():
            a = self.base(*[obs[o.name] for o in self.base_cfg.obs])
        return torch.clamp((a.float() - self._mid) / self._half, -1.0, 1.0)

    def _base_actions(self, rows: np.ndarray, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """The base's actions on the batch's observations and on their bootstrap observations. The
        base is frozen and a row's observation never changes, so each row's action is computed
        once, on its first draw, and kept (a float per action value per row) instead of running the
        base's image passes on every batch twice."""
        nxt = self.sampler.next_rows(rows)
        both = np.concatenate([rows, nxt])
        if len(self._base_cache) <= both.max():
            grown = np.full((max(int(both.max()) + 1, 2 * len(self._base_cache)), len(self._mid)), np.nan, np.float32)
            grown[:len(self._base_cache)] = self._base_cache
            self._base_cache = grown
        todo = np.isnan(self._base_cache[both, 0])
        if todo.any():
            _, first = np.unique(both[todo], return_index=True)   # a row drawn twice is computed once
            at = np.sort(np.flatnonzero(todo)[first])             # its first place in both
            now, then = torch.from_numpy(at[at < len(rows)]), torch.from_numpy(at[at >= len(rows)] - len(rows))
            obs = {k: torch.cat([batch["obs"][k][now], batch["next_obs"][k][then]]) for k in batch["obs"]}
            self._base_cache[both[at]] = self._base_action(obs).cpu().numpy()
        cached = torch.from_numpy(self._base_cache[both]).to(self.device)
        return cached[:len(rows)], cached[len(rows):]

    def _batch(self, rows: np.ndarray) -> dict[str, Any]:
        """The sampler's rows as torch tensors on the learner's device."""
        return devices.to_device(self.convert(self.sampler.batch(rows)), self.device)

    def sample_batch(self) -> dict[str, Any]:
        """RLPD: demo_fraction of the batch from human steps, the rest from policy episodes (all
        from whichever set has data while the other is empty)."""
        b, s = self.cfg.batch, self.sampler
        n_demo = int(round(b * self.cfg.demo_fraction))
        human, online = s.count("human"), s.count("online")
        if human and online and 0 < n_demo < b:
            rows = np.concatenate([s.draw(n_demo, "human"), s.draw(b - n_demo, "online")])
        elif online and (n_demo < b or not human):
            rows = s.draw(b, "online")
        else:
            rows = s.draw(b, "human" if human else "all")
        batch = self._batch(rows)
        if self.base is not None:
            batch["base_action"], batch["next_base_action"] = self._base_actions(rows, batch)
        return batch

    def sample_aux_batches(self) -> dict[str, dict[str, Any]]:
        """For each aux head with a batch of its own (aux.NAME.batch > 0): that many steps drawn from
        every step whose label is known (demonstrations' and the policy's alike); none before any."""
        s, out = self.sampler, {}
        for name, aux in self.cfg.aux.items():
            label = self.agent.heads[name].label if self.agent else name
            if aux.batch and s.count(label):
                out[name] = self._batch(s.draw(aux.batch, label))
        return out

    def pretrain_actor(self) -> None:
        """Demo-initialised actor: `actor_pretrain_updates` BC steps of actor + encoder on batches of
        human steps (demonstrations, corrections), once, before the first RL update. Blocking; a
        resumed learner that already did them skips them. With no human steps yet there is nothing
        to imitate: it says so and RL starts from scratch."""
        if self.agent is None:
            self.agent = self._build_agent()
        todo = self.cfg.actor_pretrain_updates - self.agent.pretrain_updates
        if todo <= 0:
            return
        s = self.sampler
        if not s.count("human"):
            log.warning("actor_pretrain_updates=%d: the store has no human steps to imitate; RL starts from "
                        "scratch", self.cfg.actor_pretrain_updates)
            self.agent.pretrain_updates = self.cfg.actor_pretrain_updates
            return
        log.info("pretraining the actor: %d BC steps on %d human steps", todo, s.count("human"))
        started, losses = time.monotonic(), []
        for i in range(todo):
            if self._stop.is_set():   # a stop request is honoured mid-pretraining; the rest is done on the next update
                break
            losses.append(self.agent.pretrain_actor(self._batch(s.draw(self.cfg.batch, "human"))))
            if (i + 1) % 100 == 0 or i + 1 == todo:
                aux = ", ".join(f"{k} {v:.3g}" for k, v in self.agent.pretrain_metrics.items() if np.isfinite(v))
                log.info("actor pretraining %d/%d: BC loss %.4f (last 100)%s, %.0f s", i + 1, todo,
                         float(np.mean(losses[-100:])), f", {aux}" if aux else "", time.monotonic() - started)
        if losses:
            self._acc.setdefault("pretrain_loss", []).append(float(np.mean(losses[-100:])))

    def update(self) -> dict[str, float]:
        self.pretrain_actor()   # builds the agent on the first call; a no-op once pretraining is done
        actor = self.agent.updates >= self.cfg.critic_warmup_updates
        batch, aux_batches = self._next_batches()
        metrics = self.agent.update(batch, update_actor=actor, aux_batches=aux_batches)
        self.governor.did_update()
        for k, v in metrics.items():
            self._acc.setdefault(k, []).append(v)
        return metrics

    def _batches(self) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        return self.sample_batch(), self.sample_aux_batches()

    def _next_batches(self) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """This update's batches; on CUDA the next update's are drawn meanwhile on a thread."""
        if self.device.type != "cuda":
            return self._batches()
        if self._prefetch is None:
            self._prefetch = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="learner-batches")
        current = self._pending or self._prefetch.submit(self._batches)
        self._pending = self._prefetch.submit(self._batches)
        return current.result()

    def _settle(self) -> None:
        """Wait for a batch being drawn on the prefetch thread (it is kept for the next update)."""
        if self._pending is not None:
            self._pending.exception()

    @property
    def updates(self) -> int:
        return self.agent.updates if self.agent else 0

    def behavior_policy(self, deterministic: bool = False) -> Callable[[dict], np.ndarray]:
        """The current policy as a callable on one raw observation (cameras at full resolution,
        proprio), in the robot's units: sampled (exploring) or deterministic (what an export runs).
        For in-process rollouts (bench/learning.py); a robot runs the exported ONNX instead."""
        agent = self.agent or self._build_agent()
        self.agent = agent
        names = [o.name for o in self.obs]
        mid, half = torch.from_numpy(self.convert.mid), torch.from_numpy(self.convert.half)

        def act(obs: dict) -> np.ndarray:
            t = devices.to_device({n: torch.from_numpy(np.ascontiguousarray(obs[n]))[None] for n in names}, self.device)
            base = None
            if self.base is not None:
                base = self._base_action(t)
                act.last_base = (mid + half * base.cpu())[0].numpy().astype(np.float64)
            a = agent.act(t, base, deterministic=deterministic).cpu()
            return (mid + half * a)[0].numpy().astype(np.float64)
        act.last_base = None
        return act

    def intervention_q_gap(self, n: int = 256) -> Optional[float]:
        """Mean Q(s, human action) - Q(s, the policy's deterministic action) over intervention
        steps of policy episodes: > 0 when the critic prefers the corrections, the signal the
        actor climbs. None before there are such steps."""
        both = np.intersect1d(self.sampler.rows("human"), self.sampler.rows("online"))
        if self.agent is None or len(both) == 0:
            return None
        rows = both[self.sampler.rng.integers(0, len(both), size=min(n, len(both)))] if len(both) > n else both
        b = self._batch(rows)
        with torch.no_grad():
            f = self.agent.encoder(b["obs"])
            base = self._base_action(b["obs"]) if self.base is not None else None
            a_pi, _ = self.agent.policy(f, base, deterministic=True)
            return float((self.agent.q_value(f, b["action"]).mean(0) - self.agent.q_value(f, a_pi).mean(0)).mean())

    # --- export -----------------------------------------------------------------------------------
    def deployed(self) -> DeployedPolicy:
        assert self.agent is not None
        base_names = [o.name for o in self.base_cfg.obs] if self.base_cfg else []
        return DeployedPolicy(self.agent.encoder, self.agent.actor, self.action, [o.name for o in self.obs],
                              base=self.base, base_obs_names=base_names,
                              residual_scale=self.cfg.residual_scale if self.base is not None else 0.0).eval()

    def _recorded_inputs(self, n: int = 16) -> dict[str, np.ndarray]:
        """Full-resolution observations from the store, for the export's parity check."""
        rows = self.sampler.rows("all")
        rows = rows[np.linspace(0, len(rows) - 1, min(n, len(rows))).astype(int)]
        out = {"proprio": self.sampler.column("obs")[rows].astype(np.float32)}
        for s in self.streams:
            out[camera_name(s)] = self.store.read_samples(s, self.sampler.sample_index(s, rows))
        return out

    def export_now(self) -> Optional[pathlib.Path]:
        """Export the current policy (parity-checked) to the registry; None before any update."""
        if self.agent is None or self.agent.updates == 0:
            return None
        cfg = self.cfg
        started = time.monotonic()
        model = self.deployed()
        if self.device.type != "cpu":   # exported and checked for parity on the CPU, as a robot runs it
            model = copy.deepcopy(model).cpu()
        base_ref = str(cfg.base) if self.base is not None else ""
        meta = PolicyMetadata(name=cfg.policy, obs=self.obs, action=self.action,
                              control_hz=self.store.spec.robot.control_rate_hz if self.store.spec.robot else 10.0,
                              normalization={"proprio": {"mean": self.agent.encoder.mean.tolist(),
                                                         "std": self.agent.encoder.std.tolist()}},
                              residual=ResidualSpec(base_ref, cfg.residual_scale) if self.base is not None else None,
                              robot=robot_ref(self.store))
        data, err = export(model, meta, recorded=self._recorded_inputs())
        parent = f"{cfg.policy}/{self.exported[-1]['version']}" if self.exported else ""
        rec = self.recent()
        path = self.registry.publish(data, meta, parent=parent, metrics={
            "updates": self.agent.updates, "transitions": len(self.sampler), "episodes": len(self.sampler.episodes),
            "parity": err, **{k: (None if np.isnan(v) else round(v, 4)) for k, v in rec.items() if k != "policy_episodes"}})
        self.exported.append({"version": meta.version, "updates": self.agent.updates, "t_s": time.monotonic() - self._t0,
                              "export_s": round(time.monotonic() - started, 3), "episodes": len(self.sampler.episodes),
                              "path": str(path), "sha256": meta.sha256})
        log.info("exported %s after %d updates (parity %.1g)", path, self.agent.updates, err)
        if self.on_export is not None:
            self.on_export(path, meta.sha256)
        return path

    # --- checkpoints ------------------------------------------------------------------------------
    @staticmethod
    def checkpoint_file(cfg: LearnerConfig) -> pathlib.Path:
        """Where a learner of this config keeps its checkpoint (resume reads it)."""
        return cfg.run_path / "checkpoint.safetensors"

    @property
    def checkpoint_path(self) -> pathlib.Path:
        return self.checkpoint_file(self.cfg)

    def checkpoint(self) -> Optional[pathlib.Path]:
        if self.agent is None:
            return None
        self._settle()   # the sampler's RNG state as of the batches drawn
        extra = {"updates": self.agent.updates, "pretrain_updates": self.agent.pretrain_updates,
                 "governor_updates": self.governor.updates,
                 "sampler_rng": self.sampler.rng.bit_generator.state, "exported": self.exported,
                 "sampler_transitions": len(self.sampler)}
        save_learner_state(self.checkpoint_path, self.agent, extra)
        return self.checkpoint_path

    def _resume(self) -> None:
        if not self.checkpoint_path.exists():
            raise StoreError(f"--resume: no checkpoint at {self.checkpoint_path}")
        self.agent = self._build_agent()
        try:
            extra = load_learner_state(self.checkpoint_path, self.agent)
        except Exception as exc:  # noqa: BLE001 - truncated file, other config, not ours: one clear line
            raise StoreError(f"--resume: {self.checkpoint_path} cannot be loaded into this learner config "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]})") from None
        self.governor.updates = int(extra["governor_updates"])
        self.agent.pretrain_updates = int(extra.get("pretrain_updates", 0))
        self.sampler.rng.bit_generator.state = extra["sampler_rng"]
        self.exported = list(extra.get("exported", []))
        self.resumed_from = self.agent.updates
        log.info("resumed from %s at update %d (%d transitions then, %d now)", self.checkpoint_path,
                 self.agent.updates, extra.get("sampler_transitions", -1), len(self.sampler))

    # --- the loop ---------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def _due(self, what: str, every_s: float, now: float) -> bool:
        if now - self._last[what] >= every_s:
            self._last[what] = now
            return True
        return False

    def step(self, max_updates_per_step: int = 8) -> int:
        """One loop iteration; returns the updates taken."""
        cfg, now = self.cfg, time.monotonic()
        if self._due("refresh", cfg.refresh_s, now):
            self.refresh()
        n = min(self.governor.owed(), max_updates_per_step)
        if cfg.max_updates:
            n = min(n, cfg.max_updates - self.updates)
        for _ in range(n):
            self.update()
        now = time.monotonic()
        exported = self._due("export", cfg.export_every_s, now) and self.export_now() is not None
        # a checkpoint with every export too: a learner restarted after a failure continues from the
        # weights its last export runs on the robot, not from older ones
        if self._due("checkpoint", cfg.checkpoint_every_s, now) or exported:
            self._last["checkpoint"] = now
            self.checkpoint()
        if self._due("metrics", 1.0, now):
            self.write_metrics()
        if self._due("plot", cfg.plot_every_s, now):
            self.plot()
        if now - self._last["progress"] >= 2.0:
            self._last["progress"] = now
            log.info(self.progress_line())
        return n

    def finished(self) -> bool:
        cfg = self.cfg
        if self._stop.is_set() or (cfg.max_updates and self.updates >= cfg.max_updates):
            return True
        idle = time.monotonic() - self._last["data"]
        return bool(cfg.idle_exit_s and idle >= cfg.idle_exit_s and self.governor.owed() == 0)

    def run(self) -> dict[str, Any]:
        log.info("learning %s (%s) from %s: %d transitions (%d human, %d online) from %d episodes, cameras %s",
                 self.cfg.policy, self.cfg.mode, self.cfg.store, len(self.sampler), self.sampler.count("human"),
                 self.sampler.count("online"), len(self.sampler.episodes),
                 ", ".join(camera_name(s) for s in self.streams) or "none")
        try:
            while not self.finished():
                if self.step() == 0:
                    self._stop.wait(0.02)
        finally:
            self.close()
        return self.summary()

    def close(self) -> None:
        """Final export (if anything was learned since the last), checkpoint, metrics and plots."""
        if self.agent is not None and (not self.exported or self.exported[-1]["updates"] != self.agent.updates):
            self.export_now()
        self.checkpoint()
        self.write_metrics()
        self.plot()
        if self._prefetch is not None:
            self._prefetch.shutdown(wait=True)
            self._prefetch, self._pending = None, None

    def summary(self) -> dict[str, Any]:
        return {"updates": self.updates, "transitions": len(self.sampler), "utd_measured": self.governor.measured,
                "exported": [e["version"] for e in self.exported], "run_dir": str(self.run_dir), **self.recent()}

    # --- metrics and plots ---------------------------------------------------------------------------
    def progress_line(self) -> str:
        now = time.monotonic()
        t_prev, u_prev = self._updates_at
        rate = (self.updates - u_prev) / max(now - t_prev, 1e-9)
        self._updates_at = (now, self.updates)
        rec = self.recent()
        # the metrics row written every second empties the accumulator: fall back to its mean
        q = np.mean(self._acc["q_mean"][-50:]) if self._acc.get("q_mean") else self._last_q_mean
        version = self.exported[-1]["version"] if self.exported else "-"
        episodes = (f"last {rec['policy_episodes']} policy episodes: success {rec['success_rate']:.0%}, interventions "
                    f"{rec['intervention_rate']:.0%}" if rec["policy_episodes"] else "no policy episodes yet")
        return (f"updates {self.updates} ({rate:.1f}/s) | transitions {len(self.sampler)} (human "
                f"{self.sampler.count('human')}, online {self.sampler.count('online')}) | utd "
                f"{self.governor.measured:.2f}/{self.cfg.utd:g} | {episodes} | Q {q:.3f} | exported {version}")

    def write_metrics(self) -> None:
        """One row of metrics.jsonl: the means of what accumulated since the last row, and the recent
        episodes (the learner loop calls it every second; an in-process driver such as bench/learning.py
        calls it itself)."""
        row: dict[str, Any] = {"t_s": round(time.monotonic() - self._t0, 2), "updates": self.updates,
                               "transitions": len(self.sampler), "episodes": len(self.store),
                               "utd_measured": round(self.governor.measured, 4)}
        row.update({k: float(np.mean(v)) for k, v in self._acc.items() if v})
        self._last_q_mean = row.get("q_mean", self._last_q_mean)
        row.update(self.recent())
        row["policy_version"] = self.exported[-1]["version"] if self.exported else ""
        self._acc = {}
        row = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        with open(self.run_dir / "episodes.jsonl", "w") as f:   # small: rewritten whole
            for e in self.episode_stats:
                f.write(json.dumps(e) + "\n")

    def plot(self) -> Optional[pathlib.Path]:
        from robot_rl.learn.plots import plot_run
        try:
            return plot_run(self.run_dir)
        except Exception as exc:  # noqa: BLE001 - a plot never stops training
            log.warning("plot failed: %s", exc)
            return None
