"""Listens for SECONDS to the control node's step records (tick time, hold flag) and to a camera's
frames (receive time, monotonic clock like the ticks), and prints them as one JSON line.

    python tests/step_listener.py SECONDS CAMERA
"""
import json
import sys
import time

import rclpy
from sensor_msgs.msg import Image
from std_msgs.msg import Float64MultiArray

from ros_nodes.runtime import qos

rclpy.init()
node = rclpy.create_node("step_test_listener")
heard = {"steps": [], "frames": []}
node.create_subscription(Float64MultiArray, "/control/step",
                         lambda m: heard["steps"].append([int(m.data[0]), bool(m.data[2])]), qos("reliable"))
node.create_subscription(Image, f"/camera/{sys.argv[2]}/image_raw",
                         lambda m: heard["frames"].append(time.monotonic_ns()), qos("sensor", 10))
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    rclpy.spin_once(node, timeout_sec=0.02)
print(json.dumps(heard), flush=True)
rclpy.shutdown()
