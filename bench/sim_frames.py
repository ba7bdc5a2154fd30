"""Rendered MuJoCo frames for the store benchmarks: a lit tabletop with a moving arm-like chain of
primitives, seen by a fixed scene camera and a camera on the moving link (RGB 640x480 + depth).

Compression ratios depend on the images, so the store is measured on rendered sim frames, not on
noise or gradients. Frames are rendered once and cached in bench/.cache/ (ignored by git).
"""
from __future__ import annotations

import os
import pathlib

import numpy as np

SCENE = """
<mujoco>
  <visual><global offwidth="640" offheight="480"/><quality shadowsize="2048"/></visual>
  <asset>
    <texture name="grid" type="2d" builtin="checker" rgb1=".75 .75 .72" rgb2=".55 .55 .52" width="256" height="256"/>
    <material name="grid" texture="grid" texrepeat="6 6" reflectance=".1"/>
    <texture name="sky" type="skybox" builtin="gradient" rgb1=".6 .7 .8" rgb2=".2 .25 .3" width="256" height="256"/>
  </asset>
  <worldbody>
    <light pos="0.5 -0.5 2.5" dir="-0.2 0.2 -1" castshadow="true" diffuse=".8 .8 .8"/>
    <light pos="-1 1 2" dir="0.5 -0.5 -1" diffuse=".3 .3 .3"/>
    <geom type="plane" size="2 2 .1" material="grid"/>
    <geom type="box" pos="0.55 0 0.2" size="0.35 0.5 0.02" rgba=".45 .32 .22 1"/>
    <geom type="box" pos="0.5 0.15 0.25" size="0.03 0.03 0.03" rgba=".85 .15 .15 1"/>
    <geom type="cylinder" pos="0.65 -0.2 0.26" size="0.03 0.04" rgba=".15 .35 .85 1"/>
    <geom type="sphere" pos="0.4 -0.1 0.25" size="0.03" rgba=".2 .7 .25 1"/>
    <camera name="scene" pos="1.4 -0.9 1.0" xyaxes="0.55 0.83 0 -0.35 0.23 0.9"/>
    <body name="base" pos="0 0 0.22">
      <geom type="cylinder" size="0.07 0.05" rgba=".3 .3 .3 1"/>
      <joint name="j1" type="hinge" axis="0 0 1"/>
      <body name="l1" pos="0 0 0.05">
        <joint name="j2" type="hinge" axis="0 1 0"/>
        <geom type="capsule" fromto="0 0 0 0.3 0 0.2" size="0.035" rgba=".9 .9 .92 1"/>
        <body name="l2" pos="0.3 0 0.2">
          <joint name="j3" type="hinge" axis="0 1 0"/>
          <geom type="capsule" fromto="0 0 0 0.3 0 -0.05" size="0.03" rgba=".9 .9 .92 1"/>
          <body name="hand" pos="0.3 0 -0.05">
            <geom type="box" size="0.03 0.05 0.02" rgba=".2 .2 .2 1"/>
            <camera name="wrist" pos="0.05 0 0.0" xyaxes="0 -1 0 1 0 0.3" fovy="70"/>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
</mujoco>
"""
CACHE = pathlib.Path(__file__).parent / ".cache"


def render_frames(n: int = 150, width: int = 640, height: int = 480) -> dict[str, np.ndarray]:
    """{'scene_rgb', 'wrist_rgb': uint8 [n,H,W,3], 'scene_depth': uint16 mm [n,H,W], 'qpos': [n,3]}."""
    CACHE.mkdir(exist_ok=True)
    cached = CACHE / f"sim_frames_{n}_{width}x{height}.npz"
    if cached.exists():
        return dict(np.load(cached))
    os.environ.setdefault("MUJOCO_GL", "egl")
    import mujoco
    model = mujoco.MjModel.from_xml_string(SCENE)
    data = mujoco.MjData(model)
    renderer = mujoco.Renderer(model, height, width)
    out = {"scene_rgb": [], "wrist_rgb": [], "scene_depth": [], "qpos": []}
    try:
        for i in range(n):
            t = i / 30.0
            data.qpos[:] = [0.6 * np.sin(0.7 * t), 0.4 + 0.3 * np.sin(1.1 * t), -0.8 + 0.4 * np.cos(0.9 * t)]
            mujoco.mj_forward(model, data)
            renderer.disable_depth_rendering()
            renderer.update_scene(data, camera="scene")
            out["scene_rgb"].append(renderer.render().copy())
            renderer.update_scene(data, camera="wrist")
            out["wrist_rgb"].append(renderer.render().copy())
            renderer.enable_depth_rendering()
            renderer.update_scene(data, camera="scene")
            depth_m = renderer.render()
            out["scene_depth"].append(np.clip(depth_m * 1000.0, 0, 65535).astype(np.uint16))
            out["qpos"].append(data.qpos.copy())
    finally:
        renderer.close()
    arrays = {k: np.stack(v) for k, v in out.items()}
    np.savez(cached, **arrays)
    return arrays


if __name__ == "__main__":
    import time
    t0 = time.perf_counter()
    f = render_frames(30)
    print({k: (v.shape, v.dtype) for k, v in f.items()}, f"{time.perf_counter() - t0:.1f} s")
