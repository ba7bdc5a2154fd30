"""The control node: runs an ONNX policy on the robot at a fixed rate, behind the safety layer,
with a watchdog on its inputs, human override and hot swap (glue around robot_rl.control.core).

Inputs: /joint_states, /ee_pose, /gripper/opening (-> the proprio vector [q, qd, ee xyz, ee yaw,
gripper], the simulator's convention) and, for image policies, /camera/<name>/image_raw.
/teleop/intervention (std_msgs/Bool) and /teleop/action (Float64MultiArray [dx, dy, dz, dyaw, grip])
let a human take over. /policy/update (std_msgs/String "path [sha256]") swaps the policy.
Outputs: /command/ee_target (PoseStamped) + /command/gripper (Float64), or /command/joint_positions;
/control/step (Float64MultiArray, layout in STEP_FIELDS) per tick; /diagnostics once a second.

The loop runs in its own thread, paced by the monotonic clock (sleep, then a short spin for the
last 0.2 ms): rclpy timers jitter by milliseconds at 500 Hz (docs/ROS2.md).
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ros_nodes.runtime import NodeConfig, RobotRLNode, main_entry, qos

from ros_nodes import convert  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue  # noqa: E402
from geometry_msgs.msg import PoseStamped  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402
from std_msgs.msg import Bool, Float64, Float64MultiArray, String  # noqa: E402

from robot_rl.control.core import ControlCore, ee_delta_command  # noqa: E402
from robot_rl.control.safety import SafetyConfig, SafetyLayer  # noqa: E402
from robot_rl.control.watchdog import Watchdog  # noqa: E402
from robot_rl.policy.registry import PolicyRegistry  # noqa: E402
from robot_rl.policy.runtime import PolicyRuntime  # noqa: E402
from robot_rl.sim.kinematics import DifferentialIK, yaw_from_home, yawed  # noqa: E402
from robot_rl.sim.model import Robot, load_robot_spec, robot_config  # noqa: E402
from robot_rl.stats import SampleRecorder, summarize_ns  # noqa: E402

STEP_FIELDS = ["t_ns", "intervention", "hold", *[f"policy_{i}" for i in range(5)], *[f"human_{i}" for i in range(5)],
               *[f"command_{i}" for i in range(5)]]


@dataclass
class ControlNodeConfig(NodeConfig):
    policy: str = ""                  # registry reference (name, name/vNNNN) or .onnx path
    registry: str = "policies"
    robot: Literal["arm6", "arm7"] = "arm6"   # the kinematic model (MJCF) of the robot
    rate_hz: float = 10.0
    # An action of 1 moves this fast; per tick that is speed / rate_hz (0.03 m and 0.15 rad at
    # 10 Hz: the simulator's ee_delta scaling), so one policy means the same motion at any rate.
    max_ee_speed: float = 0.3         # m/s
    max_yaw_rate: float = 1.5         # rad/s
    proprio_max_age_s: float = 0.2
    camera_max_age_s: float = 0.3
    resume_after_s: float = 0.2
    report_path: str = ""

    def validate(self) -> None:
        if not 10 <= self.rate_hz <= 500:
            raise ValueError(f"rate_hz must be 10..500, got {self.rate_hz:g}")
        if not self.policy:
            raise ValueError("policy is required (a registry name or an .onnx path)")


class ControlNode(RobotRLNode):
    def __init__(self):
        super().__init__("control_node", ControlNodeConfig)
        c = self.config
        self.period = 1.0 / c.rate_hz
        rcfg = robot_config(c.robot)
        spec = load_robot_spec(rcfg)
        model = spec.compile()
        self.n_joints = len(rcfg.joints)
        _, self.home_quat = DifferentialIK(model, Robot(model, rcfg)).forward(np.asarray(rcfg.home, float))
        self.registry = PolicyRegistry(c.registry)
        rt = PolicyRuntime.from_file(self.registry.resolve(c.policy))
        self.cameras = [o.name for o in rt.meta.obs if o.dtype == "uint8"]
        self.expected_obs = rt.meta.obs
        inputs = {"proprio": c.proprio_max_age_s, **{cam: c.camera_max_age_s for cam in self.cameras}}
        step = [c.max_ee_speed * self.period] * 3 + [c.max_yaw_rate * self.period]
        safety = SafetyConfig(max_step=step, max_velocity=[2 * c.max_ee_speed] * 3 + [2 * c.max_yaw_rate])
        self.core = ControlCore(rt, SafetyLayer(safety, self.period), Watchdog(inputs, c.resume_after_s),
                                ee_delta_command(step[0], step[3]))
        self.lock = threading.Lock()
        self.joints = self.ee = None
        self.gripper = 0.0
        self.images: dict[str, np.ndarray] = {}
        self.last_obs_ns = 0
        self.human_active = False
        self.human_action = np.zeros(5)
        self.create_subscription(JointState, "/joint_states", self._on_joints, qos("reliable", 10))
        self.create_subscription(PoseStamped, "/ee_pose", self._on_ee, qos("reliable", 10))
        self.create_subscription(Float64, "/gripper/opening", self._on_gripper, qos("reliable", 10))
        for cam in self.cameras:
            self.create_subscription(Image, f"/camera/{cam}/image_raw", lambda m, cam=cam: self._on_image(cam, m),
                                     qos("sensor"))
        self.create_subscription(Bool, "/teleop/intervention", self._on_intervention, qos("reliable"))
        self.create_subscription(Float64MultiArray, "/teleop/action", self._on_human_action, qos("reliable"))
        self.create_subscription(String, "/policy/update", self._on_update, qos("latched"))
        self.pub_pose = self.create_publisher(PoseStamped, "/command/ee_target", qos("reliable"))
        self.pub_grip = self.create_publisher(Float64, "/command/gripper", qos("reliable"))
        self.pub_step = self.create_publisher(Float64MultiArray, "/control/step", qos("reliable"))
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", qos("reliable", 10))
        self.period_err = SampleRecorder(1 << 18)
        self.latency = SampleRecorder(1 << 18)      # age of the newest proprio when the command goes out
        self.compute = SampleRecorder(1 << 18)      # tick start (observation read) -> command published
        self.max_gap_ns = 0
        self.overruns = 0
        self.ticks = 0
        self.swap_log: list[dict] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        self.get_logger().info(f"running {rt.version} at {c.rate_hz:g} Hz (inputs: {', '.join(inputs)})")

    # --- inputs ---------------------------------------------------------------------------------
    def _on_joints(self, msg):
        js = convert.msg_to_joint_state(msg)
        with self.lock:
            self.joints = js
            self.last_obs_ns = time.monotonic_ns()
            self.core.watchdog.update("proprio", self.last_obs_ns)

    def _on_ee(self, msg):
        pos, quat_xyzw, _ = convert.msg_to_pose(msg)
        with self.lock:
            self.ee = (pos, np.roll(quat_xyzw, 1))

    def _on_gripper(self, msg):
        with self.lock:
            self.gripper = float(msg.data)

    def _on_image(self, cam, msg):
        img = convert.msg_to_image(msg)
        with self.lock:
            self.images[cam] = img
            self.core.watchdog.update(cam, time.monotonic_ns())

    def _on_intervention(self, msg):
        with self.lock:
            self.human_active = bool(msg.data)

    def _on_human_action(self, msg):
        a = convert.multiarray_to_array(msg).reshape(-1)
        if a.shape == (5,):
            with self.lock:
                self.human_action = a

    def _on_update(self, msg):
        parts = msg.data.split()
        path, sha = (parts + [""])[:2] if parts else ("", "")
        threading.Thread(target=self._load_and_swap, args=(path, sha), daemon=True).start()

    def _load_and_swap(self, path: str, sha: str) -> None:
        """Off the loop thread: load, check, warm up; the loop sees the new policy at its next tick."""
        t0 = time.monotonic()
        try:
            resolved = str(self.registry.resolve(path))
        except Exception as exc:  # noqa: BLE001 - any bad reference is reported, never raised into rclpy
            resolved, rt, why = path, None, str(exc)
        else:
            rt, why = self.core.try_load(resolved, sha, expected_obs=self.expected_obs, expected_action_dim=5)
        if rt is None:
            self.get_logger().error(f"policy update refused, keeping {self.core.policy.version}: {why}")
            self.swap_log.append({"path": resolved, "ok": False, "why": why})
            return
        self.core.swap(rt)
        self.get_logger().info(f"swapped to {rt.version} (loaded in {time.monotonic() - t0:.2f} s)")
        self.swap_log.append({"path": resolved, "ok": True, "version": rt.version})

    # --- loop -----------------------------------------------------------------------------------
    def _observation(self):
        js, ee = self.joints, self.ee
        if js is None or ee is None:
            return None, None
        n = self.n_joints
        yaw = yaw_from_home(ee[1], self.home_quat)
        proprio = np.concatenate([js["position"][:n], js["velocity"][:n] if len(js["velocity"]) else np.zeros(n),
                                  ee[0], [yaw], [self.gripper]]).astype(np.float32)
        obs = {"proprio": proprio, **{c: self.images[c] for c in self.cameras if c in self.images}}
        return obs, np.append(ee[0], yaw)

    def _loop(self) -> None:
        next_t = time.monotonic_ns()
        prev = None
        period_ns = int(self.period * 1e9)
        last_diag = time.monotonic()
        while not self._stop.is_set():
            next_t += period_ns
            remaining = next_t - time.monotonic_ns()
            if remaining > 300_000:
                time.sleep((remaining - 200_000) / 1e9)
            while time.monotonic_ns() < next_t:  # the last 0.2 ms: spin for a precise tick
                pass
            now = time.monotonic_ns()
            if prev is not None:
                gap = now - prev
                self.period_err.add(abs(gap - period_ns))
                self.max_gap_ns = max(self.max_gap_ns, gap)
            prev = now
            try:
                self._tick(now)
            except Exception as exc:  # noqa: BLE001
                if not self.context.ok():  # shutting down: publishers are gone
                    return
                self.get_logger().error(f"control tick failed: {exc!r}")
            if time.monotonic_ns() > next_t + period_ns:
                self.overruns += 1
                next_t = time.monotonic_ns()  # don't burst to catch up
            if time.monotonic() - last_diag >= 1.0:
                last_diag = time.monotonic()
                self._diagnostics()

    def _tick(self, now: int) -> None:
        with self.lock:
            obs, state = self._observation()
            human = self.human_action.copy() if self.human_active else None
            obs_ns = self.last_obs_ns
        self.ticks += 1
        if obs is None:
            return  # nothing heard from the robot yet: send nothing
        rec = self.core.tick(now, obs, state, human_action=human)
        cmd = rec.command
        quat = yawed(self.home_quat, float(cmd[3]))
        self.pub_pose.publish(convert.pose_to_msg(cmd[:3], np.roll(quat, -1), 0, "world"))
        self.pub_grip.publish(Float64(data=float(cmd[4])))
        sent = time.monotonic_ns()
        self.latency.add(sent - obs_ns)
        self.compute.add(sent - now)
        pa = rec.policy_action if rec.policy_action is not None else np.full(5, np.nan)
        ha = rec.human_action if rec.human_action is not None else np.full(5, np.nan)
        row = np.concatenate([[float(now), float(rec.intervention), float(rec.hold is not None)], pa, ha, cmd])
        self.pub_step.publish(convert.array_to_multiarray(row, ["field"]))

    def _diagnostics(self) -> None:
        per, lat = summarize_ns(self.period_err.values()), summarize_ns(self.latency.values())
        status = DiagnosticStatus(name="control_node", hardware_id=self.config.robot,
                                  level=DiagnosticStatus.OK if not self.core.watchdog.holding else DiagnosticStatus.WARN,
                                  message="holding" if self.core.watchdog.holding else "running")
        values = {"policy": self.core.policy.version, "ticks": self.ticks, "overruns": self.overruns,
                  "period_error_p99_us": round(per["p99_us"], 1), "latency_p99_us": round(lat["p99_us"], 1),
                  "stale_events": self.core.watchdog.stale_events, "clamps": json.dumps(dict(self.core.safety.counts))}
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        msg = DiagnosticArray()
        msg.status = [status]
        self.pub_diag.publish(msg)
        self.get_logger().info(f"{values['policy']}: {self.ticks} ticks, period error p99 {per['p99_us']:.0f} us, "
                               f"obs->command p99 {lat['p99_us']:.0f} us, {self.overruns} overruns, "
                               f"{'HOLDING' if self.core.watchdog.holding else 'running'}, clamps {values['clamps']}")

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=2)
        if self.config.report_path:
            report = {"ticks": self.ticks, "overruns": self.overruns, "max_gap_ms": self.max_gap_ns / 1e6,
                      "period_error": summarize_ns(self.period_err.values()), "latency": summarize_ns(self.latency.values()),
                      "compute": summarize_ns(self.compute.values()),
                      "policy": self.core.policy.version, "swaps": self.swap_log, "clamps": dict(self.core.safety.counts),
                      "stale_events": self.core.watchdog.stale_events}
            with open(self.config.report_path, "w") as f:
                json.dump(report, f)


def main() -> None:
    main_entry(ControlNode)


if __name__ == "__main__":
    main()
