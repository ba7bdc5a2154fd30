"""The simulated robot on the robot's ROS 2 interface (glue around robot_rl.sim.server.SimServer).

Publishes /joint_states, /ee_pose, /gripper/opening, /camera/<name>/image_raw + camera_info,
/task/success, /reward (the task's reward, once per step) and /clock (sim time, which stamps
everything). Accepts /command/ee_target
(PoseStamped, as Cartesian impedance controllers take it; stamped with the state it was computed
from: a stamp ahead of sim time was sent before a /sim/reset and is dropped), /command/joint_positions
(Float64MultiArray of the arm's joints, as ros2_control's forward_command_controller takes it,
optionally one more value: the gripper command in [-1 closed, 1 open]), /command/joint_trajectory
(the first point is the target for the next period) and /command/gripper (Float64). Service
/sim/reset (std_srvs/Trigger) starts the next episode; its reply says "episode N seed S t_ns=T
stamp_ns=X": T is when the new scene was made (CLOCK_MONOTONIC), where a recorder starts the
episode, and X the sim time it starts at (sim time runs on across episodes; anything stamped
earlier belongs to the previous scene).

operator=expert|corrector: the scripted expert, or the simulated human corrector watching the control
node's policy (its /control/step records), sits at the teleop device (robot_rl.sim.operator) and publishes
what the teleop node publishes (/teleop/action, /teleop/intervention, /teleop/event) after every
step, so `robot-rl record --sim` collects demonstrations unattended; it starts driving when the
recorder announces an episode on /episode/event ("start ...").

mode=realtime: a paced thread steps the sim at control_hz with the latest accepted targets and logs
its real-time factor. mode=lockstep: each arm command advances exactly one control period, then
the new state is published, for deterministic tests; while no command comes, the state (not the
images) is re-published every 0.5 s. Bad commands are rejected, counted and
logged; the robot holds. The node never dies on input.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from ros_nodes.runtime import NodeConfig, RobotRLNode, main_entry, qos

from ros_nodes import convert  # noqa: E402  (after runtime: environment prepared)
from geometry_msgs.msg import PoseStamped  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, JointState  # noqa: E402
from std_msgs.msg import Bool, Float64, Float64MultiArray, String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from robot_rl import config  # noqa: E402
from robot_rl.robot import DEFAULT_ROBOT  # noqa: E402
from robot_rl.control.step_row import StepRow  # noqa: E402
from robot_rl.sim.corrector import CorrectorConfig  # noqa: E402
from robot_rl.sim.env import SimConfig  # noqa: E402
from robot_rl.stats import SampleRecorder, summarize_ns  # noqa: E402
from robot_rl.sim.operator import SimOperator  # noqa: E402
from robot_rl.sim.server import SimServer, SimServerConfig  # noqa: E402

if TYPE_CHECKING:
    from robot_rl.sim.gym_server import GymServer


@dataclass
class SimRobotConfig(NodeConfig):
    # an adapted Gymnasium env's mapping (robot_rl.sim.gym_env; docs/ENVS.md): the robot, task,
    # cameras and image size are the mapping's, and task/robot/physics_hz/image_* here are not used
    env: str = ""
    task: str = "pick_cube"
    robot: str = DEFAULT_ROBOT   # a builtin robot (robot-rl robots) or a description YAML's path
    seed: int = 0
    mode: Literal["realtime", "lockstep"] = "realtime"
    control_hz: float = 10.0
    physics_hz: float = 500.0
    cameras: str = "front,wrist"          # comma-separated; "" for none
    image_width: int = 128
    image_height: int = 128
    camera_every: int = 1                 # publish images every N control periods
    max_joint_speed: float = 3.0
    max_ee_speed: float = 0.6
    report_path: str = ""                 # JSON at shutdown: steps, rtf, accepted, rejected by reason
    duration_s: float = 0.0               # realtime: stop after this much wall time (0: never)
    # a simulated operator on the teleop topics: the expert drives (demonstrations), or the corrector
    # watches the control node's policy (its /control/step records) and takes over when it errs
    operator: Literal["none", "expert", "corrector"] = "none"
    operator_noise: float = 0.0           # std of Gaussian noise on the operator's actions
    operator_success_hold: int = 3        # steps the task must hold before the operator presses success
    # the corrector's judge (robot_rl.sim.corrector): "progress" takes over when the task stops
    # advancing or goes backwards, "plan" when the policy leaves the expert's route
    corrector_judge: Literal["plan", "progress"] = CorrectorConfig.judge

    def validate(self) -> None:
        if self.camera_every < 1 or self.duration_s < 0:
            raise ValueError("camera_every must be >= 1 and duration_s >= 0")

    def server_config(self) -> SimServerConfig:
        cams = [c for c in self.cameras.split(",") if c]
        sim = config.from_dict(SimConfig, {"task": self.task, "robot": self.robot,
                                           "control_hz": self.control_hz, "physics_hz": self.physics_hz,
                                           "cameras": cams, "image_size": [self.image_height, self.image_width]})
        return SimServerConfig(sim=sim, seed=self.seed, max_joint_speed=self.max_joint_speed,
                               max_ee_speed=self.max_ee_speed)

    def make_server(self) -> "SimServer | GymServer":
        if self.env:
            from robot_rl.sim.gym_env import GymRobotEnv
            return GymRobotEnv(self.env).server(self.seed, max_ee_speed=self.max_ee_speed)
        return SimServer(self.server_config())


class SimRobot(RobotRLNode):
    def __init__(self):
        super().__init__("sim_robot", SimRobotConfig)
        c = self.config
        self.server = c.make_server()
        self.lock = threading.Lock()
        self.steps = 0
        self.rtf = 0.0
        self.step_ns = SampleRecorder(1 << 16)  # time to step, render and publish one period
        # Robot state is reliable and kept for late joiners (transient local, last 10): a client that
        # connects to an idle lockstep sim still learns where the robot is.
        state_qos = qos("latched", 10)
        self.pub_joints = self.create_publisher(JointState, "/joint_states", state_qos)
        self.pub_ee = self.create_publisher(PoseStamped, "/ee_pose", state_qos)
        self.pub_gripper = self.create_publisher(Float64, "/gripper/opening", state_qos)
        self.pub_success = self.create_publisher(Bool, "/task/success", state_qos)
        # the task's reward of each step, once per step (the recorder stores it with the step)
        self.pub_reward = self.create_publisher(Float64, "/reward", qos("reliable", 10))
        self.pub_clock = self.create_publisher(Clock, "/clock", qos("reliable", 10))
        # Images reliable (depth 5): a recorder that asks for reliable delivery gets every frame; a
        # best-effort subscriber (the control loop) still matches.
        self.pub_images = {cam: (self.create_publisher(Image, f"/camera/{cam}/image_raw", qos("reliable", 5)),
                                 self.create_publisher(CameraInfo, f"/camera/{cam}/camera_info", qos("sensor")))
                           for cam in self.server.cameras}
        self.create_subscription(PoseStamped, "/command/ee_target", self._on_ee, qos("reliable"))
        self.create_subscription(Float64MultiArray, "/command/joint_positions", self._on_joints, qos("reliable"))
        self.create_subscription(JointTrajectory, "/command/joint_trajectory", self._on_trajectory, qos("reliable"))
        self.create_subscription(Float64, "/command/gripper", self._on_gripper, qos("reliable"))
        self.create_service(Trigger, "/sim/reset", self._on_reset)
        self.operator = None
        if c.operator != "none":
            self.operator = SimOperator(self.server, noise_std=c.operator_noise, seed=c.seed, mode=c.operator,
                                        success_hold_steps=c.operator_success_hold,
                                        corrector=CorrectorConfig(judge=c.corrector_judge))
            self.pub_teleop = self.create_publisher(Float64MultiArray, "/teleop/action", qos("reliable", 10))
            self.pub_intervention = self.create_publisher(Bool, "/teleop/intervention", qos("reliable", 10))
            self.pub_event = self.create_publisher(String, "/teleop/event", qos("reliable", 100))
            self.create_subscription(String, "/episode/event", self._on_episode_event, qos("reliable", 10))
            if c.operator == "corrector":
                self.create_subscription(Float64MultiArray, "/control/step", self._on_step, qos("reliable", 10))
        # OpenGL contexts belong to one thread: in realtime mode only the stepping thread renders.
        self._publish(images=c.mode == "lockstep")
        self._stop = threading.Event()
        self._last_publish = time.monotonic()
        if c.mode == "lockstep":
            # An idle lockstep robot still says where it is (no step, no images), as a driver does:
            # a controller that subscribed after the last step would otherwise never hear of it.
            self.create_timer(0.5, self._idle_publish)
        if c.mode == "realtime":
            self.thread = threading.Thread(target=self._realtime_loop, daemon=True)
            self.thread.start()
        self.get_logger().info(f"{self.server.env.cfg.task} on {self.server.env.cfg.robot}{' (' + c.env + ')' if c.env else ''}, seed {c.seed}, {c.mode} at {c.control_hz:g} Hz, "
                               f"cameras {list(self.pub_images) or 'none'}")

    # --- commands -------------------------------------------------------------------------------
    def _handled(self, result: tuple[bool, str], what: str, advance: bool) -> None:
        ok, reason = result
        if not ok:
            self.get_logger().warning(f"rejected {what}: {reason} (holding; "
                                      f"{sum(self.server.rejected.values())} rejected so far)")
        if advance and self.config.mode == "lockstep":
            try:
                self._advance()
            except BaseException as exc:  # noqa: BLE001
                if self.context.ok() and not isinstance(exc, KeyboardInterrupt):
                    raise
                # shutting down: a command that arrived as the signal did or the publishers went away

    def _on_joints(self, msg: Float64MultiArray) -> None:
        with self.lock:
            try:
                values = convert.multiarray_to_array(msg).reshape(-1)
            except Exception:  # noqa: BLE001 - a malformed message is a rejection, never a crash
                values = None
            n = len(self.server.joint_names)
            if values is None or values.size not in (n, n + 1):
                result = self.server.reject("wrong_size" if values is not None else "malformed")
            else:
                result = self.server.command_joints(values[:n], float(values[n]) if values.size == n + 1 else None)
            self._handled(result, "joint_positions", advance=True)

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        with self.lock:
            try:
                traj = convert.msg_to_trajectory(msg)
                order = [traj["joint_names"].index(j) for j in self.server.joint_names]
                result = self.server.command_joints(traj["positions"][0, order])
            except Exception:  # noqa: BLE001 - names missing, no points, ragged points
                result = self.server.reject("malformed")
            self._handled(result, "joint_trajectory", advance=True)

    def _on_ee(self, msg: PoseStamped) -> None:
        with self.lock:
            pos, quat_xyzw, stamp_ns = convert.msg_to_pose(msg)
            if 0 < stamp_ns < self.server.reset_stamp_ns:
                # computed from the scene before the last reset and delivered after it. Dropped
                # without stepping (lockstep would otherwise step the new episode with the old
                # one's command). Stamp 0: an unstamped command, not checked.
                self.server.rejected["before_reset"] += 1
                return
            result = self.server.command_ee(pos, np.roll(quat_xyzw, 1))
            self._handled(result, "ee_target", advance=True)

    def _on_gripper(self, msg: Float64) -> None:
        with self.lock:
            self._handled(self.server.command_gripper(float(msg.data)), "gripper", advance=False)

    def _on_step(self, msg: Float64MultiArray) -> None:
        """The policy's action in the control node's step record (ee command mode: 5 actions)."""
        try:
            step = StepRow.from_row(np.asarray(msg.data), self.server.env.layout.dim, 5)
        except ValueError:
            return   # joint command mode, or another robot: nothing the corrector can judge
        with self.lock:
            self.operator.observe_policy(step.policy_action)

    def _on_episode_event(self, msg: String) -> None:
        if msg.data.startswith("start"):
            with self.lock:
                self.operator.start()

    def _on_reset(self, request, response):
        with self.lock:
            self.server.reset()
            done_ns = time.monotonic_ns()  # the new scene exists: where a recorder starts the episode
            if self.operator is not None:
                self.operator.reset()
            self._publish(images=self.config.mode == "lockstep")
        response.success = True
        response.message = (f"episode {self.server.episode} seed {self.server.seed} t_ns={done_ns} "
                            f"stamp_ns={self.server.reset_stamp_ns}")
        return response

    # --- stepping -------------------------------------------------------------------------------
    def _advance(self) -> None:
        self.server.step()
        self.steps += 1
        self.pub_reward.publish(Float64(data=float(self.server.reward)))
        self._publish(images=self.steps % self.config.camera_every == 0)

    def _publish(self, images: bool, operator: bool = True) -> None:
        self._last_publish = time.monotonic()
        s = self.server.state()
        t = s["sim_time_ns"]
        clock = Clock()
        clock.clock = convert.ns_to_stamp(t)
        self.pub_clock.publish(clock)
        self.pub_joints.publish(convert.joint_state_to_msg(self.server.joint_names, s["q"], s["qd"], s["effort"], t))
        self.pub_ee.publish(convert.pose_to_msg(s["ee_pos"], np.roll(s["ee_quat_wxyz"], -1), t, "world"))
        if self.server.env.description.has_gripper:
            self.pub_gripper.publish(Float64(data=float(s["gripper"])))
        self.pub_success.publish(Bool(data=bool(s["success"])))
        if self.operator is not None and operator:
            cmd = self.operator.command()
            for event in cmd.events:
                self.pub_event.publish(String(data=event))
            self.pub_teleop.publish(convert.array_to_multiarray(cmd.action, ["action"]))
            self.pub_intervention.publish(Bool(data=cmd.intervening))
        if images:
            h, w = self.server.env.cfg.image_size
            for cam, image in self.server.images().items():
                pub_image, pub_info = self.pub_images[cam]
                pub_image.publish(convert.image_to_msg(image, "rgb8", t, cam))
                pub_info.publish(convert.camera_info_to_msg(w, h, self.server.camera_intrinsics(cam), stamp_ns=t,
                                                            frame_id=cam))

    def _idle_publish(self) -> None:
        with self.lock:
            if time.monotonic() - self._last_publish >= 0.5:
                self._publish(images=False, operator=False)

    def _realtime_loop(self) -> None:
        c = self.config
        period = 1.0 / c.control_hz
        with self.lock:
            self.server.images()  # make the OpenGL context now (~0.3 s), not inside the first period
        start = time.monotonic()
        sim0 = self.server.sim_time_ns() / 1e9
        next_tick = start
        last_log = start
        try:
            self._pace(c, period, start, sim0, next_tick, last_log)
        finally:
            self.server.env.close()  # the renderer's context belongs to this thread

    def _pace(self, c, period, start, sim0, next_tick, last_log) -> None:
        while not self._stop.is_set():
            next_tick += period
            t_step = time.perf_counter_ns()
            try:
                with self.lock:
                    self._advance()
            except Exception as exc:  # noqa: BLE001
                if not self.context.ok():  # shutting down: publishers are gone
                    return
                self.get_logger().error(f"sim step failed: {exc!r}")
            self.step_ns.add(time.perf_counter_ns() - t_step)
            now = time.monotonic()
            self.rtf = (self.server.sim_time_ns() / 1e9 - sim0) / max(now - start, 1e-9)
            if now - last_log >= 5.0:
                last_log = now
                self.get_logger().info(f"real-time factor {self.rtf:.2f} over {now - start:.0f} s, {self.steps} steps")
            if c.duration_s and now - start >= c.duration_s:
                self.stop(0)
                return
            delay = next_tick - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -3 * period:
                next_tick = time.monotonic()  # far behind (a stall): give up those periods, don't burst
            # else a little late (GC, scheduling): step again at once and catch up with the clock

    def close(self) -> None:
        self._stop.set()
        if self.config.mode == "realtime":
            self.thread.join(timeout=10)
        else:
            self.server.env.close()
        if self.config.report_path:
            with self.lock:
                report = {"steps": self.steps, "rtf": self.rtf, "step_time": summarize_ns(self.step_ns.values()), "accepted": self.server.accepted,
                          "rejected": dict(self.server.rejected), "episode": self.server.episode,
                          "success": bool(self.server.success), "q": self.server.env.q.tolist()}
            with open(self.config.report_path, "w") as f:
                json.dump(report, f)


def main() -> None:
    main_entry(SimRobot)


if __name__ == "__main__":
    main()
