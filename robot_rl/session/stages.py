"""The session's six stages, in order, each resumable: a stage looks at what its own outputs hold
(the store's episodes by their notes, the registry's versions, the learner's checkpoint,
select.json's candidates, eval.json's results) and does only what is missing; `redo` does it again.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from typing import Any, Optional

from robot_rl.durable_file import write_durably
from robot_rl.learn.config import LearnerConfig
from robot_rl.log import get_logger
from robot_rl.robot import canonical
from robot_rl.session.config import DEMO_NOTES, HIL_NOTES, STAGES, SessionConfig

log = get_logger("robot_rl.session")


def _write_json(path: pathlib.Path, data: Any) -> None:
    """Whole or not at all, also after a power cut: a stage resumes from what these files say."""
    write_durably(path, json.dumps(data, indent=1).encode())


def episodes_with(store_path: pathlib.Path, notes: str) -> list:
    """Complete episodes of this session's kind (the notes the session's recorder writes)."""
    if not store_path.exists():
        return []
    from robot_rl.store import EpisodeStore
    return [e for e in EpisodeStore.open(store_path).episodes(status="complete") if e.notes.startswith(notes)]


# Folders whose session lock this process holds. One process may open a folder's Session more than
# once (one after another: tests, notebooks, a stage rerun); the lock keeps other processes out.
_LOCKED_FOLDERS: dict[pathlib.Path, Any] = {}


def _lock_folder(root: pathlib.Path) -> None:
    """One session per folder: two would record into one store, train one learner and read each
    other's results. Held until the process exits (kill -9 included: robot_rl.proclock)."""
    from robot_rl.proclock import LockHeld, ProcessLock

    key = root.resolve()
    if key in _LOCKED_FOLDERS:
        return
    lock = ProcessLock(key / ".session.lock")
    try:
        lock.acquire()
    except LockHeld as exc:
        raise ValueError(f"{root}: another session is running there (pid {exc.pid})") from None
    _LOCKED_FOLDERS[key] = lock


class Session:
    def __init__(self, cfg: SessionConfig) -> None:
        cfg.validate()
        self.cfg = cfg
        cfg.root.mkdir(parents=True, exist_ok=True)
        _lock_folder(cfg.root)
        self.state_path = cfg.root / "session.json"
        import yaml

        from robot_rl import config
        # what this session was run with (the last invocation's), for the report and the benches
        (cfg.root / "session.yaml").write_text(yaml.safe_dump(config.to_dict(cfg), sort_keys=False))
        self.state: dict[str, Any] = json.loads(self.state_path.read_text()) if self.state_path.exists() else {}
        if isinstance(self.state.get("hil_learner_stopped"), dict):   # one dict, no episodes, before 6f92175
            self.state["hil_learner_stopped"] = [self.state["hil_learner_stopped"]]

    def _save_state(self) -> None:
        _write_json(self.state_path, self.state)

    def run(self, stages: tuple[str, ...] = STAGES, redo: bool = False) -> int:
        t0 = time.monotonic()
        for i, stage in enumerate(stages, 1):
            log.info("=== stage %d/%d: %s ===", i, len(stages), stage)
            started = time.monotonic()
            code = getattr(self, f"stage_{stage}")(redo=redo)
            self.state.setdefault("stage_s", {})[stage] = round(time.monotonic() - started, 1)
            self._save_state()
            if code != 0:
                log.error("stage %s failed (exit %d); fix and rerun: completed stages are skipped", stage, code)
                return code
        log.info("session done in %.1f min: %s", (time.monotonic() - t0) / 60, self.cfg.root / "report.html")
        return 0

    # --- 1. demonstrations -------------------------------------------------------------------------
    def stage_demos(self, redo: bool = False) -> int:
        from robot_rl.graph import GraphConfig, GraphRunner
        from robot_rl.record.graph import recording_nodes
        c = self.cfg
        have = len(episodes_with(c.store, DEMO_NOTES))
        todo = c.demos - have
        if todo <= 0:
            log.info("demos: %d of %d recorded already", have, c.demos)
            return 0
        log.info("demos: recording %d demonstration(s) (%d already) into %s, teleop %s", todo, have, c.store, c.teleop)
        nodes = recording_nodes(self._recording(episodes=todo, seed=c.seed + have, teleop=c.teleop, policy="",
                                                notes=f"{DEMO_NOTES}, teleop {c.teleop}"))
        return GraphRunner(GraphConfig(name="session_demos", nodes=nodes, domain_id=self._domain())).run()

    def _domain(self):
        """The simulator is inside the session's graphs: a domain of their own (a second session or a
        preflight on this machine must not reach them). A robot's: the environment's (its driver's)."""
        from robot_rl import ros_env
        return ros_env.sim_graph_domain() if self.cfg.sim else None

    def _recording(self, **kw):
        from robot_rl.record.graph import RecordingGraph
        c = self.cfg
        return RecordingGraph(store=str(c.store), task=c.task, robot=c.robot, rate_hz=c.rate_hz, cameras=c.cameras,
                              image_size=c.image_size, max_episode_s=c.max_episode_s, sim=c.sim,
                              registry=str(c.registry), env=c.env, **kw)

    # --- 2. behavior cloning -----------------------------------------------------------------------
    def stage_bc(self, redo: bool = False) -> int:
        from robot_rl.learn.bc import train_and_publish
        from robot_rl.policy.registry import PolicyRegistry
        c = self.cfg
        reg = PolicyRegistry(c.registry)
        if c.bc_checkpoint.exists() and reg.versions(c.base_name) and not redo:
            log.info("bc: %s and %s/%s exist already", c.bc_checkpoint, c.base_name, reg.versions(c.base_name)[-1])
            return 0
        res = train_and_publish(c.store, c.bc, c.base_name, c.bc_checkpoint, c.registry)
        r = res["report"]
        log.info("bc: %d human steps of %d episodes, loss %.4f -> %.4f in %.0f s; exported %s (parity %.1g)",
                 r["human_steps"], r["episodes"], r["loss_first"], r["loss_last"], r["seconds"], res["path"],
                 res["parity"])
        return 0

    # --- 3. the HIL session --------------------------------------------------------------------------
    def stage_hil(self, redo: bool = False) -> int:
        import yaml

        from robot_rl import config
        from robot_rl.graph import GraphConfig, GraphRunner, NodeSpec
        from robot_rl.policy.registry import PolicyRegistry
        from robot_rl.record.graph import recording_nodes
        c = self.cfg
        reg = PolicyRegistry(c.registry)
        success_model = ""
        if c.success_model:   # refuse a bad one before anything starts, not when the control node does
            from robot_rl.control.success import SuccessDetector
            from robot_rl.policy.spec import PolicyError
            try:
                path = reg.resolve(c.success_model).resolve()
                SuccessDetector(path)   # loads, checks it is a reward classifier, runs nothing yet
                success_model = str(path)
            except (PolicyError, ValueError) as exc:
                log.error("hil: success_model %r: %s", c.success_model, exc)
                return 2
        if not reg.versions(c.base_name):
            log.error("hil: no base policy %s in %s: run the bc stage first", c.base_name, c.registry)
            return 2
        have = len(episodes_with(c.store, HIL_NOTES))
        todo = c.hil_episodes - have
        lcfg = self.cfg.learner_config()
        resume = (c.learner_dir / "checkpoint.safetensors").exists()
        if todo > 0 and not c.sim:
            from robot_rl.preflight import PreflightConfig, run_preflight
            if run_preflight(config.load(PreflightConfig, c.preflight, [f"robot={canonical(c.robot)}"]), c.root / "preflight") != 0:
                log.error("hil: preflight failed (%s): the policy may not move the robot", c.root / "preflight" /
                          "preflight.json")
                return 1
        if todo > 0:
            # the control node starts with the newest policy: the learner's last export when resuming
            start = reg.resolve(c.name if reg.versions(c.name) else c.base_name)
            log.info("hil: %d episode(s) (%d already), control node starting with %s, the learner training beside it",
                     todo, have, start)
            c.learner_dir.mkdir(parents=True, exist_ok=True)
            lpath = c.learner_dir / "learner.yaml"
            lpath.write_text(yaml.safe_dump(config.to_dict(lcfg), sort_keys=False))
            nodes = recording_nodes(self._recording(
                episodes=todo, seed=c.seed + 1000 + have, policy=str(start),
                teleop="corrector" if c.sim else c.teleop, reward_model=success_model, corrector_judge=c.corrector_judge,
                notes=f"{HIL_NOTES}, corrections by "
                      f"{f'the simulated human ({c.corrector_judge} judge)' if c.sim else c.teleop}"))
            # the learner may die: the robot keeps running the last good policy and the episodes keep
            # being recorded; the runner starts it again from its checkpoint (learner_restarts times),
            # and after the last try the catch-up below resumes it when it left no export (or with
            # catchup: true)
            nodes.append(NodeSpec(name="learner", module="learner_node", required=False,
                                  restart="on-failure" if c.learner_restarts else "never",
                                  max_restarts=c.learner_restarts,
                                  parameters={"config": str(lpath), "resume": resume}))
            runner = GraphRunner(GraphConfig(name="session_hil", nodes=nodes, domain_id=self._domain()))
            code = runner.run()
            if "learner" in runner.restarted:
                fails = runner.restarted["learner"]
                self.state.setdefault("hil_learner_restarted", []).append(
                    {"how": fails, "episodes": [have + 1, have + todo]})
                log.warning("hil: the learner %s during HIL episodes %d-%d and was started again from its "
                            "checkpoint (%d time(s))", fails[0], have + 1, have + todo, len(fails))
            if "learner" in runner.ended_early:
                # the episodes are good data, but they ran on an older policy than the learner would
                # have made: say so here and in the report, not only in the node's log above
                # kept per run of the stage: a later continuation whose learner runs through adds none
                catch_up = c.catchup or not reg.versions(c.name)
                self.state.setdefault("hil_learner_stopped", []).append(
                    {"how": runner.ended_early["learner"], "caught_up": catch_up, "episodes": [have + 1, have + todo]})
                log.warning("hil: the learner %s during HIL episodes %d-%d: from then on the control node ran the "
                            "last policy it had%s", runner.ended_early["learner"], have + 1, have + todo,
                            "; the catch-up below trains on every episode" if catch_up else
                            " (catchup: true would train on the rest after the episodes)")
            if code != 0:
                return code
            resume = (c.learner_dir / "checkpoint.safetensors").exists()
        else:
            log.info("hil: %d of %d episodes recorded already", have, c.hil_episodes)
        if c.catchup or not reg.versions(c.name):
            return self._catch_up(lcfg, resume)
        return 0

    def _catch_up(self, lcfg: LearnerConfig, resume: bool) -> int:
        """The learner takes the updates it still owes for the data (on two cores it lags the robot)
        and exports the final version."""
        from robot_rl.learn.learner import Learner
        lcfg = dataclasses.replace(lcfg, idle_exit_s=0.5, threads=2, export_every_s=1e9)
        learner = Learner(lcfg, resume=resume)
        owed = learner.governor.owed()
        log.info("hil: the learner catches up: %d update(s) owed at UTD %g", owed, lcfg.utd)
        if owed == 0 and learner.exported:
            return 0
        result = learner.run()
        log.info("hil: learner done: %d updates, final export %s", result["updates"],
                 result["exported"][-1] if result["exported"] else "-")
        return 0

    # --- 4. selection ---------------------------------------------------------------------------------
    def stage_select(self, redo: bool = False) -> int:
        from robot_rl.policy.registry import PolicyRegistry
        from robot_rl.session import select
        from robot_rl.session.evaluate import evaluate_policy
        c = self.cfg
        reg = PolicyRegistry(c.registry)
        versions = reg.versions(c.name)
        if not versions:
            log.error("select: no learner export %s in %s: run the hil stage first", c.name, c.registry)
            return 2
        path = c.root / "select.json"
        last = f"{c.name}/{versions[-1]}"
        base = self._base_ref(reg) if c.select_base else None
        refs = select.candidates(versions, c.name, c.select_last, base)
        seeds = select.validation_seeds(c.seed, c.select_episodes)
        if not c.sim or len(refs) < 2 or not seeds or c.select_last < 2:
            why = ("on a robot there are no simulator seeds to select on" if not c.sim else
                   "selection is off (select_last < 2 or select_episodes 0)" if not seeds or c.select_last < 2 else
                   "the learner exported one version")
            log.info("select: %s: the final policy is the last export %s", why, last)
            _write_json(path, {"chosen": last, "last": last, "seeds": [], "candidates": [], "why": why})
            return 0
        old = json.loads(path.read_text()) if path.exists() and not redo else {}
        done = {r["ref"]: r for r in old.get("candidates", []) if r.get("seeds") == seeds}
        results: list[dict[str, Any]] = []
        for ref in refs:
            if ref not in done:
                log.info("select: %s on %d validation seeds (%d..%d), no corrections", ref, len(seeds), seeds[0],
                         seeds[-1])
                r = evaluate_policy(reg.resolve(ref), c.task, seeds, c.robot, c.cameras, c.image_size, c.rate_hz, gym_env=c.env)
                done[ref] = {"ref": ref, "seeds": seeds, "success": r["success"], "success_rate": r["success_rate"],
                             "seconds": r["seconds"]}
                # an interrupted selection resumes with the candidates it has run
                _write_json(path, {"last": last, "seeds": seeds, "candidates": [done[x] for x in refs if x in done]})
            results.append(done[ref])
        chosen = select.choose(results)
        exports = len(refs) - (base is not None)
        why = (f"best of the last {exports} exports" + (" and the base" if base else "") +
               f" on {len(seeds)} validation seeds")
        _write_json(path, {"chosen": chosen, "last": last, "base": base, "seeds": seeds, "candidates": results,
                           "why": why})
        if chosen == base:
            log.warning("select: no export beat the base %s on the validation seeds: the final policy is the base",
                        base)
        log.info("select: %s; final policy: %s", ", ".join(f"{r['ref']} {r['success_rate']:.0%}" for r in results),
                 chosen)
        return 0

    def _base_ref(self, reg) -> Optional[str]:
        versions = reg.versions(self.cfg.base_name)
        return f"{self.cfg.base_name}/{versions[-1]}" if versions else None

    def final_policy(self) -> Optional[str]:
        """The selected export when the selection covers the newest export; else the newest export."""
        from robot_rl.policy.registry import PolicyRegistry
        versions = PolicyRegistry(self.cfg.registry).versions(self.cfg.name)
        if not versions:
            return None
        last = f"{self.cfg.name}/{versions[-1]}"
        path = self.cfg.root / "select.json"
        sel = json.loads(path.read_text()) if path.exists() else {}
        if sel.get("chosen") and sel.get("last") == last:
            return sel["chosen"]
        if sel:
            log.warning("select.json is older than the newest export %s (rerun the select stage): using the newest", last)
        return last

    # --- 5. evaluation --------------------------------------------------------------------------------
    def stage_eval(self, redo: bool = False) -> int:
        from robot_rl.policy.registry import PolicyRegistry
        from robot_rl.session.evaluate import evaluate_policy
        c = self.cfg
        path = c.root / "eval.json"
        reg = PolicyRegistry(c.registry)
        final = self.final_policy()
        last = f"{c.name}/{reg.versions(c.name)[-1]}" if reg.versions(c.name) else None
        base = self._base_ref(reg)
        if base is None:
            log.error("eval: no base policy yet: run the bc stage first")
            return 2
        results = json.loads(path.read_text()) if path.exists() and not redo else {}
        seeds = [c.seed + 100_000 + i for i in range(c.eval_episodes)]
        if last == final:
            results.pop("last", None)
        # the last export too when the selection chose another: the report shows what choosing gave
        for role, ref in (("base", base), ("final", final), ("last", last if last != final else None)):
            if ref is None or results.get(role, {}).get("version") == ref and results[role]["seeds"] == seeds:
                continue
            # a policy another role has run on these seeds (the selection kept the base): the same
            # ONNX on the same seeds gives the same result (the evaluation is deterministic)
            done = next((r for r in results.values() if r.get("version") == ref and r.get("seeds") == seeds), None)
            if done is not None:
                results[role] = done
                _write_json(path, results)
                continue
            log.info("eval: %s policy %s on %d held-out seeds, no corrections", role, ref, len(seeds))
            results[role] = evaluate_policy(reg.resolve(ref), c.task, seeds, c.robot, c.cameras, c.image_size,
                                            c.rate_hz, strips_dir=c.root / "strips" / role if role != "last" else None,
                                            gym_env=c.env)
            # relative to the folder, so a copied or moved session's report shows its own strips
            results[role]["strips"] = [str(pathlib.Path(s).relative_to(c.root)) for s in results[role]["strips"]]
            log.info("eval: %s %s: success %.0f%% (%d/%d)", role, ref, 100 * results[role]["success_rate"],
                     sum(results[role]["success"]), len(seeds))
            _write_json(path, results)
        return 0

    # --- 6. report ------------------------------------------------------------------------------------
    def stage_report(self, redo: bool = False) -> int:
        from robot_rl.session.report import write_report
        paths = write_report(self.cfg, self.state)
        log.info("report: %s", ", ".join(str(p) for p in paths))
        return 0
