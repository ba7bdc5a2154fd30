"""Bring your own simulator: any Gymnasium manipulation env, through a short declared mapping, as a
robot of this stack (docs/ENVS.md).

The mapping (`GymEnvConfig`, one YAML file) says which env to make and where (this process, or the
interpreter of its own virtual environment: robot_rl.sim.gym_worker), which robot description it
stands for, where the description's features lie in its observations (camera images, joint
positions and velocities, the tool's position and yaw, the gripper and which of its values is open),
what its action means (which components move the tool, by how much per metre; the gripper's
component and its convention, absolute or a change), where success is read, how it is seeded and
which privileged state its task's scripted expert reads.

`GymRobotEnv` then looks to the rest of the stack like robot_rl.sim.env.RobotEnv: observations
{"proprio", <camera>: image} in the description's layout, actions [dx, dy, dz, dyaw, grip] in
[-1, 1] (grip -1 closed .. 1 open), info["success"] / ["state"]; `GymServer` gives it the sim robot's
command interface (end-effector targets, checked as SimServer checks them, held on a bad one), so
the control loop, the in-process rollout and the learning benchmark run on it unchanged.

Every convention is checked when the env starts, against the env itself: an observation key that
is missing or has another shape, a gripper value or a motion that the env's action bounds would
clip, a gripper that reads closed at reset when the task starts open, a success key the env's info
does not carry. Each mismatch is one error naming the mapping's key, never a silent clip.
"""
from __future__ import annotations

import dataclasses
import math
import os
import pathlib
import shutil
import sys
from typing import Any, Optional

import numpy as np

from robot_rl import robot as robot_mod
from robot_rl.robot.features import layout
from robot_rl.sim.gym_mapping import ConventionError, GymEnvConfig, GymTask, Part, load, load_task
from robot_rl.sim.gym_worker import LocalEnv, WorkerEnv


@dataclasses.dataclass
class RunConfig:
    """What the rest of the stack reads of a simulator's config (SimConfig's fields of the same names)."""
    task: str
    robot: str
    control_hz: float
    cameras: list[str]
    image_size: list[int]
    max_pos_step: float
    max_yaw_step: float
    action_mode: str = "ee_delta"


class GymRobotEnv:
    """An adapted Gymnasium env as a robot of this stack (see the module's docstring)."""

    def __init__(self, mapping: GymEnvConfig | str) -> None:
        self.map = load(mapping) if isinstance(mapping, (str, pathlib.Path)) else mapping
        m = self.map
        self.robot_ref = robot_mod.canonical(m.resolve(m.robot) if m.robot.endswith((".yaml", ".yml")) else m.robot)
        self.description = robot_mod.load(self.robot_ref)
        self.layout = layout(self.description)
        d = self.description
        if d.command.mode != "ee":
            raise ConventionError(f"robot {d.name}: an adapted env is driven by tool motions (command.mode ee), "
                                  f"not {d.command.mode}")
        if abs(d.command.rate_hz - m.control_hz) > 1e-9:
            raise ConventionError(f"control_hz {m.control_hz:g} but robot {d.name}'s command.rate_hz is {d.command.rate_hz:g}")
        for folder in reversed([m.resolve(p) for p in m.pythonpath]):   # where the task's module is, too
            if folder not in sys.path:
                sys.path.insert(0, folder)
        self.task = load_task(m.task) if m.task else GymTask()
        period = 1.0 / m.control_hz
        ws = d.workspace
        self.workspace_low, self.workspace_high = np.array(ws.low), np.array(ws.high)
        self.home_quat = np.array([1.0, 0.0, 0.0, 0.0])
        make = {"id": m.id, "imports": m.imports, "pythonpath": [m.resolve(p) for p in m.pythonpath],
                "kwargs": m.kwargs, "state": m.state, "shadows": m.shadows, "seed_global": m.seed_global_numpy}
        if m.python:   # a path (relative to the mapping; ~ and $VARS expanded) or a name on PATH
            given = os.path.expandvars(os.path.expanduser(m.python))
            python = m.resolve(given) if "/" in given else shutil.which(given) or given
            self.backend: WorkerEnv | LocalEnv = WorkerEnv(python, make)
        else:
            self.backend = LocalEnv(make)
        try:
            self._check_spaces(self.backend.description)
            self.max_steps = m.max_steps or int(self.backend.description["max_episode_steps"]) or 100
            cams = list(m.observation.cameras)
            shape = self.backend.description["observation"][m.observation.cameras[cams[0]]][0] if cams else [0, 0]
            if cams and m.observation.image_size and list(shape[:2]) != m.observation.image_size:
                raise ConventionError(f"observation.image_size: {m.observation.image_size} but the env's images are {shape[:2]}")
            self.cfg = RunConfig(task=m.task or self.task.name, robot=self.robot_ref, control_hz=m.control_hz,
                                 cameras=cams, image_size=list(shape[:2]),
                                 max_pos_step=d.command.max_ee_speed * period, max_yaw_step=d.command.max_yaw_rate * period)
            self._check_reach()
        except Exception:
            self.backend.close()
            raise
        self.steps = 0
        self.sim_time = 0.0
        self._raw: dict[str, np.ndarray] = {}
        self._checked_reset = False

    # --- conventions ---------------------------------------------------------------------------
    def _check_spaces(self, desc: dict) -> None:
        m, n = self.map, self.description.n
        obs = desc["observation"]
        low, high = np.array(desc["action_low"]), np.array(desc["action_high"])
        self.action_low, self.action_high = low, high
        keys = ", ".join(sorted(obs))

        def entry(where: str, key: str) -> list[int]:
            if key not in obs:
                raise ConventionError(f"{where}: the env has no observation {key!r} (it has: {keys})")
            return obs[key][0]

        for cam, key in m.observation.cameras.items():
            shape, dtype = entry(f"observation.cameras.{cam}", key), obs[key][1]
            if len(shape) != 3 or shape[2] != 3 or np.dtype(dtype) != np.uint8:
                raise ConventionError(f"observation.cameras.{cam}: {key!r} is {dtype} {shape}, not a uint8 [H, W, 3] image")
        for name, width in (("joints", n), ("joint_velocities", n), ("tool_position", 3), ("tool_yaw", 1)):
            part: Part = getattr(m.observation, name)
            if name == "tool_yaw" and not part.key:
                continue
            shape = entry(f"observation.{name}", part.key)
            size = int(np.prod(shape))
            if part.stop - part.start != width or not 0 <= part.start < part.stop <= size:
                raise ConventionError(f"observation.{name}: columns [{part.start}, {part.stop}) of {part.key!r} "
                                      f"({size} values) for {width} values of robot {self.description.name}")
        has_grip = self.description.has_gripper
        if has_grip != (m.action.gripper >= 0):
            raise ConventionError(f"action.gripper: robot {self.description.name} "
                                  f"{'has' if has_grip else 'has no'} gripper but the mapping "
                                  f"{'names none' if has_grip else 'names one'}")
        if has_grip:
            g = m.observation.gripper
            if int(np.prod(entry("observation.gripper", g.key))) <= g.index or g.open == g.closed:
                raise ConventionError("observation.gripper: index out of its entry, or open == closed")
        used = [*m.action.position, m.action.yaw, m.action.gripper]
        for i in used:
            if i >= len(low):
                raise ConventionError(f"action: component {i} of an action of {len(low)}")
        if not np.all(low[m.action.position] < 0) or not np.all(high[m.action.position] > 0):
            raise ConventionError("action.position: the env's bounds on these components do not span 0")

    def _check_reach(self) -> None:
        """A full step (an action of 1) and the gripper's extremes must lie within the env's bounds."""
        a = self.map.action
        full = np.full(3, self.cfg.max_pos_step * a.position_scale)
        self._bounded("action.position_scale", a.position, full, f"a full step ({self.cfg.max_pos_step * 100:.1f} cm)",
                      both_ways=True)
        if a.yaw >= 0:
            self._bounded("action.yaw_scale", [a.yaw], np.array([self.cfg.max_yaw_step * a.yaw_scale]),
                          "a full turn step", both_ways=True)
        if a.gripper >= 0:
            if a.gripper_mode == "absolute":
                for key in ("gripper_open", "gripper_closed"):
                    self._bounded(f"action.{key}", [a.gripper], np.array([getattr(a, key)]), "the command")
            else:
                g = self.map.observation.gripper
                self._bounded("action.delta_scale", [a.gripper], np.array([(g.closed - g.open) * a.delta_scale]),
                              "a full close", both_ways=True)

    def _bounded(self, key: str, index: list[int], value: np.ndarray, what: str, both_ways: bool = False) -> None:
        """`value` (and -value if both_ways: a motion, a turn or a change either way) within the bounds."""
        low, high = self.action_low[index], self.action_high[index]
        for v in (value, -value) if both_ways else (value,):
            if np.any(v < low - 1e-9) or np.any(v > high + 1e-9):
                raise ConventionError(f"{key}: {what} is {np.round(v, 4).tolist()} in the env's units, outside its action "
                                      f"bounds [{low.min():g}, {high.max():g}]: the env would clip it")

    # --- observations ------------------------------------------------------------------------------
    def _part(self, part: Part) -> np.ndarray:
        return np.asarray(self._raw[part.key], np.float64).reshape(-1)[part.start:part.stop]

    def gripper_opening(self) -> float:
        if not self.description.has_gripper:
            return 0.0
        g = self.map.observation.gripper
        return float(np.clip((self._gripper_reading() - g.closed) / (g.open - g.closed), 0.0, 1.0))

    def _gripper_reading(self) -> float:
        """The gripper's value as the env reports it (observation.gripper, in the env's units)."""
        g = self.map.observation.gripper
        return float(np.asarray(self._raw[g.key]).reshape(-1)[g.index])

    def ee_pose(self) -> tuple[np.ndarray, float]:
        yaw = float(self._part(self.map.observation.tool_yaw)[0]) if self.map.observation.tool_yaw.key else 0.0
        return self._part(self.map.observation.tool_position), yaw

    def tool_pose(self) -> tuple[np.ndarray, np.ndarray]:
        pos, yaw = self.ee_pose()
        return pos, np.array([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])

    @property
    def q(self) -> np.ndarray:
        return self._part(self.map.observation.joints)

    @property
    def qd(self) -> np.ndarray:
        return self._part(self.map.observation.joint_velocities)

    def image(self, camera: str) -> np.ndarray:
        return np.asarray(self._raw[self.map.observation.cameras[camera]], np.uint8)

    def observe(self) -> dict[str, np.ndarray]:
        o = self.map.observation
        pos, yaw = self.ee_pose()
        obs = {"proprio": self.layout.pack(self.q, self.qd, pos, yaw, self.gripper_opening())}
        for cam in o.cameras:
            obs[cam] = self.image(cam)
        return obs

    def privileged_state(self) -> dict[str, np.ndarray]:
        return {k[len("state."):]: v for k, v in self._raw.items() if k.startswith("state.")}

    def progress(self) -> float:
        return self.task.state_progress(self.privileged_state(), self.ee_pose()[0], self.gripper_opening())

    def info(self, success: bool, failure: bool = False) -> dict[str, Any]:
        return {"success": bool(success), "failure": bool(failure), "is_intervention": False,
                "state": self.privileged_state(), "sim_time": self.sim_time}

    # --- gym API -----------------------------------------------------------------------------------
    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        _, self._raw = self.backend.reset(int(seed or 0))
        self.steps, self.sim_time = 0, 0.0
        self.commanded = self.ee_pose()
        self.grip = 2.0 * self.task.start_gripper - 1.0
        if not self._checked_reset and self.description.has_gripper:
            self._checked_reset = True
            opening = self.gripper_opening()
            if abs(opening - self.task.start_gripper) > 0.5:
                g = self.map.observation.gripper
                raise ConventionError(
                    f"observation.gripper: it reads {self._gripper_reading():g} at reset, "
                    f"{'closed' if opening < 0.5 else 'open'} by the mapping (open {g.open:g}, closed {g.closed:g}), "
                    f"but task {self.task.name} starts {'open' if self.task.start_gripper > 0.5 else 'closed'}")
        return self.observe(), self.info(False)

    def env_action(self, target_pos: np.ndarray, target_yaw: float, grip: Optional[float]) -> np.ndarray:
        """The env's action that moves the tool to a target (m, rad from home; inside the
        workspace) with a gripper command (-1 closed .. 1 open; None: unchanged)."""
        a = self.map.action
        out = np.full(len(self.action_low), a.rest, np.float64)
        pos, yaw = self.ee_pose()
        if a.relative_to == "target":
            pos, yaw = self.commanded
        self.commanded = (np.asarray(target_pos, np.float64).copy(), float(target_yaw))
        out[a.position] = (self.commanded[0] - pos) * a.position_scale
        if a.yaw >= 0:
            out[a.yaw] = ((target_yaw - yaw + math.pi) % (2 * math.pi) - math.pi) * a.yaw_scale
        if a.gripper >= 0:
            if grip is None:
                grip = self.grip
            self.grip = float(np.clip(grip, -1, 1))
            closedness = (1.0 - self.grip) / 2
            if a.gripper_mode == "absolute":
                out[a.gripper] = a.gripper_open + closedness * (a.gripper_closed - a.gripper_open)
            else:
                g = self.map.observation.gripper
                out[a.gripper] = (g.open + closedness * (g.closed - g.open) - self._gripper_reading()) * a.delta_scale
        # within the bounds by the checks at start, but for a target that moved further than a step
        return np.clip(out, self.action_low, self.action_high)

    def advance(self, env_action: np.ndarray) -> tuple[float, bool, bool, bool]:
        """Step the env; (reward, success, terminated, truncated) in this stack's terms."""
        header, self._raw = self.backend.step(env_action)
        self.steps += 1
        self.sim_time += 1.0 / self.map.control_hz
        info = header["info"]
        if self.map.success not in info:
            raise ConventionError(f"success: the env's info has no {self.map.success!r} (it has: {', '.join(sorted(info)) or 'nothing'})")
        success = bool(info[self.map.success])
        terminated = header["terminated"] or (success and self.map.end_on_success)
        return header["reward"], success, terminated, header["truncated"] or self.steps >= self.max_steps

    def step(self, action: Any):
        """An action of this stack's ([dx, dy, dz, dyaw, grip] in [-1, 1]); gymnasium's five-tuple."""
        act = np.asarray(action, np.float64).reshape(-1)
        n = 4 + int(self.description.has_gripper)
        if act.shape != (n,) or not np.all(np.isfinite(act)):
            raise ValueError(f"action must be {n} finite floats, got {action!r}")
        act = np.clip(act, -1, 1)
        pos, yaw = self.ee_pose()
        target = np.clip(pos + act[:3] * self.cfg.max_pos_step, self.workspace_low, self.workspace_high)
        turn = yaw + act[3] * self.cfg.max_yaw_step
        reward, success, terminated, truncated = self.advance(self.env_action(target, turn, act[4] if n == 5 else None))
        return self.observe(), reward, terminated, truncated and not terminated, self.info(success, terminated and not success)

    def step_result(self, reward: float, success: bool, failure: bool):
        truncated = self.steps >= self.max_steps and not (success or failure)
        return self.observe(), reward, success or failure, truncated, self.info(success, failure)

    def server(self, seed: int = 0, **limits):
        """The sim robot's command interface on this env (the control loop and the sim robot node
        drive it); `limits`: GymServer's (max_ee_speed)."""
        from robot_rl.sim.gym_server import GymServer
        return GymServer(self, seed, **limits)

    def close(self) -> None:
        self.backend.close()
