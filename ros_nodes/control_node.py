"""The control node: runs an ONNX policy on the robot at a fixed rate, behind the safety layer,
with a watchdog on its inputs, human override and hot swap (glue around robot_rl.control.core).

The robot is its description (robot_rl.robot: `robot` names a builtin or a YAML path): its joints,
kinematics (IK from the description's model, no simulator), workspace box, limits, command mode and
speeds. A policy whose metadata names another robot or command mode is refused.

Inputs: /joint_states, /ee_pose, /gripper/opening (-> the proprio vector of the description's
features, robot_rl.robot.features) and, for image policies, /camera/<name>/image_raw.
/teleop/intervention (std_msgs/Bool) and /teleop/action (Float64MultiArray, an action) let a human
take over. /control/estop (Bool, true) latches an e-stop: every command holds until the
/control/reset_estop service (std_srvs/Trigger) is called. /policy/update (std_msgs/String
"path [sha256]") swaps the policy; /policy/model (std_msgs/UInt8MultiArray, a policy by value from a
learner on another machine, robot_rl.policy.transfer) is checked and written into this node's
registry first, then swapped the same way.
With `reward_model` (a reward classifier from `robot-rl reward train`), a thread beside the loop
classifies the newest camera frames at `reward_hz`, publishes P(success) on /reward/success
(Float64) and, once it holds for `success_hold` frames, ends the episode as the operator's
`success` key does (/teleop/event "success"); /episode/event "start ..." re-arms it.
Outputs: /command/ee_target (PoseStamped, stamped with the joint state's stamp it was computed
from) + /command/gripper (Float64), or in joint mode
/command/joint_positions (Float64MultiArray [q..., gripper]); /control/step
(Float64MultiArray, layout in robot_rl.control.step_row) per tick; /diagnostics once a second.

The loop runs in its own thread, paced by the monotonic clock (sleep, then a short spin for the
last 0.2 ms): rclpy timers jitter by milliseconds at 500 Hz (docs/ROS2.md). It takes its inputs
itself at each tick, raw, from subscriptions no executor spins (ros_nodes.polled): executor
callbacks would hold the GIL the loop needs. The main thread's executor serves only rare events
(policy updates, the e-stop reset, parameters, the 1 Hz diagnostics).

Over 400 lines on purpose: the real-time loop, the inputs it takes itself and the swap protocol
between two ticks depend on each other's threading and are kept together; the control step
itself (safety, watchdog, policy call) is robot_rl.control's.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ros_nodes.runtime import NodeConfig, RobotRLNode, main_entry, qos

from ros_nodes import cdr, convert  # noqa: E402
from ros_nodes.polled import PolledInputs  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue  # noqa: E402
from geometry_msgs.msg import PoseStamped  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402
from std_msgs.msg import Bool, Float64, Float64MultiArray, String, UInt8MultiArray  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from robot_rl.config import ConfigError  # noqa: E402
from robot_rl.robot import DEFAULT_ROBOT  # noqa: E402
from robot_rl.control.core import ControlCore, robot_control  # noqa: E402
from robot_rl.control.safety import SafetyLayer  # noqa: E402
from robot_rl.control.step_row import step_fields  # noqa: E402
from robot_rl.control.success import SuccessDetector  # noqa: E402
from robot_rl.control.watchdog import Watchdog  # noqa: E402
from robot_rl.policy.registry import PolicyRegistry  # noqa: E402
from robot_rl.policy.runtime import PolicyRuntime  # noqa: E402
from robot_rl.policy.spec import PolicyError, RobotRef  # noqa: E402
from robot_rl.policy.transfer import receive  # noqa: E402
from robot_rl.ros_env import POLICY_MODEL_TOPIC  # noqa: E402
from robot_rl.robot import driver_joints, load as load_robot  # noqa: E402
from robot_rl.robot.features import layout, widen  # noqa: E402
from robot_rl.robot.kinematics import Kinematics, position_yaw  # noqa: E402
from robot_rl.stats import SampleRecorder, summarize_ns  # noqa: E402

GIL_SWITCH_INTERVAL_S = 0.0002


def version_number(version: str) -> int:
    """"pick/v0003" -> 3; 0 for teleop or a file outside the registry."""
    tail = version.rsplit("/v", 1)[-1] if "/v" in version else ""
    return int(tail) if tail.isdigit() else 0


def policy_version(policy) -> str:
    """What runs: a policy's version, or "teleop" in teleop-only mode."""
    return getattr(policy, "version", "teleop")

@dataclass
class ControlNodeConfig(NodeConfig):
    # registry reference (name, name/vNNNN) or an .onnx inside `registry`; "" = teleop-only: /teleop/action drives
    # the robot (demonstration collection) and the robot holds while it is stale or absent
    policy: str = ""
    registry: str = "policies"
    robot: str = DEFAULT_ROBOT   # a builtin robot (robot-rl robots) or a description YAML's path
    # ee: actions [dx, dy, dz, dyaw, grip] -> /command/ee_target + /command/gripper (Cartesian
    # impedance style, the tool pointing down); ee_rpy: [dx, dy, dz, droll, dpitch, dyaw, grip], the
    # same topics with the full orientation; joint: actions [dq_1..dq_n, grip] ->
    # /command/joint_positions [q..., grip] (forward_command_controller style), limited by the
    # model's joint ranges. "": the description's.
    command_mode: Literal["", "ee", "ee_rpy", "joint"] = ""
    # the driver's names of the description's joints on /joint_states, in the description's order,
    # comma-separated ("" = the description's names): a ros2_control arm keeps its names
    joint_names: str = ""
    # joint mode: the gripper command as the last value of /command/joint_positions (the
    # simulator), or on /command/gripper (a ros2_control forward_command_controller takes exactly
    # the arm's joints; the gripper has its own controller)
    gripper_in_joint_command: bool = True
    rate_hz: float = 10.0
    # An action of 1 moves this fast; per tick that is speed / rate_hz, so one policy means the same
    # motion at any rate. 0: the robot description's (command.max_*).
    max_ee_speed: float = 0.0         # m/s
    max_yaw_rate: float = 0.0         # rad/s
    max_joint_speed: float = 0.0      # rad/s for an action of 1 (joint mode)
    proprio_max_age_s: float = 0.2
    # A simulator in lockstep moves only on a command: after each command, wait up to this long for
    # its answer (a newer state, its images, the operator's command) before the next tick, so each
    # command is computed from the state the last one led to, however slowly the simulator steps
    # (skipped ticks are counted, not held or recorded). 0: never wait (a robot moves on its own clock).
    lockstep_wait_s: float = 0.0
    teleop_max_age_s: float = 0.5     # teleop-only mode: hold when the operator's stream stops
    camera_max_age_s: float = 0.3
    resume_after_s: float = 0.2
    # SCHED_FIFO priority of the loop thread (1..98; 0 = normal scheduling), as ros2_control's
    # controller manager does: the loop then preempts DDS, camera and logging threads. Needs root or
    # an rtprio limit (ulimit -r); without it the node warns and runs at normal priority.
    rt_priority: int = 0
    # The loop sleeps until this long before a tick and busy-waits the rest: wake-ups from sleep
    # arrive up to ~0.75 ms late at p99 on a loaded 2-core VM (docs/BENCHMARKS.md), so a precise
    # tick costs CPU. 0.2 ms at 500 Hz is 10% of a core; 0.8 ms is 40%.
    busy_wait_s: float = 0.0002
    # A reward classifier (registry ref or an .onnx inside `registry`, kind "reward") that ends episodes as successes
    # ("" = off: the operator or the simulator says when); its threshold (0: the model's own), how
    # many frames in a row must pass it, and how often it runs (beside the loop, never in it).
    reward_model: str = ""
    reward_threshold: float = 0.0
    success_hold: int = 3
    reward_hz: float = 10.0
    # Pin the loop thread to this CPU (-1: no pinning); pair it with keeping other processes off
    # that CPU (taskset, isolcpus), as real-time robot deployments do.
    loop_cpu: int = -1
    report_path: str = ""
    # A model file larger than this is refused before it is read (policies and reward models).
    max_model_mb: float = 512.0

    def validate(self) -> None:
        if not 10 <= self.rate_hz <= 500:
            raise ValueError(f"rate_hz must be 10..500, got {self.rate_hz:g}")
        if not 0 <= self.busy_wait_s < 1.0 / self.rate_hz:
            raise ValueError(f"busy_wait_s must be in [0, one period), got {self.busy_wait_s:g}")
        if not 0 <= self.rt_priority <= 98:
            raise ValueError(f"rt_priority must be 0 (normal) or 1..98 (SCHED_FIFO), got {self.rt_priority}")
        if not 0 < self.reward_hz <= 100 or self.success_hold < 1:
            raise ValueError("reward_hz must be in (0, 100] and success_hold >= 1")
        if self.max_model_mb <= 0:
            raise ValueError(f"max_model_mb must be > 0, got {self.max_model_mb:g}")
        if self.lockstep_wait_s < 0:
            raise ValueError(f"lockstep_wait_s must be >= 0 (0: never wait), got {self.lockstep_wait_s:g}")
        if min(self.max_ee_speed, self.max_yaw_rate, self.max_joint_speed) < 0:
            raise ValueError("max_ee_speed, max_yaw_rate and max_joint_speed must be >= 0 (0: the description's)")


class ControlNode(RobotRLNode):
    def __init__(self):
        super().__init__("control_node", ControlNodeConfig)
        c = self.config
        # A thread that wants the GIL gets it after at most this long (default 5 ms): the loop
        # thread must not wait behind the policy loader or the main executor's Python code.
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        self.period = 1.0 / c.rate_hz
        try:
            self.robot = load_robot(c.robot)
            self.kinematics = Kinematics(self.robot)
        except (FileNotFoundError, ValueError) as exc:   # one line and exit 2, as other bad parameters
            raise ConfigError(f"robot {c.robot!r}: {exc}") from None
        self.mode = c.command_mode or self.robot.command.mode
        self.robot_ref = RobotRef(self.robot.name, self.robot.digest(), self.mode)
        try:
            self.joint_names = driver_joints(self.robot.joints, c.joint_names, self.robot.name)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.n_joints = self.robot.n
        self.layout = layout(self.robot)
        self.registry = PolicyRegistry(c.registry)
        self.max_bytes = int(c.max_model_mb * 2**20)
        self.teleop_only = not c.policy
        rt = None
        if not self.teleop_only:
            try:
                rt = PolicyRuntime.from_file(self.registry.resolve(c.policy), max_bytes=self.max_bytes, robot=self.robot_ref)
            except (PolicyError, FileNotFoundError, ValueError) as exc:  # one line and exit 2, as other bad parameters
                raise ConfigError(f"policy {c.policy!r}: {exc}") from None
        policy_cameras = [o.name for o in rt.meta.obs if o.dtype == "uint8"] if rt else []
        self.detector = None
        if c.reward_model:
            try:
                self.detector = SuccessDetector(self.registry.resolve(c.reward_model), c.reward_threshold, c.success_hold,
                                                max_bytes=self.max_bytes)
            except (PolicyError, FileNotFoundError, ValueError) as exc:
                raise ConfigError(f"reward_model {c.reward_model!r}: {exc}") from None
        # every camera the policy or the reward classifier sees; only the policy's hold the loop when stale
        self.cameras = policy_cameras + [cam for cam in (self.detector.cameras if self.detector else [])
                                         if cam not in policy_cameras]
        self.expected_obs = rt.meta.obs if rt else []
        inputs = {"proprio": c.proprio_max_age_s, **{cam: c.camera_max_age_s for cam in policy_cameras}}
        if self.teleop_only:
            inputs["teleop"] = c.teleop_max_age_s
        lower, upper = self.kinematics.joint_limits()
        safety, to_command = robot_control(self.robot, c.rate_hz, self.mode, c.max_ee_speed, c.max_yaw_rate,
                                           c.max_joint_speed, lower.tolist(), upper.tolist())
        self.action_dim = safety.action_dim
        if rt is not None and rt.meta.action.dim != self.action_dim:
            raise ConfigError(f"policy {rt.version} outputs {rt.meta.action.dim} actions; command_mode "
                             f"{self.mode} on {self.robot.name} takes {self.action_dim}")
        self.core = ControlCore(rt, SafetyLayer(safety, self.period), Watchdog(inputs, c.resume_after_s), to_command)
        # Latest input values, touched only by the loop thread (it takes them at each tick).
        n = self.n_joints
        self.proprio = np.zeros(self.layout.dim, np.float32)   # the description's proprio features
        self.ee_state = np.zeros(6 if self.mode == "ee_rpy" else 4)   # [ee xyz, yaw] or [ee xyz, roll, pitch, yaw]
        self.q = np.zeros(n)
        self.state = self.q if self.mode == "joint" else self.ee_state   # what commands are relative to
        self.have = {"joints": False, "ee": False}
        self.joint_order = cdr.JointOrder(self.joint_names)   # the robot's joint order -> ours
        self.images: dict[str, np.ndarray] = {}
        self.last_obs_ns = 0
        self.state_stamp_ns = 0     # the robot's stamp of the joint state the loop acts on
        self.human_active = False
        self.human_action = np.zeros(self.action_dim)
        self._estop_reset = threading.Event()
        self.polled = PolledInputs(self)
        # Volatile, as ros2_control's joint_state_broadcaster publishes (a transient-local
        # subscription would not match a volatile publisher).
        self.in_joints = self.polled.subscribe(JointState, "/joint_states", qos("reliable", 10),
                                              cdr.JointStateDecoder())
        self.in_ee = self.polled.subscribe(PoseStamped, "/ee_pose", qos("reliable", 10), cdr.pose_stamped)
        self.in_grip = self.polled.subscribe(Float64, "/gripper/opening", qos("reliable", 10), cdr.float64)
        self.in_images = {cam: self.polled.subscribe(Image, f"/camera/{cam}/image_raw", qos("sensor"), cdr.image)
                          for cam in self.cameras}
        self.in_intervention = self.polled.subscribe(Bool, "/teleop/intervention", qos("reliable", 10), cdr.boolean)
        self.in_human = self.polled.subscribe(Float64MultiArray, "/teleop/action", qos("reliable", 10),
                                              cdr.float64_multiarray)
        self.in_estop = self.polled.subscribe(Bool, "/control/estop", qos("reliable", 10), cdr.boolean)
        # Rare events stay on the node's executor (the main thread).
        self.create_subscription(String, "/policy/update", self._on_update, qos("latched"))
        self.create_subscription(UInt8MultiArray, POLICY_MODEL_TOPIC, self._on_model, qos("latched"))
        self.create_service(Trigger, "/control/reset_estop", self._on_reset_estop)
        if self.mode != "joint":
            self.pub_pose = self.create_publisher(PoseStamped, "/command/ee_target", qos("reliable"))
            self.pub_grip = self.create_publisher(Float64, "/command/gripper", qos("reliable"))
        else:
            self.pub_joints = self.create_publisher(Float64MultiArray, "/command/joint_positions", qos("reliable"))
            if not c.gripper_in_joint_command:
                self.pub_grip = self.create_publisher(Float64, "/command/gripper", qos("reliable"))
        self.pub_step = self.create_publisher(Float64MultiArray, "/control/step", qos("reliable"))
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", qos("reliable", 10))
        # Messages built once and refilled each tick (publish serializes them at once).
        self.msg_pose = convert.pose_to_msg([0, 0, 0], [0, 0, 0, 1], 0, "world")
        self.msg_grip = Float64()
        self.msg_joints = convert.array_to_multiarray(
            np.zeros(n + int(c.gripper_in_joint_command and self.robot.has_gripper)), ["joint"])
        self.obs_dim = self.proprio.size
        fields = step_fields(self.action_dim, self.obs_dim)
        self.msg_step = convert.array_to_multiarray(np.zeros(len(fields)), ["field"])
        self.row = np.zeros(len(fields))
        self.period_err = SampleRecorder(1 << 18)
        self.latency = SampleRecorder(1 << 18)      # age of the newest proprio when the command goes out
        self.compute = SampleRecorder(1 << 18)      # tick start (inputs taken) -> command published
        self.max_gap_ns = 0
        self.late_ticks: list[tuple[int, int]] = []   # (tick time, gap) where a tick was missed
        # Where a tick's time goes: taking inputs, the core (policy + safety), the step record.
        self.prof = {k: SampleRecorder(1 << 16) for k in ("take", "core", "step")}
        self.overruns = 0
        self.ticks = 0
        self.lockstep_wait_ns = int(c.lockstep_wait_s * 1e9)
        self.sent_ns = 0      # when the last command went out
        self.commanded_stamp_ns = -1   # the stamp of the state it was computed from
        self.state_received_ns = 0     # when a state with a new stamp arrived
        self.image_stamp_ns: dict[str, int] = {}
        self.teleop_received_ns = 0
        self.watched_cameras = policy_cameras   # those whose age holds the loop
        self.waited = 0       # ticks skipped waiting for a lockstep simulator's answer
        # With a report: every completed tick's (start, gap since the previous tick, compute, obs age)
        # in ns (-1: none; no command sent), so a benchmark can take its figures over the window it drove.
        self.timeline = np.full((1 << 18, 4), -1, np.int64) if c.report_path else None
        self.timeline_rows = 0
        self._sent = (-1, -1)
        self.swap_log: list[dict] = []
        self.last_refusal = ""    # the last policy update refused, and why (on /diagnostics)
        self._faults_seen = 0     # policy faults already reported on /diagnostics, and logged
        self._faults_logged = 0
        self._slack = threading.Event()             # set by the loop after each tick: a good time to hold the GIL
        self._stop = threading.Event()
        self.create_timer(1.0, self._diagnostics)
        self.thread = threading.Thread(target=self._loop, daemon=True, name="control_loop")
        self.thread.start()
        # a new episode: a chunked policy forgets its chunks, the reward classifier re-arms
        self.create_subscription(String, "/episode/event", self._on_episode_event, qos("reliable", 10))
        self._armed = True
        if self.detector is not None:
            self.pub_success = self.create_publisher(Float64, "/reward/success", qos("reliable", 10))
            self.pub_event = self.create_publisher(String, "/teleop/event", qos("reliable", 100))
            threading.Thread(target=self._classify, daemon=True, name="reward_classifier").start()
            self.get_logger().info(f"reward classifier {self.detector.version} ends episodes at P(success) >= "
                                   f"{self.detector.threshold:g} for {c.success_hold} frames")
        what = "teleop-only (/teleop/action drives)" if self.teleop_only else rt.version
        self.get_logger().info(f"running {what} at {c.rate_hz:g} Hz (inputs: {', '.join(inputs)})")

    # --- rare events (main executor) --------------------------------------------------------------
    def _on_reset_estop(self, _request, response):
        if not self.core.safety.estopped:
            response.success, response.message = False, "not e-stopped"
            return response
        self._estop_reset.set()  # applied by the loop thread at its next tick
        response.success, response.message = True, "e-stop reset: control resumes from the current state"
        self.get_logger().warning("e-stop reset by service call")
        return response

    def _on_update(self, msg):
        parts = msg.data.split()
        path, sha = (parts + [""])[:2] if parts else ("", "")
        threading.Thread(target=self._load_and_swap, args=(path, sha), daemon=True).start()

    def _on_model(self, msg):
        threading.Thread(target=self._receive_and_swap, args=(bytes(msg.data),), daemon=True).start()

    def _receive_and_swap(self, payload: bytes) -> None:
        """A policy by value: into this node's registry (checked: header, sha256, name, version),
        then through every check of a swap by reference."""
        t0_ns = time.monotonic_ns()
        try:
            path, sha = receive(self.registry, payload, self.max_bytes)
        except Exception as exc:  # noqa: BLE001 - any bad payload is reported, never raised into rclpy
            self._refuse(POLICY_MODEL_TOPIC, POLICY_MODEL_TOPIC, str(exc), t0_ns)
            return
        self.get_logger().info(f"received {path} ({len(payload):,} bytes) on /policy/model")
        self._load_and_swap(str(path), sha)

    def _refuse(self, ref: str, path: str, why: str, t0_ns: int) -> None:
        """A policy update that will not run: said on the log and /diagnostics, kept in the swap log."""
        self.last_refusal = f"{ref}: {why}"
        self.get_logger().error(f"policy update refused, keeping {getattr(self.core.policy, 'version', 'teleop')}: {why}")
        self.swap_log.append({"path": path, "ok": False, "why": why, "t_ns": [t0_ns, time.monotonic_ns()]})

    def _between_ticks(self, fn):
        """Run fn right after a tick ends, so the GIL it may hold (building an onnxruntime session,
        ~1.5-5 ms) falls into the idle part of the period."""
        self._slack.clear()
        if not self._slack.wait(timeout=1.0) and self.thread.is_alive():
            self.get_logger().warning("control loop gave no slack for 1 s; loading anyway")
        return fn()

    def _load_and_swap(self, path: str, sha: str) -> None:
        """Off the loop thread: load, check, warm up; the loop sees the new policy at its next tick."""
        t0_ns = time.monotonic_ns()
        if self.teleop_only:
            why = "teleop-only mode runs no policy (start the node with a policy to swap policies)"
            self.get_logger().error(f"policy update refused: {why}")
            self.swap_log.append({"path": path, "ok": False, "why": why, "t_ns": [t0_ns, time.monotonic_ns()]})
            return
        try:
            resolved = str(self.registry.resolve(path))
        except Exception as exc:  # noqa: BLE001 - any bad reference is reported, never raised into rclpy
            resolved, rt, why = path, None, str(exc)
        else:
            rt, why = self.core.try_load(resolved, sha, expected_obs=self.expected_obs, expected_action_dim=self.action_dim,
                                         run_between=self._between_ticks, max_bytes=self.max_bytes, robot=self.robot_ref)
        if rt is None:
            self._refuse(path, resolved, why, t0_ns)
            return
        self.core.swap(rt)
        self.get_logger().info(f"swapped to {rt.version} (loaded in {(time.monotonic_ns() - t0_ns) / 1e9:.2f} s)")
        self.swap_log.append({"path": resolved, "ok": True, "version": rt.version, "t_ns": [t0_ns, time.monotonic_ns()]})

    def _on_episode_event(self, msg):
        if msg.data.startswith("start"):
            reset = getattr(self.core.policy, "reset", None)
            if reset is not None:
                reset()
            if self.detector is not None:
                self.detector.reset()
            self._armed = True
        elif msg.data.startswith("end"):
            self._armed = False

    def _classify(self) -> None:
        """Beside the loop: the newest frames through the reward classifier at reward_hz."""
        period = 1.0 / self.config.reward_hz
        msg, seen = Float64(), {}
        while not self._stop.wait(period):
            frames = {cam: self.images.get(cam) for cam in self.detector.cameras}
            if not self._armed or any(f is None for f in frames.values()):
                continue
            if all(seen.get(cam) is f for cam, f in frames.items()):
                continue   # no new frame since the last classification
            seen = frames
            try:
                p, fired = self.detector(frames)
            except PolicyError as exc:   # frames that do not fit the model: say so once, stop classifying
                self.get_logger().error(f"reward classifier off: {exc}")
                return
            msg.data = p
            self.pub_success.publish(msg)
            if fired and self._armed:
                self.pub_event.publish(String(data="success"))
                self.get_logger().info(f"reward classifier: success (P {p:.2f} for {self.config.success_hold} frames)")

    # --- loop -----------------------------------------------------------------------------------
    def _take_inputs(self) -> None:
        """Take the newest message of every input (the loop thread only)."""
        lay = self.layout
        got = self.in_joints.take_latest()
        if got is not None:
            js, received = got
            order = self.joint_order
            if order.update(js["names"]) and order.index is None:
                self.get_logger().error(f"/joint_states lacks joints of {self.config.robot}: {js['names']}")
            if order.index is not None and js["position"].size:
                if js["stamp_ns"] != self.state_stamp_ns:
                    self.state_received_ns = received
                self.state_stamp_ns = js["stamp_ns"]
                self.q[:] = js["position"][order.index]
                self.proprio[lay.q] = self.q
                self.proprio[lay.qd] = js["velocity"][order.index] if js["velocity"].size else 0.0
                self.have["joints"] = True
                self.last_obs_ns = received
                self.core.watchdog.update("proprio", received)
        got = self.in_ee.take_latest()
        if got is not None:
            (pos, quat_xyzw, _), _ = got
            self.ee_state[:] = self.kinematics.ee_state(pos, np.roll(quat_xyzw, 1), self.mode)
            self.proprio[lay.ee_state] = position_yaw(self.ee_state)
            self.have["ee"] = True
        got = self.in_grip.take_latest()
        if got is not None and lay.has_gripper:
            self.proprio[lay.gripper] = got[0]
            self.core.safety.gripper_at_rest = 2.0 * got[0] - 1.0  # opening 0..1 -> command -1..1
        for cam, sub in self.in_images.items():
            got = sub.take_latest()
            if got is not None:
                (img, self.image_stamp_ns[cam]), received = got
                self.images[cam] = img
                if cam in self.core.watchdog.last_ns:
                    self.core.watchdog.update(cam, received)
        got = self.in_intervention.take_latest()
        if got is not None and not self.teleop_only:
            self.human_active = got[0]
        got = self.in_human.take_latest()
        # a 4-axis device on an ee_rpy robot, a device's gripper value on a robot without one
        human = widen(got[0], self.mode, self.robot.has_gripper) if got is not None else None
        if human is not None and human.shape == (self.action_dim,):
            self.human_action = human.copy()
            if self.teleop_only:
                self.human_active = True   # the operator always drives; the watchdog holds when they stop
                self.core.watchdog.update("teleop", got[1])
                self.teleop_received_ns = got[1]
        got = self.in_estop.take_latest()
        if got is not None and got[0]:
            if not self.core.safety.estopped:
                self.get_logger().error("E-STOP: holding until /control/reset_estop is called")
            self.core.safety.estop()
        if self._estop_reset.is_set():
            self._estop_reset.clear()
            self.core.safety.reset_estop()

    def _realtime(self) -> None:
        cpu = self.config.loop_cpu
        if cpu >= 0:
            try:
                os.sched_setaffinity(0, {cpu})  # this thread only
            except OSError as exc:
                self.get_logger().warning(f"cannot pin the control loop to CPU {cpu} ({exc})")
        prio = self.config.rt_priority
        if prio:
            try:
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(prio))  # this thread only
                self.get_logger().info(f"control loop thread at SCHED_FIFO priority {prio}")
            except (PermissionError, OSError, AttributeError) as exc:
                self.get_logger().warning(f"cannot set SCHED_FIFO priority {prio} ({exc}); running at normal "
                                          "priority (set an rtprio limit for this user, or run as root)")

    def _loop(self) -> None:
        self._realtime()
        next_t = time.monotonic_ns()
        prev = None
        period_ns = int(self.period * 1e9)
        busy_ns = int(self.config.busy_wait_s * 1e9)
        while not self._stop.is_set():
            next_t += period_ns
            remaining = next_t - time.monotonic_ns()
            if remaining > busy_ns + 50_000:
                time.sleep((remaining - busy_ns) / 1e9)
            while time.monotonic_ns() < next_t:  # the last busy_wait_s: spin for a precise tick
                pass
            now = time.monotonic_ns()
            gap = -1   # none before the first tick
            if prev is not None:
                gap = now - prev
                self.period_err.add(abs(gap - period_ns))
                if gap > self.max_gap_ns:
                    self.max_gap_ns = gap
                if gap > period_ns * 3 // 2 and len(self.late_ticks) < 10_000:  # a tick was missed
                    self.late_ticks.append((now, gap))
            prev = now
            try:
                self._sent = (-1, -1)
                self._tick(now)
                if self.timeline is not None and self.timeline_rows < self.timeline.shape[0]:
                    self.timeline[self.timeline_rows] = (now, gap, *self._sent)
                    self.timeline_rows += 1
            except Exception as exc:  # noqa: BLE001
                if not self.context.ok():  # shutting down: publishers are gone
                    return
                self.get_logger().error(f"control tick failed: {exc!r}")
            self._slack.set()
            if time.monotonic_ns() > next_t + period_ns:
                self.overruns += 1
                next_t = time.monotonic_ns()  # don't burst to catch up

    def _answered(self) -> bool:
        """A lockstep simulator has answered the last command: a state stamped after the one the
        command was computed from (a re-published or in-flight older state is not an answer), the
        policy's images of that state, and in teleop-only mode the operator's command after it."""
        s = self.state_stamp_ns
        if s <= self.commanded_stamp_ns:
            return False
        if any(self.image_stamp_ns.get(cam, -1) < s for cam in self.watched_cameras):
            return False
        return not self.teleop_only or self.teleop_received_ns >= self.state_received_ns

    def _tick(self, now: int) -> None:
        self._take_inputs()
        self.prof["take"].add(time.monotonic_ns() - now)
        self.ticks += 1
        if not (self.have["joints"] and self.have["ee"]):
            return  # nothing heard from the robot yet: send nothing
        wait_ns = self.lockstep_wait_ns
        if wait_ns and self.sent_ns and now - self.sent_ns < wait_ns and not self._answered():
            self.waited += 1
            return  # the simulator is still stepping on the last command
        obs = {"proprio": self.proprio, **self.images} if self.images else {"proprio": self.proprio}
        human = self.human_action if self.human_active else None
        t1 = time.monotonic_ns()
        rec = self.core.tick(now, obs, self.state, human_action=human)
        self.prof["core"].add(time.monotonic_ns() - t1)
        if self.core.faults != self._faults_logged:   # rare: a policy failed this tick
            self._faults_logged = self.core.faults
            self.get_logger().error(self.core.last_fault)
        cmd = rec.command
        if cmd is None:
            return  # a hold with nothing saying where the robot is: command nothing, record nothing
        target, grip = self.core.to_command.split(cmd)   # grip: None for a robot without a gripper
        if self.mode != "joint":
            quat = self.kinematics.tool_quat(target[3:])
            pose = self.msg_pose.pose
            pose.position.x, pose.position.y, pose.position.z = float(target[0]), float(target[1]), float(target[2])
            o = pose.orientation
            o.w, o.x, o.y, o.z = float(quat[0]), float(quat[1]), float(quat[2]), float(quat[3])
            stamp = self.msg_pose.header.stamp   # the state this command was computed from
            stamp.sec, stamp.nanosec = divmod(self.state_stamp_ns, 1_000_000_000)
            # The gripper first: a lockstep simulator advances on the pose, and must have both.
            if grip is not None:
                self.msg_grip.data = grip
                self.pub_grip.publish(self.msg_grip)
            self.pub_pose.publish(self.msg_pose)
        elif self.config.gripper_in_joint_command or grip is None:
            self.msg_joints.data = cmd
            self.pub_joints.publish(self.msg_joints)
        else:
            self.msg_grip.data = grip
            self.pub_grip.publish(self.msg_grip)
            self.msg_joints.data = target
            self.pub_joints.publish(self.msg_joints)
        sent = self.sent_ns = time.monotonic_ns()
        self.commanded_stamp_ns = self.state_stamp_ns
        self.latency.add(sent - self.last_obs_ns)
        self.compute.add(sent - now)
        self._sent = (sent - now, sent - self.last_obs_ns)
        row, a, o = self.row, self.action_dim, 5 + self.obs_dim
        row[0], row[1], row[2], row[3] = now, rec.intervention, rec.hold is not None, version_number(rec.policy_version)
        row[4] = self.state_stamp_ns
        row[5:o] = self.proprio
        row[o:o + a] = rec.policy_action if rec.policy_action is not None else np.nan
        row[o + a:o + 2 * a] = rec.base_action if rec.base_action is not None else np.nan
        row[o + 2 * a:o + 3 * a] = rec.human_action if rec.human_action is not None else np.nan
        row[o + 3 * a:o + 4 * a] = rec.executed_action
        row[o + 4 * a:] = cmd
        t2 = time.monotonic_ns()
        self.msg_step.data = row
        self.pub_step.publish(self.msg_step)
        self.prof["step"].add(time.monotonic_ns() - t2)

    def _diagnostics(self) -> None:
        window = int(5 * self.config.rate_hz)  # the last 5 s
        per, lat = summarize_ns(self.period_err.recent(window)), summarize_ns(self.latency.recent(window))
        comp = summarize_ns(self.compute.recent(window))
        safety, watchdog = self.core.safety, self.core.watchdog
        level, state = DiagnosticStatus.OK, "running"
        if safety.estopped:
            level, state = DiagnosticStatus.ERROR, "E-STOPPED"
        elif watchdog.holding:
            stale = watchdog.stale(time.monotonic_ns())   # the inputs are stamped when received, on this clock
            level, state = DiagnosticStatus.WARN, f"holding (stale: {', '.join(stale)})" if stale else "holding"
        elif self.core.faults > self._faults_seen:   # a policy fault since the last report
            level, state = DiagnosticStatus.WARN, self.core.last_fault
        self._faults_seen = self.core.faults
        status = DiagnosticStatus(name="control_node", hardware_id=self.config.robot, level=level, message=state)
        values = {"policy": policy_version(self.core.policy), "ticks": self.ticks, "overruns": self.overruns,
                  "waited": self.waited,
                  "period_error_p50_us": round(per["p50_us"], 1), "period_error_p99_us": round(per["p99_us"], 1),
                  "compute_p99_us": round(comp["p99_us"], 1), "obs_age_p99_us": round(lat["p99_us"], 1),
                  "stale_events": watchdog.stale_events, "stale_inputs": json.dumps(dict(watchdog.stale_inputs)),
                  "clamps": json.dumps(dict(safety.counts)),
                  "malformed_inputs": json.dumps(self.polled.malformed()),
                  "policy_faults": self.core.faults, "last_policy_fault": self.core.last_fault,
                  "last_refused_update": self.last_refusal}
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        msg = DiagnosticArray()
        msg.status = [status]
        self.pub_diag.publish(msg)
        self.get_logger().info(f"{values['policy']}: {self.ticks} ticks, period error p99 {per['p99_us']:.0f} us, "
                               f"compute p99 {comp['p99_us']:.0f} us, obs age p99 {lat['p99_us']:.0f} us, "
                               f"{self.overruns} overruns, {state}, clamps {values['clamps']}"
                               + (f", holds by stale input {values['stale_inputs']}" if watchdog.stale_inputs else "")
                               + (f", {self.waited} ticks waited for the simulator" if self.lockstep_wait_ns else ""))

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=2)
        if self.config.report_path:
            report = {"ticks": self.ticks, "overruns": self.overruns, "waited": self.waited, "max_gap_ms": self.max_gap_ns / 1e6,
                      "late_ticks": self.late_ticks,
                      "period_error": summarize_ns(self.period_err.values()), "latency": summarize_ns(self.latency.values()),
                      "compute": summarize_ns(self.compute.values()),
                      "policy": policy_version(self.core.policy), "swaps": self.swap_log, "clamps": dict(self.core.safety.counts),
                      "stale_events": self.core.watchdog.stale_events, "stale_inputs": dict(self.core.watchdog.stale_inputs),
                      "estopped": self.core.safety.estopped,
                      "policy_faults": self.core.faults, "last_policy_fault": self.core.last_fault,
                      "inputs_received": {s.topic: s.received for s in self.polled.subs},
                      "malformed_inputs": self.polled.malformed(), "compute_parts": {k: summarize_ns(v.values()) for k, v in self.prof.items()}}
            if self.timeline is not None:  # beside the report, as .npy (no pickle)
                report["timeline"] = self.config.report_path + ".ticks.npy"
                np.save(report["timeline"], self.timeline[:self.timeline_rows], allow_pickle=False)
            with open(self.config.report_path, "w") as f:
                json.dump(report, f)
        self.polled.destroy()


def main() -> None:
    main_entry(ControlNode)


if __name__ == "__main__":
    main()
