"""A ROS client process for the sim node tests (runs in the prepared ROS environment).

    python tests/sim_client.py lockstep TASK SEED STEPS OUT.json   # drive the node and a gym env side by side
    python tests/sim_client.py bad OUT.json                        # bad commands, then one good one
    python tests/sim_client.py realtime OUT.json                   # watch a realtime node, send one target
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from ros_nodes import convert
from ros_nodes.runtime import qos


class Client:
    def __init__(self):
        rclpy.init()
        self.node = rclpy.create_node("sim_test_client")
        self.states: list[dict] = []
        self.images = 0
        self.node.create_subscription(JointState, "/joint_states", lambda m: self.states.append(convert.msg_to_joint_state(m)), qos("latched", 10))
        self.node.create_subscription(Image, "/camera/front/image_raw", self._image, qos("sensor"))
        self.joints = self.node.create_publisher(Float64MultiArray, "/command/joint_positions", qos("reliable"))
        self.pose = self.node.create_publisher(PoseStamped, "/command/ee_target", qos("reliable"))
        self.traj = self.node.create_publisher(JointTrajectory, "/command/joint_trajectory", qos("reliable"))

    def _image(self, msg):
        self.images += 1

    def wait(self, pred, timeout=20.0):
        end = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > end:
                raise TimeoutError("no answer from the sim node")
            rclpy.spin_once(self.node, timeout_sec=0.05)

    def connect(self):
        self.wait(lambda: self.joints.get_subscription_count() > 0 and self.pose.get_subscription_count() > 0
                  and self.traj.get_subscription_count() > 0 and self.node.count_publishers("/joint_states") > 0)
        time.sleep(0.5)  # let discovery settle both ways
        self.wait(lambda: len(self.states) > 0)  # the robot's current state (kept for late joiners)

    def newer_state(self, send):
        """Send a command, then wait for the state the node publishes after stepping (a later stamp)."""
        last = max((s["stamp_ns"] for s in self.states), default=-1)
        send()
        self.wait(lambda: self.states and self.states[-1]["stamp_ns"] > last)
        return self.states[-1]

    def send_joints(self, values):
        return self.newer_state(lambda: self.joints.publish(convert.array_to_multiarray(np.asarray(values, dtype=np.float64))))


def lockstep(task, seed, steps, out):
    from robot_rl.sim import make
    from robot_rl.sim.experts import make_expert
    c = Client()
    c.connect()
    env = make(task, cameras=[])
    obs, info = env.reset(seed=seed)
    expert = make_expert(env, seed=seed, noise_std=0.2)
    diffs, stamps = [], []
    for _ in range(steps):
        a = expert.act(obs, info)
        target = env.joint_targets(a)
        obs, _, term, trunc, info = env.step(a)
        state = c.send_joints(np.concatenate([target, [a[-1]]]))
        diffs.append(float(np.max(np.abs(state["position"] - env.q))))
        stamps.append(state["stamp_ns"])
        if term or trunc:
            break
    json.dump({"steps": len(diffs), "max_diff": max(diffs), "identical": all(d == 0.0 for d in diffs),
               "stamps": stamps, "success": bool(info["success"])}, open(out, "w"))


def bad(out):
    c = Client()
    c.connect()
    c.wait(lambda: len(c.states) > 0)
    q0 = c.states[-1]["position"].copy()
    moved = {}
    cases = {
        "nan_joints": lambda: c.joints.publish(convert.array_to_multiarray(np.full(6, np.nan))),
        "wrong_size": lambda: c.joints.publish(convert.array_to_multiarray(np.zeros(3))),
        "beyond_limits": lambda: c.joints.publish(convert.array_to_multiarray(q0 + np.array([10, 0, 0, 0, 0, 0]))),
        "too_fast": lambda: c.joints.publish(convert.array_to_multiarray(q0 + 1.0)),
        "nan_pose": lambda: c.pose.publish(convert.pose_to_msg([np.nan, 0, 0.2], [0, 0, 0, 1], 0, "world")),
        "outside_workspace": lambda: c.pose.publish(convert.pose_to_msg([2.0, 0, 0.2], [1, 0, 0, 0], 0, "world")),
        "trajectory_wrong_names": lambda: c.traj.publish(convert.trajectory_to_msg(["a", "b"], np.zeros((1, 2)), [0])),
    }
    for name, send in cases.items():
        moved[name] = float(np.max(np.abs(c.newer_state(send)["position"] - q0)))
    good = c.send_joints(q0 + 0.05)
    json.dump({"moved": moved, "good_moved": float(np.max(np.abs(good["position"] - q0)))}, open(out, "w"))


def realtime(out):
    c = Client()
    c.connect()
    c.wait(lambda: len(c.states) > 3 and c.images > 0)
    t0 = time.monotonic()
    n0, i0 = len(c.states), c.images
    c.wait(lambda: time.monotonic() - t0 > 2.0, timeout=10)
    rate = (len(c.states) - n0) / (time.monotonic() - t0)
    image_rate = (c.images - i0) / (time.monotonic() - t0)
    q0 = c.states[-1]["position"].copy()
    c.joints.publish(convert.array_to_multiarray(q0 + 0.05))  # within 2 rad/s at 30 Hz
    t1 = time.monotonic()
    c.wait(lambda: time.monotonic() - t1 > 1.0, timeout=10)
    json.dump({"state_rate": rate, "image_rate": image_rate,
               "moved": float(np.max(np.abs(c.states[-1]["position"] - q0))),
               "stamps_increase": bool(np.all(np.diff([s["stamp_ns"] for s in c.states]) > 0))}, open(out, "w"))


if __name__ == "__main__":
    mode = sys.argv[1]
    try:
        if mode == "lockstep":
            lockstep(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        elif mode == "bad":
            bad(sys.argv[2])
        else:
            realtime(sys.argv[2])
    finally:
        rclpy.try_shutdown()
