"""Packaging for robot_rl: the ROS-free core (robot_rl), the rclpy nodes (ros_nodes) and the CLI.

Install with `bash scripts/install.sh` (Debian packages + a virtual environment), or by hand with
`pip install -e ".[test]"` on a machine that already has the Debian libraries listed in README.md.
"""
from setuptools import find_packages, setup

# torch is pinned to a version whose CPU build lies on our machines (pip takes it from there); an
# unpinned `torch` pulls a CUDA build of several GB.
CORE = [
    "numpy>=1.26,<3",
    "pyyaml>=6.0",
    "torch==2.13.0",
    "onnx>=1.16",
    "onnxruntime>=1.18",
    "zarr>=3.0,<4",
    "numcodecs>=0.13",
    "google-crc32c>=1.5",  # zarr's crc32c codec: every chunk of the store carries a checksum
    "mujoco>=3.2",
    "gymnasium>=1.0",
    "opencv-python-headless>=4.9",
    "pyrealsense2>=2.55",
    "hidapi>=0.14",  # the SpaceMouse teleop device
    "foxglove-sdk>=0.30",  # the live view (Foxglove WebSocket server)
    "safetensors>=0.4",
    "matplotlib>=3.8",
    # LeRobot v3.0 datasets in and out (robot_rl/store/lerobot.py): parquet tables, mp4 video
    "pyarrow>=15",
    "pandas>=2.2",
    "av>=12",
    # MCAP of standard ROS 2 messages (robot_rl/store/mcap_export.py), for Foxglove and rosbag2
    "mcap>=1.2",
    "mcap-ros2-support>=0.5",
    # robot models no one here wrote, read from the installed packages by the builtin descriptions
    # (robot_rl/robot/builtin): the Franka Panda (gymnasium-robotics) and the Kinova Jaco (dm_control)
    "gymnasium-robotics>=1.4",
    "dm-control>=1.0.50",
]
# ROS 2 Kilted from PyPI wheels (see docs/ROS2.md). Standard message packages only.
ROS = [
    "ros-rclpy==9.1.2",
    "ros-rmw-fastrtps-cpp",
    "ros-sensor-msgs",
    "ros-std-msgs",
    "ros-std-srvs",
    "ros-geometry-msgs",
    "ros-trajectory-msgs",
    "ros-diagnostic-msgs",
    "ros-rosgraph-msgs",
    "ros-builtin-interfaces",
]

setup(
    name="robot_rl",
    version="0.1.0",
    description="Real-robot learning control stack: ROS 2 nodes, Zarr episode store, "
    "off-policy residual / human-in-the-loop RL, ONNX control, MuJoCo simulator",
    python_requires=">=3.11",
    packages=find_packages(include=["robot_rl", "robot_rl.*", "ros_nodes", "ros_nodes.*"]),
    package_data={"robot_rl": ["resources/*", "robot/builtin/*", "envs/*/*.yaml"]},
    install_requires=CORE + ROS,
    extras_require={"test": ["pytest>=8", "pytest-timeout>=2.3",
                             "websockets>=12"]},  # a Foxglove WebSocket client for the live view test
    entry_points={
        "console_scripts": ["robot-rl=robot_rl.cli:main"],
        # lets plain `zarr.open` decode our JPEG image streams without importing robot_rl
        "zarr.codecs": ["robot_rl.jpeg=robot_rl.store.codecs:JpegCodec"],
    },
)
