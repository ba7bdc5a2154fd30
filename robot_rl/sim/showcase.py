"""`robot-rl sim`: run one episode on the simulator and write what a person wants to see: an mp4
of the front and wrist cameras side by side and a PNG strip of key frames."""
from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from robot_rl.log import get_logger
from robot_rl.robot import DEFAULT_ROBOT
from robot_rl.sim import make
from robot_rl.sim.corrector import CorrectedEnv, SimulatedHuman
from robot_rl.sim.experts import make_expert

log = get_logger(__name__)


def run_showcase(task: str, out_dir: pathlib.Path, seed: int = 0, robot: str = DEFAULT_ROBOT, policy: str = "expert",
                 human: bool = False, size: tuple[int, int] = (240, 320), strip_frames: int = 8) -> dict[str, Any]:
    import cv2
    env = make(task, robot=robot, cameras=[])
    try:
        pol = None if policy == "idle" else make_expert(
            env, seed=seed, **({"bias_m": 0.04, "noise_std": 0.3} if policy == "weak" else {}))
        runner: Any = CorrectedEnv(env, SimulatedHuman(env, seed=seed)) if human else env
        obs, info = runner.reset(seed=seed)
        frames, flags = [], []

        def grab(intervening: bool) -> None:
            tiles = [env.render_camera(c, size) for c in ("front", "wrist") if c == "front" or env.robot.wrist_camera >= 0]
            frame = np.ascontiguousarray(np.hstack(tiles)[..., ::-1])
            if intervening:  # a red border while the (simulated) human drives
                cv2.rectangle(frame, (0, 0), (frame.shape[1] - 1, frame.shape[0] - 1), (0, 0, 255), 6)
            cv2.putText(frame, f"{task} seed {seed} step {env.steps}", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (255, 255, 255), 1, cv2.LINE_AA)
            frames.append(frame)
            flags.append(intervening)

        grab(False)
        done = False
        while not done:
            action = np.zeros(5) if pol is None else pol.act(obs, info)
            obs, _, term, trunc, info = runner.step(action)
            grab(bool(info.get("is_intervention", False)))
            done = term or trunc
        out_dir = pathlib.Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        mp4 = out_dir / f"{task}_seed{seed}.mp4"
        h, w = frames[0].shape[:2]
        writer = cv2.VideoWriter(str(mp4), cv2.VideoWriter_fourcc(*"mp4v"), env.cfg.control_hz, (w, h))
        for f in frames:
            writer.write(f)
        writer.release()
        picks = np.linspace(0, len(frames) - 1, min(strip_frames, len(frames))).round().astype(int)
        strip = np.hstack([cv2.resize(frames[i][:, :size[1]], (size[1] // 2, size[0] // 2)) for i in picks])
        png = out_dir / f"{task}_seed{seed}.png"
        cv2.imwrite(str(png), strip)
        return {"success": bool(info["success"]), "steps": env.steps, "intervention_steps": int(sum(flags)),
                "mp4": str(mp4), "png": str(png)}
    finally:
        env.close()
