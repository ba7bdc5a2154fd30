"""Robots as descriptions: `load("arm6")` or `load("path/to/my_arm.yaml")` gives the
RobotDescription every part reads (robot_rl.robot.description), its features
(robot_rl.robot.features), its MuJoCo model (robot_rl.robot.model) and kinematics
(robot_rl.robot.kinematics). docs/ROBOTS.md says how to describe a new robot."""
from robot_rl.robot.description import DEFAULT_ROBOT, RobotDescription, builtin_names, canonical, driver_joints, load

__all__ = ["DEFAULT_ROBOT", "RobotDescription", "builtin_names", "canonical", "driver_joints", "load"]
