"""The recording graph: robot (the simulator, or a driver already running), who drives (a teleop
device, or in the simulator the scripted expert / the simulated human correcting a policy), the
control node and the recorder, as GraphRunner nodes. `robot-rl record` and the HIL stage of
`robot-rl session` both start this graph; the session adds the learner node beside it.

The run graph (`robot-rl run`): a registry policy driving the robot through the control node, on
the simulator or on a real robot whose driver is already running; nothing recorded.

ROS-free: it only describes processes.
"""
from __future__ import annotations

import dataclasses

from robot_rl.graph import NodeSpec
from robot_rl.policy.registry import DEFAULT_ROOT
from robot_rl.robot import DEFAULT_ROBOT, canonical, load
from robot_rl.sim.corrector import CorrectorConfig
from robot_rl.tasks import DEFAULT_TASK

SIM_OPERATORS = ("expert", "corrector")
LOCKSTEP_WAIT_S = 2.0   # the longest a control tick waits for an adapted env's answer to a command
SIM_START_TIMEOUT_S = 120.0   # the recorder's start_timeout_s with the simulator in the graph
DEVICES = ("keyboard", "gamepad", "spacemouse")


@dataclasses.dataclass
class RecordingGraph:
    store: str
    task: str = DEFAULT_TASK
    robot: str = DEFAULT_ROBOT   # a builtin robot (robot-rl robots) or a description YAML's path
    episodes: int = 10
    seed: int = 0                        # the simulator's first episode seed (the next ones count up)
    rate_hz: float = 10.0
    cameras: str = "front,wrist"
    image_size: int = 128
    codec: str = "zstd"
    max_episode_s: float = 60.0
    sim: bool = True
    # expert: the scripted expert drives (sim); corrector: the simulated human corrects the policy
    # (sim); keyboard|gamepad|spacemouse: a person at a teleop device
    teleop: str = "expert"
    policy: str = ""                     # ONNX the control node starts with ("" = teleop only)
    registry: str = DEFAULT_ROOT
    reward_model: str = ""               # a reward classifier the control node ends episodes on ("" = off)
    notes: str = ""
    reset_wait_s: float = 5.0
    calibration: str = "calibration"
    live_view_port: int = 0              # > 0: a Foxglove live view on this port
    live_view_origins: str = ""          # browser origins the live view admits ("" = the Foxglove app, this machine)
    # the raw topics into an MCAP file beside the store, <store>.<UTC time>.mcap ("" = none)
    mcap: str = ""
    corrector_judge: str = CorrectorConfig.judge   # teleop corrector: progress | plan (robot_rl.sim.corrector)
    # an adapted Gymnasium env's mapping as the simulator (docs/ENVS.md): its task, robot, cameras,
    # image size and rate replace those above
    env: str = ""

    def validate(self) -> None:
        if self.env and not self.sim:
            raise ValueError("env is a simulator: it needs sim")
        load(self.robot)
        if self.teleop not in SIM_OPERATORS + DEVICES:
            raise ValueError(f"teleop must be one of {', '.join(SIM_OPERATORS + DEVICES)}, got {self.teleop!r}")
        if self.teleop in SIM_OPERATORS and not self.sim:
            raise ValueError(f"teleop {self.teleop} needs the simulator (it sees the simulator's state)")
        if self.teleop == "corrector" and not self.policy:
            raise ValueError("teleop corrector corrects a policy: give one")
        if self.episodes < 1:
            raise ValueError("episodes must be >= 1")
        if not 10 <= self.rate_hz <= 500:
            raise ValueError(f"rate_hz must be in [10, 500] (the control node's range), got {self.rate_hz:g}")
        if not self.max_episode_s > 0 or not self.reset_wait_s >= 0:
            raise ValueError(f"max_episode_s must be > 0 and reset_wait_s >= 0, got {self.max_episode_s:g} "
                             f"and {self.reset_wait_s:g}")
        if self.image_size < 8:
            raise ValueError(f"image_size must be >= 8 pixels, got {self.image_size}")
        if not 0 <= self.live_view_port <= 65535:
            raise ValueError(f"live_view_port must be a TCP port 1..65535 (0: no live view), got {self.live_view_port}")
        if self.corrector_judge not in ("plan", "progress"):
            raise ValueError(f"corrector_judge must be plan or progress, got {self.corrector_judge!r}")


def sim_node(task: str, robot: str, seed: int, mode: str, rate_hz: float, cameras: str,
             image_size: tuple[int, int], **extra) -> NodeSpec:
    """The simulated robot (ros_nodes.sim_robot) at `rate_hz`, physics at the multiple of it
    nearest 500 Hz; image_size is (height, width); `extra`: more of its parameters."""
    return NodeSpec(name="sim", module="sim_robot", parameters={
        "task": task, "robot": robot, "seed": seed, "mode": mode, "control_hz": float(rate_hz),
        "physics_hz": float(rate_hz * max(1, round(500 / rate_hz))), "cameras": cameras,
        "image_width": int(image_size[1]), "image_height": int(image_size[0]), **extra})


def with_env(g):
    """A graph or session config with an adapted env's task, robot, cameras, image size and rate (if it names one)."""
    if not getattr(g, "env", ""):
        return g
    from robot_rl.sim.gym_mapping import graph_fields
    return dataclasses.replace(g, **graph_fields(g.env))


def recording_nodes(g: RecordingGraph) -> list[NodeSpec]:
    g = with_env(g)
    g.validate()
    rate = float(g.rate_hz)
    robot = canonical(g.robot)   # nodes run in their own processes, maybe from another folder
    nodes = []
    if g.sim:
        # lockstep: the simulator advances one period per command, so an episode replays exactly
        nodes.append(sim_node(g.task, robot, g.seed, "lockstep", rate, g.cameras, (g.image_size, g.image_size),
                              operator=g.teleop if g.teleop in SIM_OPERATORS else "none",
                              corrector_judge=g.corrector_judge, **({"env": g.env} if g.env else {})))
    if g.teleop in DEVICES:
        mode = "ee_rpy" if load(g.robot).command.mode == "ee_rpy" else "ee"
        nodes.append(NodeSpec(name="teleop", module="teleop_node", parameters={"device": g.teleop, "rate_hz": 50.0,
                                                                             "mode": mode},
                              stdin="inherit" if g.teleop == "keyboard" else "null"))
    nodes.append(NodeSpec(name="control", module="control_node", parameters={
        "policy": g.policy, "registry": g.registry, "robot": robot, "rate_hz": rate, "reward_model": g.reward_model,
        # an adapted env may step slower than the control rate (docs/ENVS.md): each command
        # waits for its answer (ControlNodeConfig.lockstep_wait_s)
        **({"lockstep_wait_s": LOCKSTEP_WAIT_S} if g.env else {})}))
    nodes.append(NodeSpec(name="recorder", module="recorder_node", parameters={
        "store": g.store, "task": g.task, "notes": g.notes or f"demonstration, teleop {g.teleop}",
        "episodes": g.episodes, "robot": robot, "control_rate_hz": rate, "cameras": g.cameras,
        "image_width": g.image_size, "image_height": g.image_size, "camera_rate_hz": rate, "proprio_rate_hz": rate,
        "teleop_rate_hz": rate, "camera_codec": g.codec, "max_episode_s": float(g.max_episode_s),
        "reset_service": "/sim/reset" if g.sim else "", "reset_wait_s": float(g.reset_wait_s),
        # a simulated robot that has not started an episode in this long is broken: fail, don't wait
        **({"start_timeout_s": SIM_START_TIMEOUT_S} if g.sim else {}),
        "camera_qos": "reliable" if g.sim else "sensor", "calibration_dir": g.calibration}))
    if g.mcap:
        nodes.append(NodeSpec(name="mcap", module="mcap_node", required=False,
                              parameters={"path": g.mcap, "cameras": g.cameras,
                                          "camera_qos": "reliable" if g.sim else "sensor"}))
    if g.live_view_port:
        nodes.append(NodeSpec(name="live_view", module="live_view_node", required=False,
                              parameters={"cameras": g.cameras, "port": g.live_view_port,
                                          "allowed_origins": g.live_view_origins}))
    return nodes


@dataclasses.dataclass
class RunGraph:
    policy: str                          # a checked registry .onnx path
    robot: str = DEFAULT_ROBOT
    registry: str = DEFAULT_ROOT
    sim: bool = True                     # False: a real robot, its driver already running
    task: str = DEFAULT_TASK              # the simulator's task
    seed: int = 0
    rate_hz: float = 10.0
    cameras: str = ""                    # the simulator's cameras (the policy's image inputs)
    image_size: tuple[int, int] = (128, 128)   # (height, width)


def run_nodes(g: RunGraph) -> list[NodeSpec]:
    robot, rate = canonical(g.robot), float(g.rate_hz)
    nodes = []
    if g.sim:
        nodes.append(sim_node(g.task, robot, g.seed, "realtime", rate, g.cameras, g.image_size))
    nodes.append(NodeSpec(name="control", module="control_node", parameters={
        "policy": g.policy, "robot": robot, "rate_hz": rate, "registry": g.registry}))
    return nodes
