"""Thin rclpy nodes: parameters in, topics wired, a robot_rl core object called. No algorithms here.

Run one by hand with `python -m ros_nodes.<name> --ros-args -p key:=value`, or a whole graph with
`robot-rl up CONFIG.yaml`.
"""
