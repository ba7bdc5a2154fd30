"""Listens to the teleop topics for SECONDS and prints what it heard as one JSON line.

    python tests/teleop_listener.py SECONDS
"""
import json
import sys
import time

import rclpy
from std_msgs.msg import Bool, Float64MultiArray, String

from ros_nodes.runtime import qos

rclpy.init()
node = rclpy.create_node("teleop_test_listener")
heard = {"action": [], "intervention": [], "event": []}
node.create_subscription(Float64MultiArray, "/teleop/action", lambda m: heard["action"].append(list(m.data)),
                         qos("reliable", 10))
node.create_subscription(Bool, "/teleop/intervention", lambda m: heard["intervention"].append(m.data), qos("reliable", 10))
node.create_subscription(String, "/teleop/event", lambda m: heard["event"].append(m.data), qos("reliable", 100))
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    rclpy.spin_once(node, timeout_sec=0.05)
print(json.dumps(heard), flush=True)
rclpy.shutdown()
