"""The ROS process environment: loopback DDS, library path, domain id; robot_rl stays ROS-free."""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from robot_rl import ros_env


def test_loopback_environment():
    env = ros_env.ros_environment(base={"FASTRTPS_DEFAULT_PROFILES_FILE": "/x.xml", "ROS_LOCALHOST_ONLY": "1"},
                                  domain_id=42)
    assert env["ROS_DOMAIN_ID"] == "42"
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"] == ros_env.profile_path()
    assert "FASTRTPS_DEFAULT_PROFILES_FILE" not in env and "ROS_LOCALHOST_ONLY" not in env
    assert env["_ROS_WHEELS_BOOTSTRAP_COMPLETE"] == "1"
    assert ros_env.is_prepared(env)
    # The ROS wheels' libraries must be on the library path before a child starts.
    for lib_dir in ros_env.wheel_library_dirs():
        assert lib_dir in env["LD_LIBRARY_PATH"].split(os.pathsep)
    assert any(d.endswith("ros_rclpy.libs") for d in ros_env.wheel_library_dirs())


def test_system_scope_leaves_discovery_alone():
    env = ros_env.ros_environment(base={}, domain_id=3, dds="system")
    assert "ROS_AUTOMATIC_DISCOVERY_RANGE" not in env and "FASTDDS_DEFAULT_PROFILES_FILE" not in env


@pytest.mark.parametrize("bad", [-1, 102, True, "3"])
def test_bad_domain_id(bad):
    with pytest.raises(ValueError, match="domain id"):
        ros_env.ros_environment(base={}, domain_id=bad)


def test_profile_keeps_dds_on_this_machine():
    ns = {"d": "http://www.eprosima.com"}
    root = ET.parse(ros_env.profile_path()).getroot()
    transports = {t.find("d:transport_id", ns).text: t for t in root.iter("{http://www.eprosima.com}transport_descriptor")}
    shm = [t for t in transports.values() if t.find("d:type", ns).text == "SHM"]
    udp = [t for t in transports.values() if t.find("d:type", ns).text == "UDPv4"]
    assert len(shm) == 1 and int(shm[0].find("d:segment_size", ns).text) >= 32 * 1024 * 1024
    assert len(udp) == 1
    assert [a.text for a in udp[0].iter("{http://www.eprosima.com}address")] == ["127.0.0.1"]
    participant = root.find(".//d:participant", ns)
    assert participant.get("is_default_profile") == "true"
    assert participant.find(".//d:useBuiltinTransports", ns).text == "false"
    used = [t.text for t in participant.iter("{http://www.eprosima.com}transport_id")]
    assert sorted(used) == sorted(transports)


def test_core_package_never_imports_rclpy():
    """robot_rl/ is ROS-free: importing every module of it must not load rclpy."""
    code = (
        "import pkgutil, importlib, sys, robot_rl\n"
        "for m in pkgutil.walk_packages(robot_rl.__path__, 'robot_rl.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('rclpy', 'sensor_msgs', 'std_msgs')]\n"
        "print('ROS modules:', bad); sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_node_started_by_hand_prepares_its_own_environment(tmp_path, ros_domain):
    """`python -m ros_nodes.x` without our environment re-executes itself once with it."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("ROBOT_RL_ROS_ENV", "ROS_AUTOMATIC_DISCOVERY_RANGE", "FASTDDS_DEFAULT_PROFILES_FILE")}
    env["ROS_DOMAIN_ID"] = str(ros_domain)
    env["ROS_LOG_DIR"] = str(tmp_path)
    code = ("from ros_nodes import runtime; import os; "
            "print(os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'], os.environ['FASTDDS_DEFAULT_PROFILES_FILE'])")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["LOCALHOST", ros_env.profile_path()]


def test_a_private_domain_skips_one_a_participant_holds():
    """Simulator graphs without ROS_DOMAIN_ID get a domain no one on this machine uses: a second
    session or a preflight next to a running session must not reach its simulator."""
    import random
    import socket

    from robot_rl import ros_env
    first = ros_env.random_domain_id(random.Random(7))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:   # a participant's discovery port
        held.bind(("127.0.0.1", 7400 + 250 * first + 10 + 2 * 3))
        assert ros_env.domain_in_use(first)
        picked = ros_env.private_domain_id(random.Random(7))
        assert picked != first and not ros_env.domain_in_use(picked)
    assert not ros_env.domain_in_use(first)
