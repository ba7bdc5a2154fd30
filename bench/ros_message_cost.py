"""In-process cost of turning images into ROS 2 messages and back (no transport).

Times, per frame: ros_nodes.convert.image_to_msg (numpy -> Image, one copy), rclpy serialization
(Python message -> C -> CDR bytes), deserialization (CDR -> Python message) and
convert.msg_to_image (zero-copy view). Subtract these from bench/ros_transport.py's latency to see
what the DDS transport itself costs.

    .venv/bin/python bench/ros_message_cost.py [--frames 100]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

from robot_rl import ros_env

ros_env.ensure_prepared()

import numpy as np  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from ros_nodes import convert  # noqa: E402

SIZES = [(480, 640), (720, 1280)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100)
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'rgb8 frame':<12} {'MB':>5} {'build ms':>9} {'serialize':>10} {'deserialize':>12} {'view':>7}  (p50 over {args.frames})")
    rng = np.random.default_rng(0)
    for h, w in SIZES:
        image = (rng.random((h, w, 3)) * 255).astype(np.uint8)
        t = np.zeros((args.frames, 4))
        for i in range(args.frames):
            t0 = time.perf_counter()
            msg = convert.image_to_msg(image, "rgb8", time.time_ns())
            t1 = time.perf_counter()
            data = serialize_message(msg)
            t2 = time.perf_counter()
            back = deserialize_message(data, Image)
            t3 = time.perf_counter()
            convert.msg_to_image(back)
            t4 = time.perf_counter()
            t[i] = (t1 - t0, t2 - t1, t3 - t2, t4 - t3)
        p50 = np.median(t, axis=0) * 1e3
        print(f"{w}x{h:<8} {image.nbytes / 1e6:>5.2f} {p50[0]:>9.2f} {p50[1]:>10.2f} {p50[2]:>12.2f} {p50[3]:>7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
