"""Simulator episodes written straight into a store, in the layout `robot-rl record` gives (the same
spec, record_store_spec), without ROS: the in-process path for tests, benchmarks and the learning
benchmark, where the simulator runs as fast as it can. A robot (and `robot-rl record --sim`) goes
through the ROS graph instead; both produce the same columns and flags, and both act through the
control node's step (robot_rl.sim.control_loop: the safety layer and the sim robot's checks).

Per step: each camera's frame, the joint state, the end-effector pose and the gripper opening are
appended as stream samples stamped with the step's time, then the step row naming them. Who acts:
a `policy` (obs dict -> action, e.g. a PolicyRuntime; its `last_base` is recorded as the base
action), an `operator` (the scripted expert: a teleop demonstration, every step an intervention;
or the SimulatedHuman correcting the policy), or both.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional

import numpy as np

from robot_rl.record.spec import RecordSpecConfig, record_store_spec
from robot_rl.sim.control_loop import SimControlLoop
from robot_rl.sim.corrector import SimulatedHuman
from robot_rl.sim.env import RobotEnv
from robot_rl.sim.experts import Expert
from robot_rl.store.schema import StoreSpec
from robot_rl.store.writer import StoreWriter


def sim_store_spec(env: RobotEnv, codec: str = "zstd") -> StoreSpec:
    """The store spec `robot-rl record --sim` would use for this env's robot, cameras, image size and rate."""
    c = env.cfg
    hz = c.control_hz
    return record_store_spec(RecordSpecConfig(
        robot=c.robot, command_mode=env.description.command.mode, control_rate_hz=hz, cameras=",".join(c.cameras),
        image_width=c.image_size[1], image_height=c.image_size[0], camera_rate_hz=hz, camera_codec=codec,  # type: ignore[arg-type]
        proprio_rate_hz=hz, teleop_rate_hz=hz))


def _nan_none(x: Optional[np.ndarray]) -> Optional[np.ndarray]:
    return None if x is None else np.asarray(x, dtype=np.float64)


def rollout(env: RobotEnv, writer: StoreWriter, seed: int, policy: Optional[Callable[[dict], np.ndarray]] = None,
            operator: "Expert | SimulatedHuman | None" = None, policy_version: int = 0,
            on_step: Optional[Callable[[dict], None]] = None) -> dict[str, Any]:
    """Run and commit one episode; returns success, steps, interventions (steps a person drove)."""
    if policy is None and not isinstance(operator, Expert):
        raise ValueError("give a policy, the expert as operator, or both")
    loop = SimControlLoop(env, policy)
    obs, info = loop.reset(seed)
    if operator is not None:
        operator.reset()
    lay = loop.layout
    t = time.monotonic_ns()
    writer.begin_episode(task=env.cfg.task, notes=f"sim seed {seed}")
    interventions = 0
    while True:
        idx = {f"{c}_rgb": writer.append(f"{c}_rgb", obs[c], sensor_ns=t, receive_ns=t) for c in env.cfg.cameras}
        idx["joints"] = writer.append("joints", obs["proprio"][lay.joints], sensor_ns=t, receive_ns=t)
        pos, quat = env.tool_pose()
        idx["ee_pose"] = writer.append("ee_pose", np.concatenate([pos, np.roll(quat, -1)]), sensor_ns=t, receive_ns=t)
        if lay.has_gripper:
            idx["gripper"] = writer.append("gripper", obs["proprio"][lay.gripper:lay.gripper + 1], sensor_ns=t,
                                           receive_ns=t)
        ran = None if policy is None else (np.asarray(policy(obs), dtype=np.float64), getattr(policy, "last_base", None))
        human_action = None
        if isinstance(operator, Expert):
            human_action = operator.act(obs, info)
        elif isinstance(operator, SimulatedHuman):
            act, intervening = operator.act(ran[0] if ran is not None else None, obs, info)
            human_action = act if intervening else None
        if human_action is not None:
            interventions += 1
            idx["teleop"] = writer.append("teleop", human_action, sensor_ns=t, receive_ns=t)
        rec, next_obs, reward, terminated, truncated, info = loop.step(obs, human_action, ran)
        writer.append_step(obs=obs["proprio"], action=_nan_none(rec.policy_action), base_action=_nan_none(rec.base_action),
                           human_action=_nan_none(human_action), executed_action=_nan_none(rec.executed_action),
                           intervention=human_action is not None, policy_version=policy_version, sample_index=idx,
                           t_ns=t, hold=rec.hold is not None, reward=reward)
        obs = next_obs
        if on_step is not None:
            on_step(info)
        t += loop.period_ns
        if terminated or truncated:
            break
    success = bool(info["success"])
    writer.end_episode(status="complete", success=success)
    return {"success": success, "steps": env.steps, "interventions": interventions}
