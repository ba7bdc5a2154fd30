"""The config system: typed dataclasses from YAML with CLI overrides and one-line errors."""
from __future__ import annotations

import pathlib
from dataclasses import dataclass, field
from typing import Literal

import pytest

from robot_rl import config
from robot_rl.config import ConfigError


@dataclass
class Camera:
    name: str
    rate_hz: float = 30.0
    size: tuple[int, int] = (640, 480)

    def validate(self):
        if self.rate_hz <= 0:
            raise ValueError(f"rate_hz must be > 0, got {self.rate_hz}")


@dataclass
class Robot:
    name: str
    control: Literal["joint", "cartesian"] = "joint"
    cameras: list[Camera] = field(default_factory=list)
    limits: dict[str, float] = field(default_factory=dict)
    enabled: bool = True
    notes: str | None = None
    model: pathlib.Path | None = None


def test_loads_nested_yaml_with_defaults(tmp_path):
    path = tmp_path / "robot.yaml"
    path.write_text("name: arm\ncontrol: cartesian\ncameras:\n  - {name: front, rate_hz: 15}\n"
                    "limits: {joint1: 2.5}\nmodel: models/arm.xml\n")
    robot = config.load(Robot, path)
    assert robot.control == "cartesian"
    assert robot.cameras == [Camera(name="front", rate_hz=15.0, size=(640, 480))]
    assert isinstance(robot.cameras[0].rate_hz, float)
    assert robot.limits == {"joint1": 2.5}
    assert robot.model == pathlib.Path("models/arm.xml")
    assert robot.notes is None


@pytest.mark.parametrize("data, message", [
    ({"name": "arm", "colour": "red"}, "colour: unknown key (known keys: name, control"),
    ({"name": "arm", "control": "torque"}, "control: expected one of 'joint', 'cartesian', got 'torque'"),
    ({"name": 3}, "name: expected a string, got 3"),
    ({}, "name: required key is missing"),
    ({"name": "arm", "enabled": "yes"}, "enabled: expected true or false, got 'yes'"),
    ({"name": "arm", "cameras": [{"name": "a"}, {"name": "b", "rate_hz": "fast"}]},
     "cameras[1].rate_hz: expected a number, got 'fast'"),
    ({"name": "arm", "cameras": [{"name": "a", "rate_hz": -1}]}, "cameras[0]: rate_hz must be > 0, got -1.0"),
    ({"name": "arm", "cameras": [{"name": "a", "size": [1, 2, 3]}]}, "cameras[0].size: expected 2 items, got 3"),
    ({"name": "arm", "limits": {"j": float("nan")}}, "limits.j: expected a finite number"),
    ({"name": "arm", "cameras": {"name": "a"}}, "cameras: expected a list"),
])
def test_bad_values_name_the_key(data, message):
    with pytest.raises(ConfigError) as err:
        config.from_dict(Robot, data)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_int_is_not_bool_and_bool_is_not_int():
    @dataclass
    class C:
        n: int = 0

    with pytest.raises(ConfigError, match="n: expected an integer, got True"):
        config.from_dict(C, {"n": True})
    with pytest.raises(ConfigError, match="n: expected an integer, got 1.5"):
        config.from_dict(C, {"n": 1.5})


def test_overrides_reach_nested_keys_and_list_items(tmp_path):
    path = tmp_path / "robot.yaml"
    path.write_text("name: arm\ncameras:\n  - {name: front}\n  - {name: wrist}\n")
    robot = config.load(Robot, path, ["cameras.1.rate_hz=60", "limits.j2=1.5", "notes=hello world",
                                      "enabled=false"])
    assert robot.cameras[1].rate_hz == 60.0 and robot.cameras[0].rate_hz == 30.0
    assert robot.limits == {"j2": 1.5}
    assert robot.notes == "hello world"
    assert robot.enabled is False


@pytest.mark.parametrize("override, message", [
    ("cameras.5.rate_hz=1", "'5' is not an index of a 1-item list"),
    ("no_equals_sign", "expected KEY=VALUE"),
    ("name.first=x", "name is not a mapping or list"),
    ("cameras.0.fps=10", "cameras[0].fps: unknown key"),
])
def test_bad_overrides(tmp_path, override, message):
    path = tmp_path / "robot.yaml"
    path.write_text("name: arm\ncameras:\n  - {name: front}\n")
    with pytest.raises(ConfigError) as err:
        config.load(Robot, path, [override])
    assert message in str(err.value)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        config.load(Robot, tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: arm\ncameras: [\n  {name: a\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: invalid YAML at line \d+"):
        config.load(Robot, bad)
    with pytest.raises(ConfigError, match="cannot read config file"):
        config.load(Robot, tmp_path)


def test_error_names_the_file(tmp_path):
    path = tmp_path / "robot.yaml"
    path.write_text("name: arm\ncontrol: torque\n")
    with pytest.raises(ConfigError, match=r"robot.yaml: control: expected one of"):
        config.load(Robot, path)


def test_to_dict_round_trips():
    robot = Robot(name="arm", cameras=[Camera("front")], model=pathlib.Path("m.xml"))
    assert config.from_dict(Robot, config.to_dict(robot)) == robot


@dataclass
class Cell:
    robot: Robot = field(default_factory=lambda: Robot(name="ur5", control="cartesian", limits={"j1": 2.0}))
    spare: Camera = field(default_factory=lambda: Camera(name="spare", rate_hz=15.0))


def test_a_partial_override_keeps_the_fields_own_default_not_the_class_default():
    # a session's `bc` defaults to a CNN with fewer steps than BCConfig's own defaults:
    # `--set bc.steps=50` must keep the CNN
    cell = config.load(Cell, None, ["robot.enabled=false", "robot.limits.j2=1.0"])
    assert (cell.robot.name, cell.robot.control, cell.robot.enabled) == ("ur5", "cartesian", False)
    assert cell.robot.limits == {"j1": 2.0, "j2": 1.0}
    assert cell.spare == Camera(name="spare", rate_hz=15.0)


def test_the_session_learner_defaults_survive_an_override_two_levels_down():
    # the session's learner imitates the human's steps by default (SACConfig's own default does not):
    # switching one of those off from the CLI keeps the rest of the session's learner, not SACConfig's
    from robot_rl.session import SessionConfig

    sac = config.load(SessionConfig, None, []).learner.sac
    assert (sac.bc_weight, sac.bc_q_filter, sac.bc_encoder) == (1.0, False, True)
    cfg = config.load(SessionConfig, None, ["learner.sac.bc_weight=0"])
    assert (cfg.learner.sac.bc_weight, cfg.learner.sac.bc_q_filter, cfg.learner.mode) == (0.0, False, "residual")


def test_a_session_learner_with_aux_heads_takes_the_sessions_task(tmp_path):
    from robot_rl.learn.learner import Learner
    from robot_rl.learn.config import LearnerConfig
    from robot_rl.session import SessionConfig

    head = "learner.aux.grasp={weight: 1.0, cameras: [wrist], batch: 64, input: true}"
    cfg = config.load(SessionConfig, None, ["task=open_drawer", head])
    assert cfg.learner.task == "" and cfg.learner_config().task == "open_drawer"
    assert cfg.learner_config().aux["grasp"].cameras == ["wrist"]   # the config's heads, not the task's defaults
    # named none, the learner trains those the task recommends (the grasping tasks: grasp, read by the policy) ...
    default = config.load(SessionConfig, None, ["task=open_drawer"]).learner_config()
    assert default.task == "open_drawer" and list(default.aux) == ["grasp"] and default.aux["grasp"].input
    peg = config.load(SessionConfig, None, ["task=peg_insert"]).learner_config().aux
    assert list(peg) == ["goal"]
    # the grasp head's loss weighs 4x in the encoder, peg_insert's goal head 1x (head_weight)
    assert (default.aux["grasp"].weight, peg["goal"].weight) == (4.0, 1.0)
    # ... none with task_aux off, or without cameras: no heads, no task
    for overrides in (["task=open_drawer", "task_aux=false"], ["task=open_drawer", "cameras="]):
        lc = config.load(SessionConfig, None, overrides).learner_config()
        assert (lc.task, lc.aux) == ("", {}), overrides
    # a learner on its own must name the task its heads come from
    alone = config.load(LearnerConfig, None, [head.removeprefix("learner."), "store=s.zarr", "policy=p"])
    with pytest.raises(ValueError, match="aux grasp needs the task whose heads they are"):
        Learner(alone)


def test_a_float_in_exponent_form_without_a_dot_is_a_number():
    """YAML 1.1 reads `1e9` as a string; a float field takes it as the number it is."""
    from robot_rl.learn.config import LearnerConfig
    c = config.load(LearnerConfig, None, ["export_every_s=1e9", "refresh_s=2.5E-1"])
    assert c.export_every_s == 1e9 and c.refresh_s == 0.25
    with pytest.raises(config.ConfigError, match="expected a number"):
        config.load(LearnerConfig, None, ["export_every_s=1e9x"])
