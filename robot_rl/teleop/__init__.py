"""Teleoperation: devices (keyboard, gamepad, SpaceMouse) -> end-effector delta actions + events."""
from robot_rl.teleop.base import (ACTION_NAMES, EVENTS, TeleopCommand, TeleopConfig, TeleopDevice,  # noqa: F401
                                  TeleopError, deadzone)
from robot_rl.teleop.devices import (DEVICES, GamepadTeleop, KeyboardTeleop, SpaceMouseTeleop,  # noqa: F401
                                     open_device)
