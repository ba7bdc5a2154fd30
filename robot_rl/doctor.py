"""`robot-rl doctor`: check that this installation can do its jobs, one line per check."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys

from robot_rl import ros_env
from robot_rl.robot import builtin_names, load as load_robot

# Run in a child prepared by ros_env: two nodes in one process exchange a message over DDS.
_ROS_PROBE = """
import rclpy, time
from std_msgs.msg import String
rclpy.init()
a, b = rclpy.create_node('doctor_pub'), rclpy.create_node('doctor_sub')
got = []
b.create_subscription(String, '/robot_rl_doctor', lambda m: got.append(m.data), 10)
pub = a.create_publisher(String, '/robot_rl_doctor', 10)
end = time.monotonic() + 5
while not got and time.monotonic() < end:
    pub.publish(String(data='ok'))
    rclpy.spin_once(b, timeout_sec=0.1)
print('received' if got else 'nothing received in 5 s')
rclpy.shutdown()
"""

_MUJOCO_PROBE = """
import mujoco
m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><light pos="0 0 1"/><geom type="box" size=".1 .1 .1"/></worldbody></mujoco>')
d = mujoco.MjData(m)
r = mujoco.Renderer(m, 64, 64)
mujoco.mj_forward(m, d)
r.update_scene(d)
img = r.render()
r.close()
print('rendered', img.shape, 'mean', round(float(img.mean()), 1))
"""


def _child(code: str, env: dict, timeout: float = 30) -> tuple[bool, str]:
    try:
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:g} s"
    out = (proc.stdout.strip().splitlines() or [""])[-1]
    if proc.returncode != 0:
        err = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return False, err
    return True, out


def _store_probe() -> tuple[bool, str]:
    """Record one tiny episode (lossless and JPEG streams) in a temp store and verify it."""
    import tempfile

    import numpy as np
    try:
        from robot_rl.store import EpisodeStore, StepSpec, StoreSpec, StoreWriter, StreamSpec
        from robot_rl.store.verify import verify
        with tempfile.TemporaryDirectory() as tmp:
            spec = StoreSpec(streams=[StreamSpec(name="rgb", kind="rgb", shape=[8, 8, 3], dtype="uint8", codec="jpeg"),
                                      StreamSpec(name="q", shape=[2])], steps=StepSpec(obs_dim=2, action_dim=1))
            with StoreWriter(f"{tmp}/s.zarr", spec) as w:
                w.begin_episode()
                i = w.append("rgb", np.full((8, 8, 3), 128, np.uint8), sensor_ns=1)
                j = w.append("q", np.zeros(2), sensor_ns=1)
                w.append_step(np.zeros(2), np.zeros(1), sample_index={"rgb": i, "q": j})
                w.end_episode()
            report = verify(f"{tmp}/s.zarr")
            n = len(EpisodeStore.open(f"{tmp}/s.zarr"))
        return report.ok and n == 1, f"{n} episode, verify {'OK' if report.ok else report.problems[0]}"
    except Exception as exc:
        return False, f"{exc.__class__.__name__}: {exc}"


def run_checks() -> int:
    failures = 0

    def report(ok: bool, what: str, detail: str) -> None:
        nonlocal failures
        failures += not ok
        print(f"[{'ok' if ok else 'FAIL':>4}] {what}: {detail}")

    for name in ("numpy", "yaml", "torch", "onnx", "onnxruntime", "zarr", "numcodecs", "mujoco", "cv2",
                 "pyrealsense2", "safetensors", "matplotlib", "pyarrow", "pandas", "av", "mcap", "mcap_ros2"):
        try:
            mod = importlib.import_module(name)
            report(True, f"import {name}", getattr(mod, "__version__", "") or "ok")
        except Exception as exc:  # report every broken import, keep checking
            report(False, f"import {name}", f"{exc.__class__.__name__}: {exc}")

    try:   # where `learner.device: auto` trains: a CPU build of torch, or the GPU it sees
        from robot_rl.learn import device as devices
        report(True, "learner device (auto)", devices.describe(devices.resolve("auto")))
    except Exception as exc:  # noqa: BLE001 - a broken CUDA install is reported, not raised
        report(False, "learner device (auto)", f"{exc.__class__.__name__}: {exc}")

    env = ros_env.ros_environment(domain_id=ros_env.random_domain_id())
    ok, detail = _child(_ROS_PROBE, env)
    report(ok and detail == "received", "ROS 2 pub/sub over loopback DDS", detail)
    report(os.path.exists(ros_env.profile_path()), "Fast DDS loopback profile", ros_env.profile_path())

    gl_env = dict(os.environ)
    for backend in ("egl", "osmesa"):
        gl_env["MUJOCO_GL"] = backend
        gl_env["PYOPENGL_PLATFORM"] = backend
        ok, detail = _child(_MUJOCO_PROBE, gl_env)
        report(ok, f"MuJoCo headless rendering (MUJOCO_GL={backend})", detail)

    for name in builtin_names():   # each builtin robot's model builds (the foreign ones from their packages)
        try:
            from robot_rl.robot.kinematics import Kinematics
            kin = Kinematics(load_robot(name))
            report(True, f"robot {name}", f"{kin.robot.n} joints, model {kin.model.nbody} bodies")
        except Exception as exc:  # noqa: BLE001 - report every robot that does not build, keep checking
            report(False, f"robot {name}", f"{exc.__class__.__name__}: {exc}")

    ok, detail = _store_probe()
    report(ok, "episode store write, commit, verify (zarr, crc32c, JPEG codec)", detail)

    try:
        import pyrealsense2 as rs

        report(True, "RealSense devices", str(len(rs.context().query_devices())))
    except Exception as exc:
        report(False, "RealSense devices", f"{exc.__class__.__name__}: {exc}")

    print(f"{failures} problem(s) found" if failures else "all checks passed")
    return 1 if failures else 0
