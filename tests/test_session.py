"""`robot-rl session` end to end on the simulator (issue #8), every stage in real processes: the
scripted expert records demonstrations through the recording graph, BC trains a base, the control
node runs it with the simulated human correcting while the learner node trains beside it and the
control node swaps its exports in, the learner catches up, the best of its last exports on validation seeds becomes the final policy, both policies are evaluated on held-out
seeds, and the report is written. Then the session is continued: nothing done is redone, more HIL
episodes are recorded and the learner resumes from its checkpoint; and continued once more with its
learner killed, which the session survives and reports.

The short version runs in CI (`-m hil` selects the whole HIL suite: these plus the fault tests in
the other files); ROBOT_RL_HIL_LONG=1 also runs the default session (about 8 minutes here, as the README says)."""
from __future__ import annotations

import json
import os
import re
import signal
import sys

import numpy as np
import pytest

from conftest import run_logged, wait_exit, wait_until
from robot_rl.policy.registry import PolicyRegistry
from robot_rl.session import DEMO_NOTES, HIL_NOTES
from robot_rl.store import EpisodeStore
from robot_rl.store.verify import verify

pytestmark = [pytest.mark.ros, pytest.mark.hil]

SHORT = ["--demos", "2", "--hil-episodes", "3", "--eval-episodes", "2", "--set", "bc.steps=60",
         "--set", "learner.export_every_s=3", "--set", "learner.batch=32", "--set", "image_size=64",
         "--set", "catchup=true", "--set", "select_episodes=2"]   # the optional catch-up path runs here too


def session(tmp_path, env, *args, timeout=240):
    """One `robot-rl session` (a test may run several: each gets a log folder of its own)."""
    logs = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    return run_logged([sys.executable, "-m", "robot_rl.cli", "session", "--out", str(tmp_path / "s"), *args],
                      logs, timeout, cwd=tmp_path, env=env)


def test_session_short_runs_every_stage_and_continues(tmp_path, ros_child_env, procs):
    res = session(tmp_path, ros_child_env, *SHORT)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    root = tmp_path / "s"
    assert verify(root / "store.zarr").ok
    store = EpisodeStore.open(root / "store.zarr")
    eps = store.episodes(status="complete")
    demos = [e for e in eps if e.notes.startswith(DEMO_NOTES)]
    hil = [e for e in eps if e.notes.startswith(HIL_NOTES)]
    assert len(demos) == 2 and len(hil) == 3 and len(eps) == 5
    # demonstrations: the expert drove every step; nothing from a policy
    for e in demos:
        s = store.read_steps(e, ["intervention", "action", "human_action", "policy_version"])
        assert s["intervention"].all() and np.isfinite(s["human_action"]).all() and not np.isfinite(s["action"]).any()
    # HIL: a policy ran every step, and acted on each one the control node did not hold (its
    # watchdog holds while an input is stale: on a loaded machine a few ticks of a whole suite's run
    # did, recorded with no policy action and a motionless command); where the simulated human took
    # over, the step is flagged and carries the human's action, and only there
    took_over = 0
    for e in hil:
        s = store.read_steps(e, ["intervention", "action", "human_action", "executed_action", "policy_version"])
        acted = np.isfinite(s["action"]).all(axis=1)
        assert (s["policy_version"] >= 1).all() and acted.mean() > 0.5
        assert np.all(s["executed_action"][~acted, :4] == 0)
        flags = s["intervention"].astype(bool)
        assert (np.isfinite(s["human_action"]).all(axis=1) == flags).all()
        driven = flags & acted
        if driven.any():   # executed = the human's action through the safety layer, not the policy's
            ex, hu, po = s["executed_action"][driven], s["human_action"][driven], s["action"][driven]
            assert np.abs(ex - hu).mean() < np.abs(ex - po).mean()
        took_over += int(flags.sum())
    assert took_over > 0
    # the control node swapped the learner's exports in while the episodes ran
    assert "swapped to session/v0001" in out, out[-4000:]
    assert "policy update refused" not in out
    reg = PolicyRegistry(root / "policies")
    assert reg.versions("session_base") == ["v0001"] and len(reg.versions("session")) >= 2
    final = json.loads((root / "policies" / "session" / f"{reg.versions('session')[-1]}.json").read_text())
    assert final["parent"] == f"session/{reg.versions('session')[-2]}"
    # selection: the base and the newest (up to) 4 exports on their own validation seeds; the best is
    # the final policy (the base only when strictly better), and the held-out evaluation runs it (and
    # the last export too when that is another)
    versions = [f"session/{v}" for v in reg.versions("session")]
    sel = json.loads((root / "select.json").read_text())
    assert [r["ref"] for r in sel["candidates"]] == ["session_base/v0001", *versions[-4:]]
    assert sel["last"] == versions[-1] and sel["base"] == "session_base/v0001"
    assert sel["seeds"] == [200000, 200001] and all(r["seeds"] == sel["seeds"] for r in sel["candidates"])
    best = max(r["success_rate"] for r in sel["candidates"])
    assert sel["chosen"] == [r["ref"] for r in sel["candidates"] if r["success_rate"] == best][-1]
    ev = json.loads((root / "eval.json").read_text())
    assert ev["base"]["version"] == "session_base/v0001" and ev["final"]["version"] == sel["chosen"]
    assert ev["base"]["seeds"] == ev["final"]["seeds"] == [100000, 100001]
    assert ("last" in ev) == (sel["chosen"] != versions[-1])
    # strips named relative to the folder (a copied folder's report shows its own)
    assert ev["base"]["strips"] and all(not s.startswith("/") and (root / s).is_file()
                                        for r in ev.values() for s in r["strips"])
    report = (root / "report.md").read_text()
    assert "## Result: held-out seeds, no corrections" in report and "session.png" in report
    assert "## Selection: the final policy" in report and f"`{sel['chosen']}` (chosen)" in report
    html = (root / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3             # session plot, learning curves, strips

    # continue: the done stages are skipped, one more HIL episode is recorded, the learner resumes;
    # the simulated human now judges by the task's progress (the parameter reaches the sim node)
    before = len(reg.versions("session"))
    res = session(tmp_path, ros_child_env, *SHORT[:2], "--hil-episodes", "4", *SHORT[4:],
                  "--set", "corrector_judge=progress")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert "demos: 2 of 2 recorded already" in out and "bc: " in out and "exist already" in out
    assert "hil: 1 episode(s) (3 already)" in out and "resumed from" in out
    assert len([e for e in EpisodeStore.open(root / "store.zarr").episodes(status="complete")
                if e.notes.startswith(HIL_NOTES)]) == 4
    assert len(reg.versions("session")) > before
    # the selection was redone over the new exports, the old ones' results kept
    sel2 = json.loads((root / "select.json").read_text())
    assert sel2["last"] == f"session/{reg.versions('session')[-1]}"
    kept = {r["ref"]: r for r in sel["candidates"]}
    assert all(r == kept[r["ref"]] for r in sel2["candidates"] if r["ref"] in kept)
    assert json.loads((root / "eval.json").read_text())["final"]["version"] == sel2["chosen"]

    # the learner killed (kill -9) as the episodes start: started again, it continues from its
    # checkpoint; killed again (learner_restarts=1: no more tries), the episodes are recorded all the
    # same, on the policy the control node had; the session says both in its log and report (no
    # catch-up here: the first run above takes that path)
    run = procs.start([sys.executable, "-m", "robot_rl.cli", "session", "--out", str(root), *SHORT[:2],
                       "--hil-episodes", "8", *SHORT[4:], "--set", "learner_restarts=1", "--set", "catchup=false"],
                      "killed")

    def started(n):
        pids = re.findall(r"started learner \(pid (\d+)\)", run.log_path.read_text(errors="replace"))
        return int(pids[n - 1]) if len(pids) >= n else None
    for n in (1, 2):
        assert wait_until(lambda: started(n), 120), run.log_path.read_text(errors="replace")[-3000:]
        if n == 2:   # the restarted learner is up (it resumed) before it is killed again
            def resumed():
                text = run.log_path.read_text(errors="replace")
                return "resumed from" in text[text.rfind("started learner"):]
            assert wait_until(resumed, 120), run.log_path.read_text(errors="replace")[-3000:]
        os.kill(started(n), signal.SIGKILL)
    assert wait_exit(run, 300) == 0, run.log_path.read_text(errors="replace")[-4000:]
    out = run.log_path.read_text(errors="replace")
    assert "restarted after a failure (1): continuing from the run's checkpoint" in out
    assert "hil: the learner was killed by SIGKILL during HIL episodes 5-8 and was started again" in out
    assert ("hil: the learner was killed by SIGKILL during HIL episodes 5-8: from then on the control node ran the "
            "last policy it had (catchup: true would train on the rest after the episodes)") in out
    assert verify(root / "store.zarr").ok
    assert len([e for e in EpisodeStore.open(root / "store.zarr").episodes(status="complete")
                if e.notes.startswith(HIL_NOTES)]) == 8
    state = json.loads((root / "session.json").read_text())
    assert state["hil_learner_restarted"] == [{"how": ["was killed by SIGKILL"], "episodes": [5, 8]}]
    assert state["hil_learner_stopped"] == [{"how": "was killed by SIGKILL", "caught_up": False, "episodes": [5, 8]}]
    report = (root / "report.md").read_text()
    assert "**The learner was killed by SIGKILL during HIL episodes 5-8** and was started again" in report
    assert "**The learner was killed by SIGKILL during HIL episodes 5-8**: from then on" in report


def test_session_refuses_bad_input_in_one_line(tmp_path, ros_child_env):
    res = session(tmp_path, ros_child_env, "--demos", "0")
    assert res.returncode == 2 and "demos >= 1" in res.stderr and "Traceback" not in res.stderr
    res = session(tmp_path, ros_child_env, "--task", "juggle")
    assert res.returncode == 2 and "--task: task 'juggle' is not one of" in res.stderr
    res = session(tmp_path, ros_child_env, "--stage", "hil")
    assert res.returncode == 2 and "run the bc stage first" in res.stderr + res.stdout
    res = session(tmp_path, ros_child_env, "--stage", "hil", "--set", "success_model=missing.onnx")
    assert res.returncode == 2 and "success_model 'missing.onnx'" in res.stderr + res.stdout
    res = session(tmp_path, ros_child_env, "--set", "corrector_judge=vibes")
    assert res.returncode == 2 and "corrector_judge: expected one of 'plan', 'progress'" in res.stderr
    # one session per folder: while one runs (here this process holds its lock), a second refuses
    from robot_rl.proclock import ProcessLock
    (tmp_path / "s").mkdir(exist_ok=True)
    lock = ProcessLock(tmp_path / "s" / ".session.lock")
    lock.acquire()
    before = sorted(p.name for p in (tmp_path / "s").iterdir())
    res = session(tmp_path, ros_child_env, "--stage", "hil")
    lock.release()
    assert res.returncode == 2 and f"another session is running there (pid {os.getpid()})" in res.stderr
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == before   # it touched nothing
    assert "Traceback" not in res.stderr


@pytest.mark.skipif(not os.environ.get("ROBOT_RL_HIL_LONG"), reason="the long HIL suite: ROBOT_RL_HIL_LONG=1")
@pytest.mark.timeout(3600)   # the whole default session: about 7 minutes here, over the suite's 300 s default
def test_session_default_beats_its_base(tmp_path, ros_child_env):
    res = session(tmp_path, ros_child_env, timeout=3500)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    ev = json.loads((tmp_path / "s" / "eval.json").read_text())
    assert ev["final"]["success_rate"] > ev["base"]["success_rate"], ev
