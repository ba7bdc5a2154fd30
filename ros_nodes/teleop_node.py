"""The teleop node: reads a teleop device (keyboard in this terminal, gamepad, SpaceMouse) at a
fixed rate and publishes what the control node and the recorder consume (glue around
robot_rl.teleop).

Publishes /teleop/action (Float64MultiArray [dx, dy, dz, dyaw, gripper] in [-1, 1]),
/teleop/intervention (Bool, on every read), /teleop/twist (TwistStamped: the same motion for
tools like rviz), /teleop/event (String: success, failure, rerecord, end_episode,
intervention_on/off) and, on the e-stop key/button, /control/estop (Bool true).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ros_nodes.runtime import NodeConfig, RobotRLNode, main_entry, qos

from ros_nodes import convert  # noqa: E402
from geometry_msgs.msg import TwistStamped  # noqa: E402
from std_msgs.msg import Bool, Float64MultiArray, String  # noqa: E402

from robot_rl.config import ConfigError  # noqa: E402
from robot_rl.teleop import KeyboardTeleop, TeleopConfig, TeleopError, open_device  # noqa: E402


@dataclass
class TeleopNodeConfig(NodeConfig):
    device: Literal["keyboard", "gamepad", "spacemouse"] = "keyboard"
    rate_hz: float = 50.0
    deadzone: float = 0.1
    intervention: Literal["toggle", "motion"] = "toggle"
    # the control node's command mode: ee sends [dx, dy, dz, dyaw, grip], ee_rpy also roll and pitch
    mode: Literal["ee", "ee_rpy"] = "ee"
    gamepad_path: str = "/dev/input/js0"

    def validate(self) -> None:
        if not 1 <= self.rate_hz <= 1000:
            raise ValueError(f"rate_hz must be 1..1000, got {self.rate_hz:g}")


class TeleopNode(RobotRLNode):
    def __init__(self):
        super().__init__("teleop_node", TeleopNodeConfig)
        c = self.config
        tcfg = TeleopConfig(deadzone=c.deadzone, intervention=c.intervention, mode=c.mode)
        kwargs = {"path": c.gamepad_path} if c.device == "gamepad" else {}
        try:
            self.device = open_device(c.device, tcfg, **kwargs)
        except (TeleopError, ValueError) as exc:
            raise ConfigError(str(exc)) from None
        self.pub_action = self.create_publisher(Float64MultiArray, "/teleop/action", qos("reliable", 10))
        self.pub_intervention = self.create_publisher(Bool, "/teleop/intervention", qos("reliable", 10))
        self.pub_twist = self.create_publisher(TwistStamped, "/teleop/twist", qos("reliable", 10))
        self.pub_event = self.create_publisher(String, "/teleop/event", qos("reliable", 100))
        self.pub_estop = self.create_publisher(Bool, "/control/estop", qos("reliable", 10))
        self.failed = False
        self.create_timer(1.0 / c.rate_hz, self._tick)
        hint = f" ({KeyboardTeleop.HELP})" if c.device == "keyboard" else ""
        self.get_logger().info(f"teleop from {c.device} at {c.rate_hz:g} Hz{hint}")

    def _tick(self) -> None:
        try:
            cmd = self.device.read()
        except TeleopError as exc:  # unplugged: stop intervening, say so once, stop the node
            if not self.failed:
                self.failed = True
                self.pub_intervention.publish(Bool(data=False))
                self.get_logger().error(str(exc))
                self.stop(1)
            return
        for event in cmd.events:
            if event == "estop":
                self.pub_estop.publish(Bool(data=True))
            self.pub_event.publish(String(data=event))
            self.get_logger().info(f"event: {event}")
        self.pub_action.publish(convert.array_to_multiarray(cmd.action, ["action"]))
        self.pub_intervention.publish(Bool(data=cmd.intervening))
        rot = cmd.action[3:6] if self.config.mode == "ee_rpy" else [0.0, 0.0, cmd.action[3]]
        self.pub_twist.publish(convert.twist_to_msg(cmd.action[:3], rot, cmd.t_ns, "teleop"))

    def close(self) -> None:
        self.device.close()


def main() -> None:
    main_entry(TeleopNode)


if __name__ == "__main__":
    main()
