"""The simulator's scene around a robot: table, lights, floor and the front camera, added with
MjSpec to the robot's model (robot_rl.robot.model.build_spec); tasks add their objects after it.
"""
from __future__ import annotations

import mujoco


def add_scene(spec: mujoco.MjSpec, width: int = 128, height: int = 128) -> None:
    """Table, lights, floor and the front camera around a robot spec (table top at z = 0)."""
    spec.visual.global_.offwidth = max(spec.visual.global_.offwidth, 640)
    spec.visual.global_.offheight = max(spec.visual.global_.offheight, 480)
    # No multisampling: headless MuJoCo renders on the CPU (Mesa), where MSAA is a large share of
    # each step's render time (docs/BENCHMARKS.md): a robot model with fine meshes then renders too
    # slowly for its control rate beside a learner, and the control node holds on stale frames.
    # Without it only object edges alias, by a pixel.
    spec.visual.quality.offsamples = 0
    wb = spec.worldbody
    tex = spec.add_texture(name="rl_grid", type=mujoco.mjtTexture.mjTEXTURE_2D,
                           builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER, rgb1=[.72, .72, .70], rgb2=[.58, .58, .56],
                           width=128, height=128)
    mat = spec.add_material(name="rl_floor", texrepeat=[8, 8], reflectance=0.05)
    mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = tex.name
    wb.add_light(name="rl_key", pos=[0.6, -0.6, 1.8], dir=[-0.3, 0.3, -1], castshadow=False, diffuse=[.7, .7, .7])
    wb.add_light(name="rl_fill", pos=[-0.6, 0.6, 1.5], dir=[0.4, -0.4, -1], castshadow=False, diffuse=[.35, .35, .35])
    wb.add_geom(name="rl_floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[2, 2, 0.1], pos=[0, 0, -0.75], material="rl_floor")
    wb.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.45, 0.5, 0.02], pos=[0.35, 0, -0.02],
                rgba=[.45, .33, .24, 1], contype=1, conaffinity=1, friction=[1, 0.01, 0.001])
    # looks from the far side of the table at the middle of the workspace (0.4, 0, 0.1)
    wb.add_camera(name="front", pos=[0.95, 0.0, 0.55], xyaxes=[0, 1, 0, -0.633, 0, 0.774], fovy=50)
