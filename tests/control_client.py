"""Publishes /policy/update messages to a running control node, one every `gap` seconds.

    python tests/control_client.py GAP "path sha" ["path sha" ...]
"""
import sys
import time

import rclpy
from std_msgs.msg import String

from ros_nodes.runtime import qos

rclpy.init()
node = rclpy.create_node("control_test_client")
pub = node.create_publisher(String, "/policy/update", qos("latched"))  # as the node subscribes
end = time.monotonic() + 20
while pub.get_subscription_count() == 0 and time.monotonic() < end:
    rclpy.spin_once(node, timeout_sec=0.05)
time.sleep(0.5)
for update in sys.argv[2:]:
    pub.publish(String(data=update))
    t = time.monotonic()
    while time.monotonic() - t < float(sys.argv[1]):
        rclpy.spin_once(node, timeout_sec=0.05)
rclpy.shutdown()
