"""The recorder node: cameras, proprioception, teleop input and the control node's step records into
the episode store (glue around robot_rl.record.EpisodeRecorder and robot_rl.store.StoreWriter).

Inputs: /camera/<name>/image_raw for each configured camera, /joint_states, /ee_pose,
/gripper/opening, /teleop/action, /control/step (the control node's per-tick record) and
/teleop/event (success, failure, end_episode, rerecord). Streams in the store: <camera>_rgb,
joints [q, qd], ee_pose [xyz, quat xyzw], gripper, teleop; steps with obs and actions as the
control node ran them, each naming the samples captured before its tick.

Episodes: each starts while every stream delivers and the control node drives (with a reset
service, the first waits for the graph's start-up to be over: robot_rl.record.control_watch); an
operator event or max_episode_s ends one; the node commits it (in the background), calls
reset_service (the simulator's /sim/reset; an episode starts at the `t_ns=` its reply names, if
any; a lost reply is asked for again; a service not up yet is waited for, 60 s before the first
episode and 5 s between episodes, with the status lines going on) or waits reset_wait_s for the
operator to reset the scene, and starts the next, until `episodes` are done (then it exits 0). It
announces each episode on /episode/event ("start <episode>", "end <episode> <status>"); the reset
service's reply goes into the episode's notes (the simulator's seed). A store that exists is
appended to. Stopping the node mid-episode commits the episode as `aborted`; a kill -9 leaves it
for `robot-rl data repair` (or the next run) to recover.

Like the control loop, a thread of its own takes every message raw from subscriptions no executor
spins (ros_nodes.polled): an rclpy executor costs ~220 us of Python per message here.
"""
from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ros_nodes.runtime import NodeConfig, RobotRLNode, main_entry, qos

from ros_nodes import cdr  # noqa: E402
from ros_nodes.polled import PolledInputs  # noqa: E402
from geometry_msgs.msg import PoseStamped  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402
from std_msgs.msg import Float64, Float64MultiArray, String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from rclpy.task import Future  # noqa: E402

from robot_rl.config import ConfigError  # noqa: E402
from robot_rl.control.step_row import StepRow  # noqa: E402
from robot_rl.record.control_watch import ControlWatch  # noqa: E402
from robot_rl.record.recorder import EpisodeRecorder, status_line  # noqa: E402
from robot_rl.record.spec import RecordSpecConfig, record_store_spec  # noqa: E402
from robot_rl.robot import driver_joints  # noqa: E402
from robot_rl.robot.features import widen  # noqa: E402
from robot_rl.store import StoreError, StoreWriter, WriterConfig  # noqa: E402


@dataclass
class RecorderNodeConfig(NodeConfig, RecordSpecConfig):
    store: str = ""
    task: str = ""                     # written into each episode's row
    notes: str = ""
    episodes: int = 0                  # stop after this many episodes (0: until stopped)
    max_episode_s: float = 60.0        # an episode with no end event ends here (success unknown -> failure)
    align_wait_s: float = 0.5          # how long a step may wait for the samples captured before it
    reset_service: str = ""            # std_srvs/Trigger to call between episodes ("" = none)
    reset_wait_s: float = 5.0          # with no reset service: time for the operator to reset the scene
    settle_s: float = 0.0              # after a reset, before the next episode starts
    # a reset with no reply by then is called again: DDS can lose a service's reply (its writer not
    # yet matched to the client's reader), and the recorder would wait for it forever
    reset_reply_s: float = 30.0
    # start an episode only while the control node is driving (its newest step record, at most
    # 0.5 s old, is not a hold): an episode never opens on a robot that cannot be moved
    wait_for_control: bool = True
    # the first reset waits for the control node to drive a second with no hold (start-up over), at
    # most this long: after it, driving is enough (robot_rl.record.control_watch)
    warmup_max_s: float = 20.0
    # no episode started this long after the recorder began waiting for one (start-up, the last
    # commit): it exits 1 naming what it waited for. 0: wait as long as it takes (a person setting
    # up a robot); a graph with the simulator inside sets it, where a wait that long is a fault
    start_timeout_s: float = 0.0
    # start an episode only while every stream delivers (a sample in the last second): no episode
    # begins before a camera is up
    wait_for_streams: bool = True
    status_period_s: float = 1.0
    end_on_events: bool = True         # operator events end episodes (false: only max_episode_s does)
    # reliable: every frame (the publisher must be reliable; the simulator's is); sensor: best
    # effort, matches any camera driver, frames lost in transport are counted as drops
    camera_qos: Literal["reliable", "sensor"] = "sensor"
    fsync: bool = True
    report_path: str = ""              # JSON at shutdown: episodes, per-stream counts, commit latencies
    # the driver's names of the description's joints on /joint_states, in the description's order,
    # comma-separated ("" = the description's names), as the control node's joint_names
    joint_names: str = ""

    def validate(self) -> None:
        RecordSpecConfig.validate(self)
        if not self.store:
            raise ValueError("store is required (a path; created if missing, appended to if it exists)")
        if self.episodes < 0 or self.max_episode_s <= 0 or self.align_wait_s < 0 or self.reset_wait_s < 0:
            raise ValueError("episodes >= 0, max_episode_s > 0, align_wait_s and reset_wait_s >= 0")
        if self.reset_reply_s <= 0 or self.warmup_max_s < 0 or self.start_timeout_s < 0:
            raise ValueError("reset_reply_s must be > 0, warmup_max_s and start_timeout_s >= 0")


class RecorderNode(RobotRLNode):
    def __init__(self):
        super().__init__("recorder", RecorderNodeConfig)
        c = self.config
        spec = record_store_spec(c)
        try:
            self.writer = StoreWriter(c.store, spec, WriterConfig(fsync=c.fsync))
        except StoreError as exc:
            raise ConfigError(str(exc)) from None
        if self.writer.recovery.changed:
            for line in self.writer.recovery.lines():
                self.get_logger().warning(f"store recovery: {line}")
        self.recorder = EpisodeRecorder(self.writer, task=c.task or "", max_episode_s=c.max_episode_s,
                                        align_wait_s=c.align_wait_s, notes=c.notes, proprio_stream="joints")
        self.start_episodes = self.writer.committed_episodes
        self.polled = PolledInputs(self)
        self.inputs = []   # (stream name, subscription, to_sample)
        depth = 50         # the take thread runs every 5 ms; 50 messages is 0.5 s at 100 Hz
        for cam in c.camera_list:
            self.inputs.append((f"{cam}_rgb", self.polled.subscribe(Image, f"/camera/{cam}/image_raw",
                                                                    qos(c.camera_qos, depth), cdr.image), _image))
        self.inputs += [
            ("joints", self.polled.subscribe(JointState, "/joint_states", qos("reliable", depth), cdr.JointStateDecoder()),
             self._joints),
            ("ee_pose", self.polled.subscribe(PoseStamped, "/ee_pose", qos("reliable", depth), cdr.pose_stamped), _pose),
            ("gripper", self.polled.subscribe(Float64, "/gripper/opening", qos("reliable", depth), cdr.float64), _scalar),
            ("teleop", self.polled.subscribe(Float64MultiArray, "/teleop/action", qos("reliable", depth),
                                             cdr.float64_multiarray), self._teleop),
        ]
        self.inputs = [i for i in self.inputs if i[0] in spec.stream_names]   # no gripper stream without a gripper
        self._has_gripper = "gripper" in spec.stream_names
        self.in_step = self.polled.subscribe(Float64MultiArray, "/control/step", qos("reliable", 200),
                                             cdr.float64_multiarray)
        self.in_event = self.polled.subscribe(String, "/teleop/event", qos("reliable", 100), cdr.string)
        # the robot's reward of each step it executed (the sim robot publishes its task's), stored per step
        self.in_reward = self.polled.subscribe(Float64, "/reward", qos("reliable", depth), cdr.float64)
        try:
            self.joint_order = cdr.JointOrder(driver_joints(spec.robot.joint_names, c.joint_names, spec.robot.name))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.reset_client = self.create_client(Trigger, c.reset_service) if c.reset_service else None
        self.pub_episode = self.create_publisher(String, "/episode/event", qos("reliable", 10))
        self.bad_steps = 0
        self._silent_logged: list[str] = []
        self.control = ControlWatch(time.monotonic())
        self.results = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="recorder")
        self.thread.start()
        self.get_logger().info(f"recording into {c.store} ({self.start_episodes} episodes there): streams "
                               f"{', '.join(spec.stream_names)}; {c.episodes or 'unlimited'} episodes")

    # --- message -> sample ------------------------------------------------------------------------
    def _teleop(self, value):
        """The operator's action as the control node takes it (a 5-value ee action widened for
        ee_rpy, its gripper value dropped on a robot without a gripper)."""
        return _vector(widen(value, self.config.command_mode, self._has_gripper))

    def _joints(self, js):
        order = self.joint_order
        if order.update(js["names"]) and order.index is None:
            self.get_logger().error(f"/joint_states lacks joints {order.joints}: {js['names']}")
        if order.index is None or not js["position"].size:
            return None
        vel = js["velocity"][order.index] if js["velocity"].size else np.zeros(len(order.joints))
        return np.concatenate([js["position"][order.index], vel]), js["stamp_ns"]

    # --- the recording thread ---------------------------------------------------------------------
    def _run(self) -> None:
        c = self.config
        rec = self.recorder
        phase, until, future, start_ns, min_stamp = "start", time.monotonic(), None, None, 0
        if self.reset_client is not None:  # the first episode starts from a fresh scene too
            phase = "warmup"
        last_status = waiting_since = time.monotonic()
        prev_mb = 0.0
        while not self._stop.is_set():
            try:
                self._take()
                now = time.monotonic_ns()
                ended = rec.poll(now)
                if ended is not None:
                    self._ended(ended)
                t = time.monotonic()
                ready = self._streams_ready(now)
                if phase == "warmup" and ready and (not c.wait_for_control or self.control.settled(t, c.warmup_max_s)):
                    if c.wait_for_control and not self.control.steady(t):
                        self.get_logger().warning(f"the control node held {self.control.holds} times in "
                                                  f"{c.warmup_max_s:g} s of warm-up: resetting while it drives")
                    # the graph's start-up transients are over: reset
                    future, phase = self._reset(service_wait_s=60.0), "resetting"
                elif phase == "start" and t >= until and ready and (not c.wait_for_control or self.control.driving(t)):
                    episode = rec.begin(start_ns, min_sensor_ns=min_stamp)
                    self.pub_episode.publish(String(data=f"start {episode}"))
                    phase = "recording"
                elif (c.start_timeout_s and phase in ("warmup", "resetting", "start")
                      and t - waiting_since > c.start_timeout_s):
                    self.get_logger().error(f"no episode started in {c.start_timeout_s:g} s: "
                                            f"{self._waiting(phase, t, ready, until)}; stopping")
                    self._stop.set()
                    self.stop(1)
                    return
                elif phase == "recording" and not rec.recording:
                    phase = "committing"
                elif phase == "committing" and rec.done[-1].commit.done():
                    self._committed(rec.done[-1])
                    start_ns, min_stamp, waiting_since = None, 0, t
                    if c.episodes and len(rec.done) >= c.episodes:
                        self.get_logger().info(f"{len(rec.done)} episodes recorded into {c.store}")
                        self._stop.set()
                        self.stop(0)
                        return
                    if self.reset_client is not None:
                        future, phase = self._reset(), "resetting"
                    else:
                        self.get_logger().info(f"next episode in {c.reset_wait_s:g} s: reset the scene")
                        phase, until = "start", t + c.reset_wait_s
                elif phase == "resetting" and future is None:   # the service is not up yet
                    if self.reset_client.service_is_ready():
                        future = self._reset()
                    elif t - self._reset_called > self._service_wait_s:
                        self.get_logger().error(f"{c.reset_service} is not available after {self._service_wait_s:g} s; "
                                                f"starting the next episode anyway")
                        future = _Done()
                elif phase == "resetting" and not future.done() and t - self._reset_called > c.reset_reply_s:
                    self.get_logger().warning(f"{c.reset_service}: no reply in {c.reset_reply_s:g} s; calling it again")
                    future = self._reset()
                elif phase == "resetting" and future.done():
                    reply = future.result() if isinstance(future, Future) else None
                    rec.notes = f"{c.notes}; reset: {reply.message}" if reply is not None else c.notes
                    start_ns, min_stamp = reset_time(reply.message if reply is not None else "", c.settle_s)
                    phase, until = "start", t + c.settle_s
                if t - last_status >= c.status_period_s:
                    st = rec.status(now)
                    self.get_logger().info(status_line(st, prev_mb, t - last_status,
                                                       self._waiting(phase, t, ready, until)))
                    prev_mb, last_status = st["written_mb"], t
            except Exception as exc:  # noqa: BLE001 - the recorder must keep going; the writer guards the data
                if not self.context.ok():
                    return
                self.get_logger().error(f"recorder loop: {exc!r}")
            time.sleep(0.005)

    def _waiting(self, phase: str, t: float, ready: bool, until: float) -> str:
        """Between episodes: what the recorder waits for, for the status line."""
        c = self.config
        if phase == "resetting" and not self.reset_client.service_is_ready():
            return f"waiting for {c.reset_service} to come up ({t - self._reset_called:.0f} s)"
        if phase == "resetting":
            return f"waiting for {c.reset_service}'s reply"
        if phase == "committing":
            return "committing"
        if phase == "start" and t < until:
            return f"next episode in {until - t:.0f} s"
        if not ready:
            return f"waiting for streams: {', '.join(self._silent_logged)}"
        if c.wait_for_control and (phase == "warmup" or not self.control.driving(t)):
            return f"{'warm-up: ' if phase == 'warmup' else ''}waiting for {self.control.waiting(t)}"
        return "between episodes"

    def _streams_ready(self, now_ns: int) -> bool:
        if not self.config.wait_for_streams:
            return True
        silent = [n for n, s in self.recorder.streams.items() if now_ns - s.last_receive > 1_000_000_000]
        if silent and silent != self._silent_logged:
            self.get_logger().info(f"waiting for streams: {', '.join(silent)}")
        self._silent_logged = silent
        return not silent

    def _take(self) -> None:
        rec = self.recorder
        for name, sub, to_sample in self.inputs:
            for value, received in sub.take_all():
                sample = to_sample(value)
                if sample is not None:
                    data, stamp = sample
                    rec.add_sample(name, data, stamp if stamp is not None else received, received,
                                   count_gaps=stamp is not None)
        for value, received in self.in_reward.take_all():
            if math.isfinite(value):
                rec.add_reward(value, received)
        for row, _ in self.in_step.take_all():
            try:
                step = StepRow.from_row(row, rec.obs_dim, rec.action_dim)
                self.control.step(step.hold, time.monotonic())
                rec.add_step(step)
            except ValueError as exc:
                self.bad_steps += 1
                if self.bad_steps in (1, 100):
                    self.get_logger().error(f"/control/step: {exc} (recorder and control node disagree "
                                            "on robot or command_mode)")
        for event, received in self.in_event.take_all():
            if not self.config.end_on_events:
                continue
            ended = rec.event(event, received)
            if ended is not None:
                self._ended(ended)

    def _ended(self, result) -> None:
        self.pub_episode.publish(String(data=f"end {result.episode} {result.status}"))
        self.get_logger().info(f"episode {result.episode} ended: {result.reason}, {result.steps} steps, "
                               f"{result.duration_s:.1f} s; committing")

    def _committed(self, result) -> None:
        try:
            commit = result.commit.result()
        except Exception as exc:  # noqa: BLE001
            self.get_logger().error(f"episode {result.episode} failed to commit: {exc}")
            self.results.append({"episode": result.episode, "error": str(exc)})
            return
        self.results.append({"episode": commit.episode, "status": commit.status, "success": result.success,
                             "reason": result.reason, "steps": commit.steps, "samples": commit.samples,
                             "duration_s": result.duration_s, "commit_latency_s": commit.latency_s})
        self.get_logger().info(f"episode {commit.episode} committed ({commit.status}) in {commit.latency_s:.2f} s: "
                               f"{commit.steps} steps, samples {commit.samples}")

    def _reset(self, service_wait_s: float = 5.0):
        """The reset call's future; None while the service is not up (the thread goes on taking
        samples and printing status lines, and calls once it is, or gives up after service_wait_s)."""
        self._reset_called, self._service_wait_s = time.monotonic(), service_wait_s
        if not self.reset_client.service_is_ready():
            return None
        return self.reset_client.call_async(Trigger.Request())

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        rec = self.recorder
        if rec.recording:
            result = rec.end("aborted", None, reason="recorder stopped")
            try:
                self._committed(result)
            except Exception:  # noqa: BLE001
                pass
        for result in rec.done:
            if not any(r.get("episode") == result.episode for r in self.results):
                self._committed(result)
        try:
            self.writer.close()
        except StoreError as exc:
            self.get_logger().error(str(exc))
        if self.config.report_path:
            report = {"episodes": self.results, "bad_steps": self.bad_steps, "foreign_steps": rec.foreign_steps,
                      "stale_samples": rec.stale_samples, "status": rec.status(),
                      "inputs_received": {s.topic: s.received for s in self.polled.subs},
                      "malformed_inputs": self.polled.malformed(),
                      "max_commit_latency_s": self.writer.stats.max_commit_latency_s}
            with open(self.config.report_path, "w") as f:
                json.dump(report, f)
        self.polled.destroy()


def reset_time(message: str, settle_s: float) -> tuple["int | None", int]:
    """Where the next episode starts, from the reset service's reply (the simulator says it):
    `t_ns=` when the new scene was made (so a control tick between the reset and its reply is not
    lost) and `stamp_ns=` the sensor time it starts at (older samples are the previous scene's)."""
    words = dict(w.split("=", 1) for w in message.split() if "=" in w)
    t = words.get("t_ns", "")
    stamp = words.get("stamp_ns", "")
    return (int(t) if t.isdigit() and not settle_s else None), (int(stamp) if stamp.isdigit() else 0)


class _Done:
    """A finished future: nothing to wait for."""

    def done(self) -> bool:
        return True


def _image(value):
    img, stamp = value
    return img, stamp


def _pose(value):
    pos, quat_xyzw, stamp = value
    return np.concatenate([pos, quat_xyzw]), stamp


def _scalar(value):
    return np.array([value]), None


def _vector(value):
    return value, None


def main() -> None:
    main_entry(RecorderNode)


if __name__ == "__main__":
    main()
