"""Random transition batches for the off-policy learner, straight from a store.

    sampler = TransitionSampler(EpisodeStore.open(path), cameras=["wrist_rgb", "scene_rgb"])
    batch = sampler.sample(256)   # obs, action, reward, next_obs, done, intervention, images...

A transition is step i -> step i+1 of the same episode (and the last step of an episode whose
last step is terminal, with done=1). With `nstep=n` the bootstrap observation (`next_obs`) is n
steps on (fewer where the episode ends) and `ret`/`discount` carry the n-step reward sum and
gamma^k (0 after a terminal): see robot_rl.store.returns. `reward="success"` takes rewards from
the episode's success label (1 on the last step of a successful episode, which is terminal; 0
elsewhere) instead of the stored reward column; a function `reward(episode, steps)` computes them
(a learned success classifier: robot_rl.learn.reward.ClassifierReward). `action` is the executed
action (the human's while
they intervene); the policy's, base policy's and human's actions come along for residual and
human-in-the-loop losses.

Row sets for RLPD-style batches: `rows="human"` samples steps where a person acted (whole teleop
demonstrations and the intervention steps of policy episodes; not steps the control node held, which
executed its hold instead: the batch's `intervention` is False there too), `rows="online"` steps of episodes
where a policy ran (interventions included): an intervention step is in both.

`labelers` (a task's, robot_rl.tasks.base.Labeler: episode -> [L, width] per-step columns, NaN
where unknown) add batch["labels"][name]; the row set of that name holds the steps whose label is
known (each once, demonstrations' and policy episodes' alike).

Images stay uint8 exactly as recorded (no float32 copies; `frame_transform` may pool them as they
load), and each frame is held once: obs and next_obs index the same frame buffer.

Frames are decoded into RAM when they fit `memory_budget_mb` (`cache="all"`), or read from the
store for every batch (`cache="none"`); `auto` picks. `refresh()` adds episodes committed since,
so a learner can train while the recorder keeps writing.
"""
from __future__ import annotations

from typing import Any, Callable, Literal, Optional

import numpy as np

from robot_rl.store.returns import nstep_returns
from robot_rl.log import get_logger
from robot_rl.store.reader import Episode, EpisodeStore
from robot_rl.store.schema import StoreError

log = get_logger(__name__)
# reward(episode, its step columns) -> (reward [n], terminal [n]): a relabelling of the rewards
RewardFn = Callable[[Episode, dict], tuple]
STEP_FIELDS = {"obs": "obs", "action": "executed_action", "policy_action": "action",
               "base_action": "base_action", "human_action": "human_action", "reward": "reward",
               "terminal": "terminal", "intervention": "intervention", "policy_version": "policy_version"}


ROW_SETS = ("all", "human", "online")


class _Growable:
    """Rows appended in place; grows by 25% so capacity never exceeds 1.25x what it holds."""

    def __init__(self, row_shape: tuple[int, ...], dtype: Any) -> None:
        self.buf = np.empty((0, *row_shape), dtype=dtype)
        self.n = 0

    def reserve(self, total: int) -> None:
        if total > len(self.buf):
            cap = max(total, int(len(self.buf) * 1.25))
            new = np.empty((cap, *self.buf.shape[1:]), dtype=self.buf.dtype)
            new[:self.n] = self.buf[:self.n]
            self.buf = new

    def extend(self, rows: np.ndarray) -> None:
        self.reserve(self.n + len(rows))
        self.buf[self.n:self.n + len(rows)] = rows
        self.n += len(rows)

    @property
    def view(self) -> np.ndarray:
        return self.buf[:self.n]

    @property
    def nbytes(self) -> int:
        return self.buf.nbytes

    @property
    def row_nbytes(self) -> int:
        return self.buf.itemsize * int(np.prod(self.buf.shape[1:]))


class TransitionSampler:
    def __init__(self, store: EpisodeStore, cameras: Optional[list[str]] = None,
                 statuses: tuple[str, ...] = ("complete", "aborted"), tasks: Optional[list[str]] = None,
                 memory_budget_mb: float = 4096.0, cache: Literal["auto", "all", "none"] = "auto",
                 seed: Optional[int] = None, nstep: int = 1, gamma: float = 0.99,
                 reward: "Literal['stored', 'success'] | RewardFn" = "stored", intervention_penalty: float = 0.0,
                 frame_transform: Optional[Callable[[np.ndarray], np.ndarray]] = None,
                 labelers: Optional[dict[str, Any]] = None) -> None:
        """intervention_penalty: subtracted from the reward of the policy's step right before a
        person takes over (RLIF: the takeover itself says that action was bad; with a human who
        always rescues, success alone barely depends on the policy's actions).
        frame_transform: applied to frames as they are loaded ([N, H, W, C] -> [N, h, w, c],
        e.g. a learner's downsampling), so batches and the RAM cache hold what the learner uses.
        labelers: name -> labeler (`.width`, called as (steps, success) -> [L, width])."""
        if intervention_penalty < 0:
            raise ValueError("intervention_penalty must be >= 0")
        self.intervention_penalty = float(intervention_penalty)
        self.store = store
        if reward not in ("stored", "success") and not callable(reward):
            raise ValueError(f"reward must be 'stored', 'success' or a function, got {reward!r}")
        nstep_returns(np.zeros(1), np.zeros(1, bool), nstep, gamma)   # validates n and gamma
        self.nstep, self.gamma, self.reward = int(nstep), float(gamma), reward
        spec = store.spec
        self.cameras = list(cameras) if cameras is not None else [s.name for s in spec.streams if s.is_image]
        for c in self.cameras:
            if not spec.stream(c).is_image:
                raise ValueError(f"stream {c!r} is not an image stream")
        if cache not in ("auto", "all", "none"):
            raise ValueError(f"cache must be auto, all or none, got {cache!r}")
        self.statuses, self.tasks = tuple(statuses), tasks
        self.memory_budget = int(memory_budget_mb * 1e6)
        self.rng = np.random.default_rng(seed)
        adim, odim = spec.steps.action_dim, spec.steps.obs_dim
        self._cols = {k: _Growable((odim,) if k == "obs" else (adim,), np.float32)
                      for k in ("obs", "action", "policy_action", "base_action", "human_action")}
        self._cols.update({"reward": _Growable((), np.float32), "terminal": _Growable((), np.bool_),
                           "intervention": _Growable((), np.bool_), "policy_version": _Growable((), np.int64)})
        self._next = _Growable((), np.int64)        # row of the bootstrap observation (itself when terminal)
        self._end = _Growable((), np.int64)         # one past the last row of the row's episode
        self._ret = _Growable((), np.float32)       # n-step discounted reward sum
        self._discount = _Growable((), np.float32)  # gamma^k, 0 when a terminal came first
        self._valid = _Growable((), np.int64)       # rows that start a transition
        self._human = _Growable((), np.int64)       # ... where a person acted
        self._online = _Growable((), np.int64)      # ... of episodes where a policy ran
        self.labelers = dict(labelers or {})
        clash = set(self.labelers) & set(ROW_SETS)
        if clash:
            raise ValueError(f"a label cannot be named {', '.join(sorted(clash))} (a row set of its own)")
        self._labels = {k: _Growable((lab.width,), np.float32) for k, lab in self.labelers.items()}   # step row -> label
        self._label_rows = {k: _Growable((), np.int64) for k in self.labelers}   # rows whose label is known
        self._frame_row = {c: _Growable((), np.int64) for c in self.cameras}   # step row -> frame row
        self._sample_idx = {c: _Growable((), np.int64) for c in self.cameras}  # step row -> store index
        self.frame_transform = frame_transform or (lambda frames: frames)
        self._frames = {}
        for c in self.cameras:
            probe = self.frame_transform(np.zeros((1, *spec.stream(c).shape), dtype=spec.stream(c).dtype))
            self._frames[c] = _Growable(tuple(probe.shape[1:]), probe.dtype)
        self.episodes: list[int] = []
        self._seen = 0
        self.mode = cache
        self.refresh()

    # --- loading --------------------------------------------------------------------------------
    def _wanted(self, ep: Episode) -> bool:
        return ep.status in self.statuses and ep.num_steps > 0 and (self.tasks is None or ep.task in self.tasks)

    def refresh(self) -> int:
        """Load episodes committed since the last call; returns how many transitions were added."""
        self.store.refresh()
        new = [e for e in self.store.episodes()[self._seen:] if self._wanted(e)]
        self._seen = len(self.store)
        # each new episode's step columns, read once and used for sizing and loading
        steps = [self.store.read_steps(e, list(set(STEP_FIELDS.values()) | {"sample_index", "hold"})) for e in new]
        frames_new = {c: sum(len(np.unique(st["sample_index"][c][st["sample_index"][c] >= 0])) for st in steps)
                      for c in self.cameras}
        if self.mode == "auto" or (self.mode == "all" and new):
            need = sum(frames_new[c] * self._frames[c].row_nbytes for c in self.cameras) + \
                sum(g.view.nbytes for g in self._frames.values())
            if self.mode == "auto":
                self.mode = "all" if need <= self.memory_budget else "none"
                log.info("sampler: %d frames need %.0f MB of %.0f MB budget: %s", sum(frames_new.values()),
                         need / 1e6, self.memory_budget / 1e6, "caching frames in RAM" if self.mode == "all"
                         else "reading frames from the store per batch")
            elif need > self.memory_budget:
                raise StoreError(f"frames need {need / 1e6:.0f} MB, over the sampler's memory budget of "
                                 f"{self.memory_budget / 1e6:.0f} MB (raise memory_budget_mb or use cache='none')")
        before = self._valid.n
        total_steps = self._next.n + sum(e.num_steps for e in new)
        for g in (*self._cols.values(), self._next, self._end, self._ret, self._discount,
                  *self._labels.values(), *self._frame_row.values(), *self._sample_idx.values()):
            g.reserve(total_steps)
        if self.mode == "all":  # exact sizes up front: no growth copies of the big frame buffers
            for cam in self.cameras:
                self._frames[cam].reserve(self._frames[cam].n + frames_new[cam])
        for ep, st in zip(new, steps):
            self._load(ep, st)
        return self._valid.n - before

    def _load(self, ep: Episode, steps: dict[str, Any]) -> None:
        base = self._next.n
        n = ep.num_steps
        steps = dict(steps)
        if callable(self.reward):   # a learned reward, e.g. robot_rl.learn.reward.ClassifierReward
            rewards, terminals = self.reward(ep, steps)
            steps["reward"], steps["terminal"] = np.asarray(rewards, np.float32), np.asarray(terminals, bool)
        elif self.reward == "success":
            steps["reward"] = np.zeros(n, np.float32)
            steps["terminal"] = np.zeros(n, bool)
            if ep.success:
                steps["reward"][-1], steps["terminal"][-1] = 1.0, True
        if self.intervention_penalty:
            took_over = np.flatnonzero(np.diff(np.asarray(steps["intervention"], np.int8)) == 1)  # t: policy, t+1: human
            steps["reward"] = np.array(steps["reward"], np.float32)
            steps["reward"][took_over] -= self.intervention_penalty
        # a step the control node held (stale input, e-stop) executed its hold, not the person's
        # action: not theirs to imitate, though the transition itself is real
        person = np.asarray(steps["intervention"], bool)
        steps["intervention"] = person & ~np.asarray(steps["hold"], bool)
        for out, col in STEP_FIELDS.items():
            self._cols[out].extend(steps[col])
        rows = base + np.arange(n)
        # every step with a successor; the last one only when it is a true terminal
        nst = nstep_returns(steps["reward"], steps["terminal"], self.nstep, self.gamma)
        nxt = base + nst["next"]
        self._next.extend(nxt)
        self._end.extend(np.full(n, base + n, dtype=np.int64))
        self._ret.extend(nst["ret"].astype(np.float32))
        self._discount.extend(nst["discount"].astype(np.float32))
        valid = rows[nst["valid"]]
        valid = valid[np.isfinite(np.asarray(steps["executed_action"], np.float64)[valid - base]).all(axis=1)]
        for cam in self.cameras:
            idx = steps["sample_index"][cam]
            self._sample_idx[cam].extend(idx)
            if self.mode == "all":
                uniq = np.unique(idx[idx >= 0])
                row = np.full(n, -1, dtype=np.int64)
                if len(uniq):
                    # one contiguous read of the episode's range, then keep only referenced frames
                    block = self.store.read_samples(cam, np.arange(uniq[0], uniq[-1] + 1))[uniq - uniq[0]]
                    block = self.frame_transform(block)
                    row[idx >= 0] = self._frames[cam].n + np.searchsorted(uniq, idx[idx >= 0])
                    self._frames[cam].extend(block)
                self._frame_row[cam].extend(row)
            else:
                self._frame_row[cam].extend(np.full(n, -1, dtype=np.int64))
            # a transition needs a frame at both ends
            valid = valid[(idx[valid - base] >= 0) & (idx[nxt[valid - base] - base] >= 0)]
        self._valid.extend(valid)
        human = np.asarray(steps["intervention"], bool)
        self._human.extend(valid[human[valid - base]])
        policy_ran = bool(np.isfinite(np.asarray(steps["action"], np.float64)).all(axis=1).any())
        if policy_ran:
            self._online.extend(valid)
        for name, labeler in self.labelers.items():
            label = labeler(steps, bool(ep.success))
            self._labels[name].extend(label)
            self._label_rows[name].extend(valid[np.isfinite(label[valid - base]).all(axis=1)])
        self.episodes.append(ep.index)

    # --- sampling -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._valid.n

    def count(self, rows: str = "all") -> int:
        """Transitions in a row set: all, human, online or a label's name."""
        return self._row_set(rows).n

    def rows(self, which: str = "all") -> np.ndarray:
        """The rows of a row set (all, human, online, a label's): each starts a transition."""
        return self._row_set(which).view

    def column(self, name: str) -> np.ndarray:
        """A step column over every loaded row (obs, action, policy_action, reward, intervention...)."""
        return self._cols[name].view

    def next_rows(self, rows: np.ndarray) -> np.ndarray:
        """The rows whose observations are these rows' bootstrap observations (batch()'s next_obs)."""
        return self._next.view[rows]

    def sample_index(self, stream: str, rows: np.ndarray) -> np.ndarray:
        """The store indices of the frames these rows used (for reading them at full resolution)."""
        return self._sample_idx[stream].view[rows]

    def _row_set(self, rows: str) -> _Growable:
        sets = {"all": self._valid, "human": self._human, "online": self._online, **self._label_rows}
        try:
            return sets[rows]
        except KeyError:
            raise ValueError(f"rows must be one of {', '.join(sets)}, got {rows!r}") from None

    @property
    def nbytes(self) -> int:
        """Memory the sampler holds (frames, step columns and indices)."""
        groups = [*self._cols.values(), self._next, self._end, self._ret, self._discount, self._valid, self._human,
                  self._online, *self._label_rows.values(), *self._labels.values(), *self._frame_row.values(),
                  *self._sample_idx.values(), *self._frames.values()]
        return sum(g.nbytes for g in groups)

    def action_chunks(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The executed actions of steps t..t+k-1 from each row t ([B, k, A]) and which of them
        count ([B, k] bool): in the same episode, finite, and a person's (intervention), so a
        chunk cloned from a correction stops where the policy took back over. Entries that do not
        count are zeros. The first entry of a human row always counts. For action-chunking BC."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        idx = np.asarray(rows)[:, None] + np.arange(k)
        inside = idx < self._end.view[rows][:, None]
        idx = np.where(inside, idx, np.asarray(rows)[:, None])
        actions = self._cols["action"].view[idx]
        ok = inside & self._cols["intervention"].view[idx] & np.isfinite(actions).all(axis=2)
        # once a step does not count, none after it does: a chunk is a run of the person's actions
        ok = np.cumprod(ok, axis=1).astype(bool)
        return np.where(ok[..., None], actions, 0.0).astype(np.float32), ok

    def sample(self, batch_size: int, rows: str = "all") -> dict[str, Any]:
        """A batch from one row set (all, human, online, a label's). `row` names the rows drawn."""
        return self.batch(self.draw(batch_size, rows))

    def draw(self, n: int, rows: str = "all") -> np.ndarray:
        """n random rows of a row set (with replacement): mix sets by drawing from each and
        passing the concatenation to batch()."""
        chosen = self._row_set(rows)
        if chosen.n == 0:
            raise StoreError(f"no transitions to sample in row set {rows!r} (no matching episodes with steps yet)")
        return chosen.view[self.rng.integers(0, chosen.n, size=n)]

    def batch(self, rows: np.ndarray) -> dict[str, Any]:
        """The transitions starting at these rows (as drawn by sample)."""
        batch_size = len(rows)
        nxt = self._next.view[rows]
        out: dict[str, Any] = {k: g.view[rows] for k, g in self._cols.items() if k != "terminal"}
        out["row"] = rows
        out["next_obs"] = self._cols["obs"].view[nxt]
        out["done"] = self._cols["terminal"].view[rows]
        out["ret"], out["discount"] = self._ret.view[rows], self._discount.view[rows]
        out["labels"] = {k: g.view[rows] for k, g in self._labels.items()}
        out["images"], out["next_images"] = {}, {}
        for cam in self.cameras:
            if self.mode == "all":
                frames = self._frames[cam].view
                out["images"][cam] = frames[self._frame_row[cam].view[rows]]
                out["next_images"][cam] = frames[self._frame_row[cam].view[nxt]]
            else:
                idx = self._sample_idx[cam].view
                both = self.frame_transform(self.store.read_samples(cam, np.concatenate([idx[rows], idx[nxt]])))
                out["images"][cam], out["next_images"][cam] = both[:batch_size], both[batch_size:]
        return out
