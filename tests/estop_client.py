"""Presses the e-stop of a running control node, watches its step records, resets it.

    python tests/estop_client.py   -> prints one JSON line with what it saw
"""
import json
import time

import rclpy
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import Trigger

from ros_nodes.runtime import qos

rclpy.init()
node = rclpy.create_node("estop_test_client")
steps = []
node.create_subscription(Float64MultiArray, "/control/step", lambda m: steps.append((time.monotonic(), list(m.data))),
                         qos("reliable"))
estop = node.create_publisher(Bool, "/control/estop", qos("reliable", 10))
reset = node.create_client(Trigger, "/control/reset_estop")


def spin_for(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.02)


def holds_since(t0):
    return [bool(row[2]) for t, row in steps if t >= t0]


def call_reset():
    fut = reset.call_async(Trigger.Request())
    rclpy.spin_until_future_complete(node, fut, timeout_sec=10)
    return fut.result()


end = time.monotonic() + 30
while time.monotonic() < end and not (steps and not steps[-1][1][2]):  # until the node acts
    spin_for(0.1)
reset.wait_for_service(timeout_sec=10)
out = {"acting_before": bool(steps) and not steps[-1][1][2]}
out["reset_when_not_stopped"] = call_reset().success
t_press = time.monotonic()
estop.publish(Bool(data=True))
spin_for(0.3)
t_latched = time.monotonic()
estop.publish(Bool(data=False))  # releasing the button is not a reset
spin_for(1.0)
out["held_after_press"] = holds_since(t_latched)
res = call_reset()
out["reset"] = {"success": res.success, "message": res.message}
t_reset = time.monotonic()
spin_for(1.5)
out["after_reset"] = holds_since(t_reset + 0.3)
print(json.dumps(out), flush=True)
rclpy.shutdown()
