"""The session's evaluation acts through the control node's safety layer and action scaling
(robot_rl.control.core.robot_control), so what it measures is what the robot's loop would let a policy
do: here a gripper flipped every step is rate-limited."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import arm6_control
from robot_rl.robot import load as load_robot
from robot_rl.session.evaluate import evaluate_policy


class Flipper:
    """Pushes +x and flips the gripper between closed and open at every step."""
    version = "test/flipper"

    def __init__(self) -> None:
        self.k = 0

    def __call__(self, obs: dict) -> np.ndarray:
        self.k += 1
        return np.array([1.0, 0.0, 0.0, 0.0, 1.0 if self.k % 2 else -1.0])


def test_evaluation_clamps_as_the_control_node_does():
    policy = Flipper()
    # at 50 Hz arm6's gripper command may move 20 / 50 = 0.4 a tick (its description's max_rate)
    res = evaluate_policy(policy, "pick_cube", [7], cameras="front", image_size=32, rate_hz=50.0)
    steps = res["steps"][0]
    assert res["version"] == "test/flipper" and res["success"] == [False] and steps == policy.k
    # +1 first (the reference), then -1 is held to 1 - 0.4 = 0.6, from where +1 is within reach: every
    # second command is clamped
    assert res["clamps"]["gripper"] == steps // 2
    # the same limits as the control node's at 10 Hz: 3 cm and 0.15 rad per tick, the gripper's rate
    # from the robot's description
    cfg, to_command = arm6_control(10.0)
    np.testing.assert_allclose(cfg.max_step, [0.03, 0.03, 0.03, 0.15])
    np.testing.assert_allclose(to_command.scale, [0.03, 0.03, 0.03, 0.15])
    assert cfg.gripper_max_rate == load_robot("arm6").gripper.max_rate == 20.0


def test_selection_picks_the_best_export_and_the_newest_on_a_tie():
    from robot_rl.session import select
    versions = [f"v{i:04d}" for i in range(1, 8)]
    assert select.candidates(versions, "s", 3) == ["s/v0005", "s/v0006", "s/v0007"]
    assert select.candidates(versions[:2], "s", 4) == ["s/v0001", "s/v0002"]
    assert select.candidates(versions, "s", 0) == []
    assert select.candidates(versions, "s", 2, base="b/v0001") == ["b/v0001", "s/v0006", "s/v0007"]
    # the base goes first: it wins only when strictly better than every export
    assert select.choose([{"ref": "base", "success_rate": 0.5}, {"ref": "a", "success_rate": 0.5}]) == "a"
    assert select.choose([{"ref": "base", "success_rate": 0.6}, {"ref": "a", "success_rate": 0.5}]) == "base"
    # the best, wherever it is; the newest among equals
    assert select.choose([{"ref": "a", "success_rate": 0.2}, {"ref": "b", "success_rate": 0.6},
                          {"ref": "c", "success_rate": 0.4}]) == "b"
    assert select.choose([{"ref": "a", "success_rate": 0.5}, {"ref": "b", "success_rate": 0.5},
                          {"ref": "c", "success_rate": 0.1}]) == "b"
    assert select.choose([{"ref": "a", "success_rate": 0.0}, {"ref": "b", "success_rate": 0.0}]) == "b"
    with pytest.raises(ValueError):
        select.choose([])
    # validation seeds never meet the demonstration, HIL or held-out evaluation seeds of a session
    from robot_rl.session import SessionConfig
    cfg = SessionConfig(seed=3)
    val = set(select.validation_seeds(cfg.seed, 50))
    held_out = {cfg.seed + 100_000 + i for i in range(cfg.eval_episodes)}
    demos_and_hil = set(range(cfg.seed, cfg.seed + 1000 + 10_000))
    assert len(val) == 50 and not val & held_out and not val & demos_and_hil


def test_a_session_whose_exports_all_lose_to_its_base_deploys_the_base(tmp_path, caplog):
    """The select stage puts the BC base among the candidates: exports that all do worse than it on
    the validation seeds are not deployed; eval then measures the base as the final policy (without
    running it twice) and the report says why. The candidates' validation results are the ones an
    interrupted select stage left behind (the stage resumes from them); eval and report run for real."""
    import json

    from conftest import publish_mlp
    from robot_rl.policy import ActionSpec, ObsSpec
    from robot_rl.policy.registry import PolicyRegistry
    from robot_rl.session import Session, SessionConfig, select

    cfg = SessionConfig(out=str(tmp_path / "s"), eval_episodes=2, select_episodes=3, cameras="", image_size=32)
    reg = PolicyRegistry(cfg.registry)
    proprio, action = ObsSpec("proprio", [17]), ActionSpec(["dx", "dy", "dz", "dyaw", "gripper"], [-1.0] * 5, [1.0] * 5)
    for i, name in enumerate([cfg.base_name, cfg.name, cfg.name, cfg.name]):
        publish_mlp(reg, name, proprio, action, seed=i)
    base, exports = f"{cfg.base_name}/v0001", [f"{cfg.name}/v000{i}" for i in (1, 2, 3)]
    seeds = select.validation_seeds(cfg.seed, cfg.select_episodes)
    rates = {base: [True, True, False], exports[0]: [True, False, False], exports[1]: [False] * 3,
             exports[2]: [True, False, False]}
    (cfg.root / "select.json").write_text(json.dumps({"last": exports[-1], "seeds": seeds, "candidates": [
        {"ref": ref, "seeds": seeds, "success": s, "success_rate": sum(s) / 3, "seconds": 1.0}
        for ref, s in rates.items()]}))

    session = Session(cfg)
    assert session.stage_select() == 0
    sel = json.loads((cfg.root / "select.json").read_text())
    assert [r["ref"] for r in sel["candidates"]] == [base, *exports] and sel["base"] == base
    assert sel["chosen"] == base and session.final_policy() == base
    with caplog.at_level("INFO"):
        assert session.stage_eval() == 0
    ran = [r.getMessage().split(" policy ")[0] for r in caplog.records if r.getMessage().startswith("eval: ")
           and " policy " in r.getMessage()]
    assert ran == ["eval: base", "eval: last"], ran   # the base once, not again as the final
    ev = json.loads((cfg.root / "eval.json").read_text())
    assert ev["final"] == ev["base"] and ev["base"]["version"] == base and ev["base"]["seeds"] == [100000, 100001]
    assert ev["last"]["version"] == exports[-1]     # what deploying the last export would have given
    assert session.stage_report() == 0
    report = (cfg.root / "report.md").read_text()
    assert "the final policy is the base" in report and f"`{base}` (base) (chosen)" in report

    # with the base off, the same results choose among the exports only (the newest on a tie)
    cfg.select_base = False
    assert Session(cfg).stage_select() == 0
    sel = json.loads((cfg.root / "select.json").read_text())
    assert [r["ref"] for r in sel["candidates"]] == exports and sel["chosen"] == exports[2]


def test_a_copied_session_folder_reports_its_own_strips(tmp_path):
    """eval.json names strips relative to the session folder, so a copied (or moved) folder's report
    shows the copy's images; one written before that (absolute paths) finds the copy's too."""
    import json
    import shutil

    import cv2

    from robot_rl.session import Session, SessionConfig

    cfg = SessionConfig(out=str(tmp_path / "s"))
    strips = cfg.root / "strips"
    for role, colour in (("base", 0), ("final", 255)):
        (strips / role).mkdir(parents=True)
        cv2.imwrite(str(strips / role / "seed1_success.png"), np.full((8, 16, 3), colour, np.uint8))
    result = {"version": "x/v0001", "seeds": [1], "success": [True], "success_rate": 1.0, "steps": [10]}
    (cfg.root / "eval.json").write_text(json.dumps({
        "base": {**result, "strips": ["strips/base/seed1_success.png"]},                  # as written now
        "final": {**result, "strips": [str(strips / "final" / "seed1_success.png")]}}))  # as written before
    copy = SessionConfig(out=str(tmp_path / "copy"))
    shutil.copytree(cfg.root, copy.root)
    shutil.rmtree(cfg.root)                       # the original is gone
    assert Session(copy).stage_report() == 0
    report = (copy.root / "report.md").read_text()
    assert "(missing" not in report
    assert "(strips/base/seed1_success.png)" in report and "(strips/final/seed1_success.png)" in report
    assert (copy.root / "report.html").read_text().count("data:image/png;base64,") >= 3   # session plot, 2 strips


def test_outcomes_say_how_far_each_episode_got_and_the_report_lists_the_failures(tmp_path):
    """robot_rl.sim.outcomes on the real pick_cube: the scripted expert's episode is a success; a
    policy that never moves never reaches the cube (its closest approach is where it started). The
    session's evaluation keeps a row per episode and the report lists how the failures ended."""
    import json

    from robot_rl import sim
    from robot_rl.session import Session, SessionConfig
    from robot_rl.sim.experts import make_expert
    from robot_rl.sim.outcomes import failure_summary, tracker_for
    from robot_rl.tasks.pick_cube import OUTCOMES

    env = sim.make("pick_cube", cameras=[])
    obs, info = env.reset(seed=3)
    start_cm = 100 * float(np.linalg.norm(info["state"]["cube_pos"] - env.ee_pose()[0]))
    expert, tracker, done = make_expert(env, seed=3), tracker_for(env), False   # pick_cube's own categories
    expert.reset()
    while not done:
        obs, _, term, trunc, info = env.step(expert.act(obs, info))
        done = term or trunc
        tracker.step(info)
    assert tracker.result(bool(info["success"]))["outcome"] == "success"
    env.close()

    res = evaluate_policy(lambda obs: np.zeros(5), "pick_cube", [3, 4], cameras="front", image_size=32)
    assert res["success"] == [False, False] and [o["seed"] for o in res["outcomes"]] == [3, 4]
    assert all(o["outcome"] == OUTCOMES[1] for o in res["outcomes"])
    assert abs(res["outcomes"][0]["closest_cm"] - start_cm) < 1.0      # it stayed where it started
    summary = failure_summary(res["outcomes"])
    assert summary.startswith("never reached the cube 2 (closest ") and "cm across, medians)" in summary
    assert failure_summary([{"outcome": "success", "closest_cm": 0.0, "closest_xy_cm": 0.0}]) == ""

    cfg = SessionConfig(out=str(tmp_path / "s"))
    cfg.root.mkdir(parents=True)
    (cfg.root / "eval.json").write_text(json.dumps({"base": {**res, "version": "x/v0001"}}))
    assert Session(cfg).stage_report() == 0
    report = (cfg.root / "report.md").read_text()
    assert "How the failed episodes ended" in report and f"- base: {summary}" in report
