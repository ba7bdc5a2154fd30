"""Episode recording, ROS-free: samples and control steps in, episodes in the store out.

The recorder node (ros_nodes/recorder_node.py) feeds it every message it takes; this class owns
the episode lifecycle and the alignment of control steps to sensor samples:

- begin() starts an episode; samples and steps are recorded only if they arrived (samples) or
  were ticked (steps) after it began. It may begin in the recent past (a reset service says when
  the scene was reset): what arrived since then is kept in a short pre-roll and recorded.
- A step names, for every stream, the newest sample captured before the step's tick (capture time
  = receive time - the stream's calibrated latency, as UMI compensates latency). Samples can
  arrive after the step that should name them (a camera frame in flight while the step record
  overtakes it), so a step waits until every stream has delivered a sample captured after it, or
  `align_wait_s`, before its references are fixed.
- end() (an operator's event, the task's success, a timeout) resolves every waiting step, then
  commits through the store's writer without blocking the caller (a Future); `rerecord` commits the
  episode as `discarded`: nothing recorded is thrown away, and readers skip it by default.

Clocks: receive times and step ticks are CLOCK_MONOTONIC nanoseconds on the robot computer (the
control node and the recorder run there); sensor stamps are whatever the sensor gives.
"""
from __future__ import annotations

import bisect
import collections
import concurrent.futures
import dataclasses
import time
from typing import Any, Optional


from robot_rl.control.step_row import StepRow
from robot_rl.log import get_logger
from robot_rl.store.schema import StoreError
from robot_rl.store.writer import CommitResult, StoreWriter, WriterBackpressure

log = get_logger(__name__)

#: operator events (robot_rl.teleop.EVENTS) that end an episode -> (status, success)
END_EVENTS = {"success": ("complete", True), "failure": ("complete", False), "end_episode": ("complete", None),
              "rerecord": ("discarded", None)}


class _StreamState:
    """Per stream: where its samples of the open episode are, and what the status line shows."""

    def __init__(self, latency_ns: int, rate_hz: float) -> None:
        self.latency_ns, self.rate_hz = latency_ns, rate_hz
        self.capture: list[int] = []     # capture times of this episode's samples (monotonic, ascending)
        self.index: list[int] = []       # their indices in the store's stream
        self.last_capture = -1
        self.last_sensor = -1
        self.last_receive = -1
        self.total = 0
        self.window = collections.deque()  # receive times of the last second (fps)
        self.drops = 0                   # samples missing by the sensor's own stamps (gap > 1.5 periods)
        self.rejected = 0                # samples the writer refused (bad shape, backwards stamps)

    def reset(self) -> None:
        self.capture.clear()
        self.index.clear()
        self.last_sensor = -1


@dataclasses.dataclass
class EpisodeResult:
    episode: int
    status: str
    success: Optional[bool]
    reason: str
    steps: int
    duration_s: float
    commit: "concurrent.futures.Future[CommitResult]"


class EpisodeRecorder:
    def __init__(self, writer: StoreWriter, task: str = "", max_episode_s: float = 60.0,
                 align_wait_s: float = 0.5, notes: str = "", proprio_stream: str = "") -> None:
        self.writer, self.task, self.notes = writer, task, notes
        self.max_episode_s, self.align_wait_ns = max_episode_s, int(align_wait_s * 1e9)
        self.streams = {s.name: _StreamState(int(s.latency_s * 1e9), s.rate_hz) for s in writer.spec.streams}
        self.obs_dim, self.action_dim = writer.spec.steps.obs_dim, writer.spec.steps.action_dim
        self.pending: collections.deque[StepRow] = collections.deque()
        self.begin_ns: Optional[int] = None
        self.episode = writer.committed_episodes
        self.steps = 0
        self.dropped_steps = 0          # steps refused by the writer (counted, logged)
        # A step whose state stamp names no `proprio_stream` sample of this episode acted on the
        # previous scene (ticked between a reset and its state's arrival): not recorded, counted.
        self.proprio_stream = proprio_stream if proprio_stream in self.streams else ""
        self.foreign_steps = 0
        self._proprio_by_stamp: dict[int, int] = {}
        self.done: list[EpisodeResult] = []
        # (t_ns, kind "sample" or "step", payload) while no episode is open: the last preroll_ns of them
        self.preroll: collections.deque = collections.deque()
        self.preroll_ns = 2_000_000_000
        self.min_sensor_ns = 0
        self.stale_samples = 0          # samples of the previous scene that arrived after a reset
        # The robot's per-step reward (/reward), by receive time: a step's reward is the first one
        # received after its tick (the reward of the transition the step's command caused).
        self._reward_t: list[int] = []
        self._reward_v: list[float] = []

    @property
    def recording(self) -> bool:
        return self.begin_ns is not None

    # --- lifecycle --------------------------------------------------------------------------------
    def begin(self, now_ns: Optional[int] = None, min_sensor_ns: int = 0) -> int:
        """Start an episode at now_ns (default: now). Samples stamped before min_sensor_ns (the
        sensor clock's time of a scene reset) are from the previous scene and are not recorded."""
        if self.recording:
            raise StoreError("an episode is already being recorded")
        self.min_sensor_ns = min_sensor_ns
        self.episode = self.writer.begin_episode(task=self.task, notes=self.notes)
        self.begin_ns = time.monotonic_ns() if now_ns is None else now_ns
        for s in self.streams.values():
            s.reset()
        self._proprio_by_stamp.clear()
        self._reward_t.clear()
        self._reward_v.clear()
        self.pending.clear()
        self.steps = 0
        preroll, self.preroll = self.preroll, collections.deque()
        for t_ns, kind, payload in preroll:
            if kind == "step":
                self.add_step(payload)
            elif kind == "reward":
                self.add_reward(payload, t_ns)
            elif t_ns >= self.begin_ns:
                self._append_sample(*payload)
        log.info("episode %d: recording", self.episode)
        return self.episode

    def end(self, status: str = "complete", success: Optional[bool] = None, reason: str = "",
            now_ns: Optional[int] = None) -> EpisodeResult:
        """Fix every waiting step's references and commit (in the background: see .commit)."""
        if not self.recording:
            raise StoreError("no episode is being recorded")
        now_ns = time.monotonic_ns() if now_ns is None else now_ns
        self._resolve(now_ns, flush=True)
        future = self.writer.end_episode(status=status, success=success, wait=False)
        result = EpisodeResult(self.episode, status, success, reason, self.steps, (now_ns - self.begin_ns) / 1e9,
                               future)
        self.done.append(result)
        self.begin_ns = None
        label = {True: "success", False: "failure", None: "unlabelled"}[success]
        log.info("episode %d: %s (%s, %s), %d steps in %.1f s", result.episode, status, label, reason or "ended",
                 result.steps, result.duration_s)
        return result

    def event(self, name: str, now_ns: Optional[int] = None) -> Optional[EpisodeResult]:
        """An operator's event; the ones in END_EVENTS end the open episode."""
        if name not in END_EVENTS or not self.recording:
            return None
        status, success = END_EVENTS[name]
        return self.end(status, success, reason=f"event {name}", now_ns=now_ns)

    def poll(self, now_ns: Optional[int] = None) -> Optional[EpisodeResult]:
        """Call often: fixes steps whose samples are in, ends an episode that ran out of time."""
        now_ns = time.monotonic_ns() if now_ns is None else now_ns
        if not self.recording:
            return None
        self._resolve(now_ns)
        if self.max_episode_s and now_ns - self.begin_ns >= self.max_episode_s * 1e9:
            return self.end("complete", False, reason=f"timeout after {self.max_episode_s:g} s", now_ns=now_ns)
        return None

    # --- data -------------------------------------------------------------------------------------
    def add_sample(self, stream: str, value: Any, sensor_ns: int, receive_ns: int, count_gaps: bool = True) -> bool:
        """Record one sample (if an episode is open and it arrived after the episode began).
        count_gaps=False: sensor_ns is only the receive time (a message without a stamp), whose
        jitter says nothing about lost samples."""
        s = self.streams[stream]
        # receive times come from the middleware's wall clock mapped onto the monotonic clock: the
        # mapping can jitter by microseconds, and the store wants them ascending
        receive_ns = max(receive_ns, s.last_receive)
        s.last_receive = receive_ns
        if not count_gaps:
            sensor_ns = receive_ns  # the message had no stamp: its (ordered) arrival time stands in
        s.total += 1
        s.window.append(receive_ns)
        if count_gaps and s.last_sensor >= 0 and s.rate_hz > 0:
            gap = (sensor_ns - s.last_sensor) * s.rate_hz / 1e9
            if gap > 1.5:
                s.drops += int(round(gap)) - 1
        s.last_sensor = sensor_ns
        if not self.recording:
            self._keep(receive_ns, "sample", (stream, value, sensor_ns, receive_ns))
            return False
        if receive_ns < self.begin_ns:
            return False
        return self._append_sample(stream, value, sensor_ns, receive_ns)

    def _keep(self, t_ns: int, kind: str, payload: Any) -> None:
        self.preroll.append((t_ns, kind, payload))
        while self.preroll and (len(self.preroll) > 2000 or self.preroll[0][0] < t_ns - self.preroll_ns):
            self.preroll.popleft()

    def _append_sample(self, stream: str, value: Any, sensor_ns: int, receive_ns: int) -> bool:
        s = self.streams[stream]
        if sensor_ns < self.min_sensor_ns:
            self.stale_samples += 1
            return False
        try:
            index = self.writer.append(stream, value, sensor_ns=sensor_ns, receive_ns=receive_ns)
        except (ValueError, WriterBackpressure) as exc:
            s.rejected += 1
            if s.rejected in (1, 10, 100) or s.rejected % 1000 == 0:
                log.error("sample not recorded (%d so far on %s): %s", s.rejected, stream, exc)
            return False
        capture = receive_ns - s.latency_ns
        if capture < s.last_capture:  # latency jitter can reorder by a hair: keep the list sorted
            capture = s.last_capture
        s.capture.append(capture)
        s.index.append(index)
        s.last_capture = capture
        if stream == self.proprio_stream:
            self._proprio_by_stamp[sensor_ns] = index
        return True

    def add_reward(self, value: float, receive_ns: int) -> None:
        """A reward the robot published (one per step it executed); between episodes it waits in the
        preroll, as samples do, for an episode that begins before it arrived."""
        if not self.recording:
            self._keep(receive_ns, "reward", float(value))
        elif receive_ns >= self.begin_ns:
            self._reward_t.append(max(receive_ns, self._reward_t[-1] if self._reward_t else receive_ns))
            self._reward_v.append(float(value))

    def add_step(self, step: StepRow) -> bool:
        if not self.recording:
            self._keep(step.t_ns, "step", step)
            return False
        if step.t_ns < self.begin_ns:
            return False
        self.pending.append(step)
        return True

    def _resolve(self, now_ns: int, flush: bool = False) -> None:
        while self.pending:
            step = self.pending[0]
            waited = now_ns - step.t_ns >= self.align_wait_ns
            rewarded = not self._reward_t or self._reward_t[-1] > step.t_ns   # a robot that publishes rewards
            if not (flush or waited or (rewarded and all(s.last_capture > step.t_ns for s in self.streams.values()))):
                return
            self.pending.popleft()
            refs = {}
            for name, s in self.streams.items():
                k = bisect.bisect_right(s.capture, step.t_ns) - 1
                refs[name] = s.index[k] if k >= 0 else -1
            if self.proprio_stream and step.state_stamp_ns >= 0:
                used = self._proprio_by_stamp.get(step.state_stamp_ns)
                if used is None:
                    self.foreign_steps += 1
                    continue
                refs[self.proprio_stream] = used   # the exact sample the tick acted on
            k = bisect.bisect_right(self._reward_t, step.t_ns)
            reward = self._reward_v[k] if k < len(self._reward_v) else 0.0
            try:
                self.writer.append_step(obs=step.obs, action=step.policy_action, base_action=step.base_action,
                                        human_action=step.human_action, executed_action=step.executed_action,
                                        intervention=step.intervention, policy_version=step.policy_version,
                                        sample_index=refs, t_ns=step.t_ns, hold=step.hold, reward=reward)
            except ValueError as exc:
                self.dropped_steps += 1
                log.error("step not recorded (%d so far): %s", self.dropped_steps, exc)
                continue
            self.steps += 1

    # --- status -----------------------------------------------------------------------------------
    def status(self, now_ns: Optional[int] = None) -> dict[str, Any]:
        now_ns = time.monotonic_ns() if now_ns is None else now_ns
        streams = {}
        for name, s in self.streams.items():
            while s.window and s.window[0] < now_ns - 1_000_000_000:
                s.window.popleft()
            streams[name] = {"fps": len(s.window), "total": s.total, "drops": s.drops, "rejected": s.rejected}
        w = self.writer.stats
        return {"recording": self.recording, "episode": self.episode,
                "episode_s": (now_ns - self.begin_ns) / 1e9 if self.recording else 0.0,
                "episodes_done": len(self.done), "steps": self.steps, "pending_steps": len(self.pending),
                "queue_mb": self.writer.queue_mb, "written_mb": w.raw_mb, "dropped_samples": w.dropped,
                "dropped_steps": self.dropped_steps, "streams": streams}


def status_line(st: dict[str, Any], prev_mb: float = 0.0, dt_s: float = 1.0,
                between: str = "between episodes") -> str:
    """One line for the terminal: per-stream fps and drops, queue, write rate, episodes; `between`:
    what the recorder does while no episode is open (what it waits for)."""
    parts = [f"{n} {v['fps']}fps" + (f" drop {v['drops']}" if v["drops"] else "") +
             (f" rej {v['rejected']}" if v["rejected"] else "") for n, v in st["streams"].items()]
    ep = f"ep {st['episode']} {st['episode_s']:.0f}s {st['steps']} steps" if st["recording"] else between
    rate = (st["written_mb"] - prev_mb) / max(dt_s, 1e-9)
    return (f"{ep} | {' | '.join(parts)} | queue {st['queue_mb']:.1f} MB | write {rate:.1f} MB/s | "
            f"{st['episodes_done']} done")
