"""Publishes policy updates to a running control node, one every `gap` seconds: references on
/policy/update, or with --model policies by value on /policy/model (each FILE holds one payload of
robot_rl.policy.transfer, as a learner node with `send: value` publishes it).

    python tests/control_client.py GAP "path sha" ["path sha" ...]
    python tests/control_client.py GAP --model FILE [FILE ...]
"""
import pathlib
import sys
import time

import rclpy
from std_msgs.msg import String, UInt8MultiArray

from ros_nodes.runtime import qos

by_value = sys.argv[2] == "--model"
items = sys.argv[3:] if by_value else sys.argv[2:]
rclpy.init()
node = rclpy.create_node("control_test_client")
if by_value:   # as the node subscribes
    pub = node.create_publisher(UInt8MultiArray, "/policy/model", qos("latched"))
    messages = [UInt8MultiArray(data=pathlib.Path(f).read_bytes()) for f in items]
else:
    pub = node.create_publisher(String, "/policy/update", qos("latched"))
    messages = [String(data=update) for update in items]
end = time.monotonic() + 20
while pub.get_subscription_count() == 0 and time.monotonic() < end:
    rclpy.spin_once(node, timeout_sec=0.05)
time.sleep(0.5)
for msg in messages:
    pub.publish(msg)
    t = time.monotonic()
    while time.monotonic() - t < float(sys.argv[1]):
        rclpy.spin_once(node, timeout_sec=0.05)
rclpy.shutdown()
