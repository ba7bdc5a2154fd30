"""Publishes policy payloads (robot_rl.policy.transfer) on /policy/model, one every `gap` seconds,
as a learner node with `send: value` does.

    python tests/policy_sender.py GAP FILE [FILE ...]     # each FILE holds one payload's bytes
"""
import pathlib
import sys
import time

import rclpy
from std_msgs.msg import UInt8MultiArray

from ros_nodes.runtime import qos

rclpy.init()
node = rclpy.create_node("policy_sender")
pub = node.create_publisher(UInt8MultiArray, "/policy/model", qos("latched"))  # as the node subscribes
end = time.monotonic() + 20
while pub.get_subscription_count() == 0 and time.monotonic() < end:
    rclpy.spin_once(node, timeout_sec=0.05)
time.sleep(0.5)
for name in sys.argv[2:]:
    pub.publish(UInt8MultiArray(data=pathlib.Path(name).read_bytes()))
    t = time.monotonic()
    while time.monotonic() - t < float(sys.argv[1]):
        rclpy.spin_once(node, timeout_sec=0.05)
rclpy.shutdown()
