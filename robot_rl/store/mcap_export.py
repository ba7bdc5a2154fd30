"""`robot-rl data export-mcap`: one episode as an MCAP file of standard ROS 2 messages, for Foxglove
and rosbag2's MCAP storage (`ros2 bag play`, `ros2 bag info`).

Each message is CDR-encoded with the standard definition (read from the ROS 2 wheels' share/
folder, as `ros2 bag record` embeds them) and stamped, in its header and as the MCAP log time, with
the sample's capture time (`sensor_ns`); no pickle, no custom message types.

| store | topic | type |
|---|---|---|
| rgb stream `<cam>_rgb` or `<cam>` | /camera/<cam>/image_raw/compressed (JPEG) or /image_raw (--raw-images) | sensor_msgs/CompressedImage, sensor_msgs/Image rgb8 |
| depth stream `<name>` | /camera/<name>/depth | sensor_msgs/Image 16UC1 or 32FC1 |
| a vector stream whose fields are the robot's joints (`q_<joint>`, then optionally `qd_<joint>`) | /joint_states | sensor_msgs/JointState |
| a vector stream `<name>` with fields [x, y, z, qx, qy, qz, qw] | /<name> | geometry_msgs/PoseStamped |
| any other vector stream `<name>` | /<name> | std_msgs/Float64MultiArray (dim label: the stream's fields) |
| each step | /control/step | std_msgs/Float64MultiArray: t_ns, intervention, hold, policy_version, reward, done, obs, action, human_action, executed_action (labels in the layout) |
| episode start and end, interventions on/off | /episode/event, /teleop/event | std_msgs/String ("start N", "end N STATUS", "intervention_on/off") |
"""
from __future__ import annotations

import pathlib
import time
from typing import Any, Optional

import numpy as np

from robot_rl.mcap_log import msgdef
from robot_rl.store.reader import EpisodeStore
from robot_rl.store.schema import StoreError


def _header(stamp_ns: int, frame_id: str = "") -> dict[str, Any]:
    sec, nsec = divmod(int(stamp_ns), 1_000_000_000)
    return {"stamp": {"sec": sec, "nanosec": nsec}, "frame_id": frame_id}


def _camera_name(stream: str) -> str:
    return stream[:-4] if stream.endswith("_rgb") else stream


POSE_FIELDS = ["x", "y", "z", "qx", "qy", "qz", "qw"]


def vector_kind(fields: list[str], joints: list[str]) -> str:
    """What a vector stream's declared fields say it is: "joints" (the robot's joints, `q_<joint>`,
    then optionally `qd_<joint>`: a JointState), "pose" (POSE_FIELDS: a PoseStamped), or "other"."""
    q = [f"q_{j}" for j in joints]
    if joints and fields in (q, q + [f"qd_{j}" for j in joints]):
        return "joints"
    return "pose" if fields == POSE_FIELDS else "other"


def step_fields(obs_dim: int, action_dim: int) -> list[str]:
    """The /control/step layout an export writes (its labels are in the message's layout too)."""
    return (["t_ns", "intervention", "hold", "policy_version", "reward", "done"]
            + [f"obs[{i}]" for i in range(obs_dim)]
            + [f"{col}[{i}]" for col in ("action", "human_action", "executed_action") for i in range(action_dim)])


def export_mcap(store: EpisodeStore, episode: int, out: pathlib.Path, raw_images: bool = False,
                jpeg_quality: int = 90) -> dict:
    """Write one episode to `out` (.mcap). Returns {messages per topic, bytes, seconds}."""
    import cv2
    from mcap.writer import CompressionType
    from mcap_ros2.writer import Writer

    ep = store.episode(episode)
    spec = store.spec
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    counts: dict[str, int] = {}
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            w = Writer(f, compression=CompressionType.ZSTD)
            schemas: dict[str, Any] = {}

            def put(topic: str, datatype: str, msg: dict, stamp_ns: int) -> None:
                if datatype not in schemas:
                    schemas[datatype] = w.register_msgdef(datatype, msgdef(datatype))
                w.write_message(topic, schemas[datatype], msg, log_time=int(stamp_ns), publish_time=int(stamp_ns))
                counts[topic] = counts.get(topic, 0) + 1

            joints = spec.robot.joint_names
            kinds = {s.name: vector_kind(s.fields, joints) for s in spec.streams}
            for s in spec.streams:
                data, sensor, _ = store.read_stream(ep, s.name)
                for sample, t in zip(data, sensor):
                    t = int(t)
                    if s.kind == "rgb":
                        cam = _camera_name(s.name)
                        if raw_images:
                            h, wd = sample.shape[:2]
                            put(f"/camera/{cam}/image_raw", "sensor_msgs/msg/Image",
                                {"header": _header(t, cam), "height": h, "width": wd, "encoding": "rgb8",
                                 "is_bigendian": 0, "step": wd * 3, "data": sample.tobytes()}, t)
                        else:
                            ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(sample[..., ::-1]),
                                                   [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
                            if not ok:
                                raise StoreError(f"{s.name}: JPEG encoding failed")
                            put(f"/camera/{cam}/image_raw/compressed", "sensor_msgs/msg/CompressedImage",
                                {"header": _header(t, cam), "format": "rgb8; jpeg compressed bgr8",
                                 "data": buf.tobytes()}, t)
                    elif s.kind == "depth":
                        enc = "16UC1" if sample.dtype == np.uint16 else "32FC1"
                        h, wd = sample.shape[:2]
                        put(f"/camera/{s.name}/depth", "sensor_msgs/msg/Image",
                            {"header": _header(t, s.name), "height": h, "width": wd, "encoding": enc, "is_bigendian": 0,
                             "step": wd * sample.dtype.itemsize, "data": np.ascontiguousarray(sample).tobytes()}, t)
                    elif kinds[s.name] == "joints":
                        n = len(joints)
                        put("/joint_states", "sensor_msgs/msg/JointState",
                            {"header": _header(t), "name": joints, "position": sample[:n].astype(float).tolist(),
                             "velocity": sample[n:].astype(float).tolist(), "effort": []}, t)
                    elif kinds[s.name] == "pose":
                        x, y, z, qx, qy, qz, qw = sample.astype(float).tolist()
                        put(f"/{s.name}", "geometry_msgs/msg/PoseStamped",
                            {"header": _header(t, "world"), "pose": {"position": {"x": x, "y": y, "z": z},
                                                                     "orientation": {"x": qx, "y": qy, "z": qz, "w": qw}}}, t)
                    else:
                        put(f"/{s.name}", "std_msgs/msg/Float64MultiArray",
                            {"layout": {"dim": [{"label": ",".join(s.fields) or s.name, "size": int(sample.size),
                                                 "stride": int(sample.size)}], "data_offset": 0},
                             "data": sample.astype(float).reshape(-1).tolist()}, t)
            steps = store.read_steps(ep)
            fields = step_fields(spec.steps.obs_dim, spec.steps.action_dim)
            label = ",".join(fields)
            prev_iv = False
            for i in range(ep.num_steps):
                t = int(steps["t_ns"][i])
                if i == 0:
                    put("/episode/event", "std_msgs/msg/String", {"data": f"start {ep.index}"}, t)
                iv = bool(steps["intervention"][i])
                if iv != prev_iv:
                    put("/teleop/event", "std_msgs/msg/String", {"data": "intervention_on" if iv else "intervention_off"}, t)
                    prev_iv = iv
                row = np.concatenate([[t, iv, steps["hold"][i], steps["policy_version"][i], steps["reward"][i],
                                       steps["done"][i]], steps["obs"][i], steps["action"][i], steps["human_action"][i],
                                      steps["executed_action"][i]]).astype(float)
                put("/control/step", "std_msgs/msg/Float64MultiArray",
                    {"layout": {"dim": [{"label": label, "size": len(fields), "stride": len(fields)}], "data_offset": 0},
                     "data": row.tolist()}, t)
            if ep.num_steps:
                put("/episode/event", "std_msgs/msg/String", {"data": f"end {ep.index} {ep.status}"},
                    int(steps["t_ns"][-1]))
            w.add_metadata("robot_rl.episode", {"store": str(store.path), "episode": str(ep.index), "task": ep.task,
                                                "status": ep.status, "success": str(ep.success), "notes": ep.notes,
                                                "robot": spec.robot.name})
            w.finish()
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {"messages": counts, "bytes": out.stat().st_size, "seconds": time.monotonic() - t0}
