"""robot_rl: the ROS-free core of the robot learning control stack.

Nothing under robot_rl/ imports rclpy; the thin ROS 2 glue lives in ros_nodes/.
"""
__version__ = "0.1.0"
