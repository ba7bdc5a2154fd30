"""The MCAP node: records the robot's topics, raw (CDR bytes as they arrived, no decoding), into one
MCAP file beside the store while `robot-rl record --mcap` runs, for Foxglove and rosbag2
(glue around robot_rl.mcap_log). Log time = receive time on this machine's clock; each message
keeps its own header stamp. SIGINT/SIGTERM closes the file with its index.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from ros_nodes.runtime import NodeConfig, RobotRLNode, main_entry, qos

from ros_nodes.topic_monitor import message_class  # noqa: E402
from robot_rl.mcap_log import McapLog  # noqa: E402

# The robot's interface (README, "ROS 2 interface"): topic -> type. Cameras are added per name.
TOPICS = {
    "/joint_states": "sensor_msgs/msg/JointState",
    "/ee_pose": "geometry_msgs/msg/PoseStamped",
    "/gripper/opening": "std_msgs/msg/Float64",
    "/reward": "std_msgs/msg/Float64",
    "/teleop/action": "std_msgs/msg/Float64MultiArray",
    "/teleop/intervention": "std_msgs/msg/Bool",
    "/teleop/event": "std_msgs/msg/String",
    "/episode/event": "std_msgs/msg/String",
    "/control/step": "std_msgs/msg/Float64MultiArray",
    "/command/ee_target": "geometry_msgs/msg/PoseStamped",
    "/command/gripper": "std_msgs/msg/Float64",
    "/command/joint_positions": "std_msgs/msg/Float64MultiArray",
    "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
}


@dataclass
class McapNodeConfig(NodeConfig):
    path: str = "recording.mcap"
    cameras: str = "front,wrist"       # /camera/<name>/image_raw and camera_info
    # images as the recorder takes them: reliable, every frame of a reliable publisher (the
    # simulator's; best effort lost frames on a loaded machine); sensor (best effort) matches any
    # camera driver. camera_info is best effort either way
    camera_qos: Literal["reliable", "sensor"] = "sensor"

    def validate(self) -> None:
        if not self.path.endswith(".mcap"):
            raise ValueError(f"path must end in .mcap, got {self.path!r}")


class McapNode(RobotRLNode):
    def __init__(self):
        super().__init__("mcap", McapNodeConfig)
        c = self.config
        topics = dict(TOPICS)
        for cam in (x.strip() for x in c.cameras.split(",") if x.strip()):
            topics[f"/camera/{cam}/image_raw"] = "sensor_msgs/msg/Image"
            topics[f"/camera/{cam}/camera_info"] = "sensor_msgs/msg/CameraInfo"
        self.log = McapLog(c.path)
        self.subs = []
        for topic, datatype in topics.items():
            channel = self.log.channel(topic, datatype)
            profile = (qos(c.camera_qos, 10) if topic.endswith("/image_raw") else
                       qos("sensor", 10) if topic.startswith("/camera/") else qos("reliable", 100))
            self.subs.append(self.create_subscription(message_class(datatype), topic,
                                                      lambda data, t=topic, ch=channel: self.log.write(ch, t, data,
                                                                                                       time.time_ns()),
                                                      profile, raw=True))
        self.get_logger().info(f"recording {len(topics)} topics to {c.path}")

    def close(self) -> None:
        self.log.close()
        self.get_logger().info(f"{self.config.path}: {sum(self.log.counts.values())} messages on "
                               f"{len(self.log.counts)} topics")


if __name__ == "__main__":
    main_entry(McapNode)
