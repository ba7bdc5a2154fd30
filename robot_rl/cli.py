"""`robot-rl <command>`: the one command-line entry point of the stack.

Errors a user can fix (bad config, missing file, bad argument) print one line and exit 2.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

from robot_rl import __version__, config
from robot_rl.log import progress, setup
from robot_rl.robot import DEFAULT_ROBOT, builtin_names, canonical as canonical_robot, load as load_robot
from robot_rl.tasks import BUILTIN as BUILTIN_TASKS

EXIT_USAGE = 2
TASK_HELP = (f"a simulator task: {', '.join(BUILTIN_TASKS)} (default {next(iter(BUILTIN_TASKS))}), an installed "
             "plug-in's name or a dotted path module:Class (docs/TASKS.md)")
ROBOT_HELP = (f"a builtin robot ({', '.join(builtin_names())}; default {DEFAULT_ROBOT}) or the path of a robot "
              "description YAML (docs/ROBOTS.md)")


class UsageError(Exception):
    """A user error the CLI reports in one line with exit code 2."""


def _add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set nodes.0.parameters.rate_hz=60 (repeatable)")


# --- commands ---------------------------------------------------------------------------------
def cmd_up(args: argparse.Namespace) -> int:
    from robot_rl.graph import GraphConfig, GraphRunner

    # --domain-id is an override like any other, so the config system validates it.
    domain = [f"domain_id={args.domain_id}"] if args.domain_id is not None else []
    graph = config.load(GraphConfig, args.config, args.overrides + domain)
    if args.duration is not None and args.duration <= 0:
        raise UsageError(f"--duration must be > 0, got {args.duration:g}")
    try:
        runner = GraphRunner(graph, duration_s=args.duration, host=args.host)
    except ValueError as exc:  # from the environment, e.g. a non-integer ROS_DOMAIN_ID
        raise UsageError(str(exc)) from None
    return runner.run()


def cmd_launch_file(args: argparse.Namespace) -> int:
    from robot_rl.graph import GraphConfig
    from robot_rl.launch_files import generate

    graph = config.load(GraphConfig, args.config, args.overrides)
    text = generate(graph, str(args.config))
    if args.output:
        pathlib.Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    from robot_rl import ros_env

    try:
        env = ros_env.ros_environment(domain_id=args.domain_id, dds=args.dds)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(ros_env.shell_exports(env))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from robot_rl.doctor import run_checks

    return run_checks()


def _check_task(task: str) -> None:
    """A simulator task: a builtin, an installed plug-in or a dotted path (robot_rl.tasks)."""
    from robot_rl import tasks
    try:
        tasks.get(task)
    except ValueError as exc:
        raise UsageError(f"--task: {exc}") from None


def cmd_robots(args: argparse.Namespace) -> int:
    from robot_rl.robot.features import action_names, proprio_names

    if not args.robot:
        for name in builtin_names():
            d = load_robot(name)
            print(f"{name:8s} {d.n} joints, {d.command.mode} commands at {d.command.rate_hz:g} Hz, gripper "
                  f"{len(d.gripper.actuators)} actuator(s), wrist camera {d.wrist_camera.name or 'none'}")
        print("any other robot: a description YAML (docs/ROBOTS.md), passed as --robot PATH")
        return 0
    try:
        from robot_rl.robot.kinematics import Kinematics
        d = load_robot(args.robot)
        kin = Kinematics(d)   # builds its model: the check that the description fits it
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None
    pos, _ = kin.ik.forward(kin.home_q)
    print(f"robot {d.name} ({d.source}), description sha256 {d.digest()[:16]}")
    print(f"  joints: {', '.join(f'{j} [{lo:.2f}, {hi:.2f}]' for j, lo, hi in zip(d.joints, kin.robot.lower, kin.robot.upper))}")
    print(f"  tool {d.tool.site} at home: {' '.join(f'{v:.3f}' for v in pos)} m; workspace {d.workspace.low} .. {d.workspace.high}")
    print(f"  proprio ({len(proprio_names(d))}): {', '.join(proprio_names(d))}")
    for mode in ("ee", "joint"):
        print(f"  action, {mode} mode{' (default)' if mode == d.command.mode else ''}: {', '.join(action_names(d, mode))}")
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    from robot_rl.sim.showcase import run_showcase
    _check_task(args.task)
    policy = "expert" if args.expert else args.policy
    res = run_showcase(args.task, args.out, seed=args.seed, robot=args.robot, policy=policy, human=args.human)
    print(f"{args.task} seed {args.seed} ({policy}{' + simulated human' if args.human else ''}): "
          f"{'success' if res['success'] else 'failure'} after {res['steps']} steps, "
          f"{res['intervention_steps']} intervention steps; wrote {res['mp4']} and {res['png']}")
    return 0


def cmd_calib(args: argparse.Namespace) -> int:
    import json as _json

    from robot_rl.calibration import workflow as wf
    from robot_rl.calibration.board import BoardSpec, CalibrationError
    from robot_rl.log import get_logger

    log = get_logger("robot_rl.calib")
    board = BoardSpec()
    try:
        if args.calib_command == "latency":
            if not args.sim:
                raise UsageError("latency needs --sim for now (live capture comes with the recorder, #6)")
            from robot_rl.calibration.simscene import record_motion
            log.info("recording %.0f s of arm motion, camera delay %.0f ms injected", args.seconds, args.inject_delay_ms)
            rec = record_motion(args.seconds, args.inject_delay_ms / 1e3, seed=args.seed)
            res = wf.run_latency(args.out, args.stream, rec)
        else:
            res = _calib_views(args, board, log)
    except CalibrationError as exc:
        raise UsageError(str(exc)) from None
    print(_json.dumps(res, indent=1, default=float))
    return 0


def _calib_views(args: argparse.Namespace, board, log) -> dict:
    from robot_rl.calibration import workflow as wf
    from robot_rl.calibration.intrinsics import load_camera_info_yaml

    if args.sim:
        from robot_rl.calibration.simscene import VIEWPOINTS, CalibrationSim, capture
        vp = VIEWPOINTS[args.setup]
        sim = CalibrationSim(vp["mount"], board)
        try:
            log.info("capturing %d views with the %s camera (%s, board on the %s)", args.views, vp["camera"],
                     args.setup, vp["mount"])
            images, poses = capture(sim, args.setup, args.views, seed=args.seed)
            camera = vp["camera"]
            K_true, truth = sim.K(camera), (sim.T_gripper_camera(camera) if args.setup == "eye_in_hand"
                                            else sim.T_base_camera(camera))
        finally:
            sim.close()
    else:
        if args.calib_command == "handeye":
            raise UsageError("handeye needs --sim for now (robot poses come with the recorder, #6)")
        if args.images:
            images = wf.load_images(args.images)
        elif args.store:
            if not args.stream:
                raise UsageError("--store needs --stream NAME (an rgb stream)")
            images = wf.load_store_images(args.store, args.stream, args.every)
        else:
            raise UsageError("give --sim, --images DIR or --store PATH --stream NAME")
        camera, K_true, truth, poses = args.camera or (args.stream or "camera"), None, None, []
    if args.calib_command == "intrinsics":
        return wf.run_intrinsics(args.out, camera, images, board, progress=log.info, truth_K=K_true)
    intr = args.out / f"{camera}.yaml"
    if intr.exists():
        info = load_camera_info_yaml(intr)
        K, D = info["K"], info["D"]
    else:
        log.info("no %s; calibrating intrinsics from the same views first", intr)
        wf.run_intrinsics(args.out, camera, images, board, progress=log.info)
        info = load_camera_info_yaml(intr)
        K, D = info["K"], info["D"]
    return wf.run_handeye(args.out, args.setup, camera, images, poses, K, D, board, truth=truth)


def cmd_run(args: argparse.Namespace) -> int:
    from robot_rl.graph import GraphConfig, GraphRunner, NodeSpec
    from robot_rl.policy.registry import PolicyRegistry
    from robot_rl.policy.spec import PolicyError

    policy = args.policy
    registry = pathlib.Path(args.registry)
    if policy.startswith(f"{registry}/") or policy.startswith(f"{registry.name}/"):
        policy = policy.split("/", 1)[1]  # "policies/NAME" as the README writes it
    try:
        path = PolicyRegistry(registry).resolve(policy)
        from robot_rl.policy.registry import load
        _, meta = load(path)
        robot = canonical_robot(args.robot)
        d = load_robot(robot)
        from robot_rl.policy.spec import RobotRef
        meta.robot.check(f"{meta.name}/{meta.version}", RobotRef(d.name, d.digest(), d.command.mode))
    except (PolicyError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    _check_task(args.task)
    cams = ",".join(o.name for o in meta.obs if o.dtype == "uint8")
    size = next((o.shape for o in meta.obs if o.dtype == "uint8"), [128, 128, 3])
    graph = GraphConfig(name="run", domain_id=_sim_domain(), nodes=[
        NodeSpec(name="sim", module="sim_robot", parameters={
            "task": args.task, "robot": robot, "seed": args.seed, "mode": "realtime", "control_hz": float(args.rate_hz),
            "physics_hz": float(args.rate_hz * max(1, round(500 / args.rate_hz))), "cameras": cams,
            "image_width": int(size[1]), "image_height": int(size[0])}),
        NodeSpec(name="control", module="control_node", parameters={
            "policy": str(path), "robot": robot, "rate_hz": float(args.rate_hz), "registry": str(registry)}),
    ])
    return GraphRunner(graph, duration_s=args.duration).run()


def _sim_domain(sim: bool = True):
    """A graph with the simulator inside gets a ROS domain of its own unless ROS_DOMAIN_ID is set:
    two simulator graphs on one machine (a session and a preflight) must not talk to each other."""
    from robot_rl import ros_env
    return ros_env.sim_graph_domain() if sim else None


def cmd_record(args: argparse.Namespace) -> int:
    import time

    from robot_rl.graph import GraphConfig, GraphRunner
    from robot_rl.record.graph import RecordingGraph, recording_nodes
    if args.sim:
        _check_task(args.task)
    store = args.store or pathlib.Path("data") / f"{args.task}_demos.zarr"
    spec = RecordingGraph(
        store=str(store), task=args.task, robot=args.robot, episodes=args.episodes, seed=args.seed,
        rate_hz=float(args.rate_hz), cameras=args.cameras, image_size=args.image_size, codec=args.codec,
        max_episode_s=float(args.max_episode_s), sim=args.sim, teleop=args.teleop or ("expert" if args.sim else "keyboard"),
        reset_wait_s=float(args.reset_wait_s), calibration=str(args.calibration), reward_model=args.reward_model,
        registry=str(args.registry), live_view_port=args.live_view_port if args.live_view else 0,
        live_view_origins=args.live_view_origins,
        mcap=f"{store}.{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.mcap" if args.mcap else "")
    try:
        nodes = recording_nodes(spec)
    except ValueError as exc:
        msg = str(exc)
        for key in ("teleop", "episodes", "rate_hz", "max_episode_s", "reset_wait_s", "image_size", "live_view_port"):
            msg = msg.replace(f"{key} ", f"--{key.replace('_', '-')} ")
        raise UsageError(msg) from None
    if args.mcap:
        print(f"raw topics -> {spec.mcap}")
    if args.live_view:
        print(f"live view: open Foxglove -> Open connection -> Foxglove WebSocket -> ws://localhost:{args.live_view_port}")
    code = GraphRunner(GraphConfig(name="record", nodes=nodes, domain_id=_sim_domain(args.sim))).run()
    if code == 0:
        from robot_rl.store import EpisodeStore
        eps = EpisodeStore(store).episodes(status="complete")
        ok = sum(e.success is True for e in eps)
        print(f"{store}: {len(eps)} complete episodes ({ok} successful); check it with `robot-rl data verify {store}`")
    return code


def cmd_bc(args: argparse.Namespace) -> int:
    from robot_rl.learn.bc import BCConfig, train_and_publish
    from robot_rl.policy.spec import PolicyError
    from robot_rl.store.schema import StoreError

    cfg = config.load(BCConfig, args.config, args.overrides)
    cfg.kind = args.kind or cfg.kind
    cfg.steps = args.steps or cfg.steps
    ckpt = args.checkpoint or pathlib.Path("runs") / args.policy / "bc.safetensors"
    try:
        res = train_and_publish(args.store, cfg, args.policy, ckpt, args.registry)
    except (StoreError, PolicyError, ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None
    report = res["report"]
    print(f"behavior cloning ({cfg.kind}, cameras {report['cameras'] or 'none'}) on {report['human_steps']} human steps "
          f"of {report['episodes']} episodes: loss {report['loss_first']:.4f} -> {report['loss_last']:.4f} in "
          f"{report['seconds']:.0f} s")
    print(f"checkpoint {ckpt}; exported {res['path']} (parity {res['parity']:.2g})")
    return 0


def cmd_reward(args: argparse.Namespace) -> int:
    from robot_rl.learn.reward import RewardConfig, train_and_publish
    from robot_rl.policy.spec import PolicyError
    from robot_rl.store.schema import StoreError

    cfg = config.load(RewardConfig, args.config, args.overrides)
    cfg.steps = args.steps or cfg.steps
    try:
        res = train_and_publish(args.store, cfg, args.name, args.registry, args.run_dir)
    except (StoreError, PolicyError, ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None
    r = res["report"]
    print(f"reward classifier (cameras {', '.join(r['cameras'])}): loss {r['loss_first']:.4f} -> {r['loss_last']:.4f} "
          f"in {r['seconds']:.0f} s")
    for split in ("train", "validation"):
        m = r.get(split)
        if m:
            print(f"  {split:10s} {m['episodes']} episodes ({m['success_episodes']} successes): frame accuracy "
                  f"{m['accuracy']:.1%}, precision {m['precision']:.1%}, recall {m['recall']:.1%}; successes detected "
                  f"{m['success_detected']}/{m['success_episodes']}, episodes with a false alarm "
                  f"{m['false_alarm_episodes']}/{m['episodes']}")
    if "validation" not in r:
        print("  no episodes held out (too few labelled episodes): the metrics above are on training data")
    print(f"exported {res['path']} (parity {res['parity']:.2g})" + (f"; plot {res['plot']}" if res["plot"] else ""))
    print(f"use it: robot-rl learn ... --set reward=classifier --set reward_model={args.name}")
    return 0


def cmd_learn(args: argparse.Namespace) -> int:
    from robot_rl.learn.learner import Learner, LearnerConfig
    from robot_rl.policy.spec import PolicyError
    from robot_rl.store.schema import StoreError

    cfg = config.load(LearnerConfig, args.config, args.overrides)
    for key in ("store", "policy", "mode", "base", "registry", "cameras", "max_updates", "idle_exit_s", "utd",
                "export_every_s", "run_dir"):
        value = getattr(args, key, None)
        if value is not None:
            setattr(cfg, key, str(value) if isinstance(value, pathlib.Path) else value)
    try:
        cfg.validate()
        if not cfg.store or not cfg.policy:
            raise ValueError("give --store and --policy (or store/policy in --config)")
        from robot_rl.store.layout import read_root_attrs
        read_root_attrs(pathlib.Path(cfg.store))   # a store is there: checked before anything is written
    except (ValueError, StoreError) as exc:
        raise UsageError(str(exc)) from None
    run_dir = cfg.run_path
    run_dir.mkdir(parents=True, exist_ok=True)
    if args.resume and not (run_dir / "checkpoint.safetensors").exists():
        raise UsageError(f"--resume: no checkpoint in {run_dir}")
    # The settings this run trains with, in the run dir, with or without ROS: the learner node reads
    # this file, and a run without ROS is then reproducible from it (--config) as well.
    import yaml
    path = run_dir / "learner.yaml"
    path.write_text(yaml.safe_dump(config.to_dict(cfg), sort_keys=False))
    if not args.publish:
        try:
            learner = Learner(cfg, resume=args.resume)
        except (StoreError, PolicyError, FileNotFoundError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        import signal
        signal.signal(signal.SIGTERM, lambda *_: learner.stop())
        try:
            result = learner.run()
        except KeyboardInterrupt:
            learner.stop()
            result = learner.summary()
        print(f"learner: {result}")
        return 0
    from robot_rl.graph import GraphConfig, GraphRunner, NodeSpec
    node = NodeSpec(name="learner", module="learner_node", parameters={"config": str(path), "resume": bool(args.resume)})
    return GraphRunner(GraphConfig(name="learn", nodes=[node])).run()


def cmd_session(args: argparse.Namespace) -> int:
    from robot_rl.session import STAGES, Session, SessionConfig

    overrides = list(args.overrides)
    for key in ("out", "task", "robot", "demos", "hil_episodes", "eval_episodes", "seed"):
        value = getattr(args, key)
        if value is not None:
            overrides.append(f"{key}={value}")
    cfg = config.load(SessionConfig, args.config, overrides)
    if cfg.sim:
        _check_task(cfg.task)
    stages = STAGES if args.stage == "all" else (args.stage,)
    try:
        session = Session(cfg)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return session.run(stages, redo=args.stage != "all")


def cmd_preflight(args: argparse.Namespace) -> int:
    from robot_rl.preflight import PreflightConfig, run_preflight

    cfg = config.load(PreflightConfig, args.config, args.overrides)
    code = run_preflight(cfg, args.out, sim=args.sim, task=args.task, dds=args.dds)
    print(f"preflight {'OK' if code == 0 else 'FAILED'}: report {args.out / 'preflight.json'}")
    return code


def cmd_policy(args: argparse.Namespace) -> int:
    from robot_rl.policy.spec import PolicyError

    try:
        return {"export": _policy_export, "check": _policy_check, "list": _policy_list}[args.policy_command](args)
    except PolicyError as exc:
        raise UsageError(str(exc)) from None


def _policy_export(args: argparse.Namespace) -> int:
    import torch

    from robot_rl.policy.checkpoint import load_checkpoint, save_checkpoint, sim_policy_config
    from robot_rl.policy.export import export
    from robot_rl.policy.registry import PolicyRegistry

    if args.checkpoint:
        model, cfg = load_checkpoint(args.checkpoint)
    elif args.random_init:
        torch.manual_seed(args.seed)
        cfg = sim_policy_config(args.random_init, args.robot)
        model = cfg.build().eval()
        if args.save_checkpoint:
            save_checkpoint(model, cfg, args.save_checkpoint)
    else:
        raise UsageError("give a --checkpoint to export, or --random-init mlp|cnn for an untrained policy of the sim's spec")
    meta = cfg.metadata(args.name)
    data, err = export(model, meta)
    path = PolicyRegistry(args.registry).publish(data, meta, parent=args.parent)
    print(f"exported {path} (parity {err:.2g} <= 1e-5, sha256 {meta.sha256[:12]}...)")
    return 0


def _policy_check(args: argparse.Namespace) -> int:
    from robot_rl.policy.checkpoint import load_checkpoint
    from robot_rl.policy.export import PARITY_TOL, parity
    from robot_rl.policy.registry import PolicyRegistry, load
    from robot_rl.policy.runtime import PolicyRuntime

    path = PolicyRegistry(args.registry).resolve(args.policy)
    data, meta = load(path)
    if meta.kind == "reward":   # a success classifier: run it on blank frames
        import numpy as np

        from robot_rl.control.success import SuccessDetector

        det = SuccessDetector(path)
        p, _ = det({c: np.zeros(det.shapes[c], np.uint8) for c in det.cameras})
        print(f"{path}: reward classifier; loads and runs; sha256 OK; cameras {det.cameras}, threshold "
              f"{det.threshold:g}, P(success) on blank frames {p:.2f}")
        return 0
    PolicyRuntime(data, meta)  # loads, matches its metadata, runs
    line = f"{path}: loads and runs; sha256 OK; obs {[o.name for o in meta.obs]}, {meta.action.dim} actions"
    if meta.action_chunk > 1:
        line += f" in chunks of {meta.action_chunk} (temporal ensemble, decay {meta.chunk_decay:g})"
    if args.checkpoint:
        model, _ = load_checkpoint(args.checkpoint)
        err = parity(model, data, meta.obs)
        if not err <= PARITY_TOL:
            print(f"{line}; PARITY FAILED against {args.checkpoint}: max difference {err:.3g} > {PARITY_TOL:g}")
            return 1
        line += f"; parity with {args.checkpoint} {err:.2g}"
    print(line)
    return 0


def _policy_list(args: argparse.Namespace) -> int:
    import json as _json
    import time as _time

    from robot_rl.policy.registry import PolicyRegistry

    reg = PolicyRegistry(args.registry)
    names = reg.names()
    if not names:
        print(f"no policies in {args.registry}")
        return 0
    print(f"{'policy':<28} {'created':<20} {'sha256':<14} {'parent':<22} metrics")
    for name in names:
        for v in reg.versions(name):
            doc = _json.loads((reg.root / name / f"{v}.json").read_text())
            created = _time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(doc.get("created_ns", 0) / 1e9))
            print(f"{name + '/' + v:<28} {created:<20} {doc.get('sha256', '')[:12]:<14} {doc.get('parent', '') or '-':<22} "
                  f"{_json.dumps(doc.get('metrics', {}))}")
    return 0


# --- robot-rl data ... -----------------------------------------------------------------------
def cmd_data(args: argparse.Namespace) -> int:
    from robot_rl.store.schema import StoreError

    try:
        return DATA_COMMANDS[args.data_command][1](args)
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def cmd_data_info(args: argparse.Namespace) -> int:
    from robot_rl.store.info import info_text
    from robot_rl.store.reader import EpisodeStore

    print(info_text(EpisodeStore.open(args.store), limit=None if args.all else args.limit))
    return 0


def cmd_data_verify(args: argparse.Namespace) -> int:
    from robot_rl.log import get_logger
    from robot_rl.store.verify import verify

    log = get_logger("robot_rl.cli")
    report = verify(args.store, checksums=not args.no_checksums, progress=log.info if args.verbose else None)
    for note in report.notes:
        print(f"note: {note}")
    if report.ok:
        print(f"OK: {args.store}: {report.episodes} episodes; {report.chunks_checked} chunks "
              f"({report.bytes_checked / 1e6:.1f} MB decoded) with valid checksums")
        return 0
    print(f"FAILED: {args.store}: {len(report.problems)} problem(s):")
    for p in report.problems:
        print(f"  - {p}")
    return 1


def cmd_data_repair(args: argparse.Namespace) -> int:
    from robot_rl.store.repair import repair

    report = repair(args.store)
    for line in report.lines():
        print(line)
    return 0


def cmd_data_export_video(args: argparse.Namespace) -> int:
    from robot_rl.store.media import export_video
    from robot_rl.store.reader import EpisodeStore

    store = EpisodeStore.open(args.store)
    out = args.output or pathlib.Path(f"episode_{args.episode}.mp4")
    res = export_video(store, args.episode, out, cameras=args.camera or None, height=args.height,
                       progress=progress(f"episode {args.episode} video frames"))
    print(f"wrote {res['path']}: {res['frames']} frames at {res['fps']:.1f} fps, "
          f"{res['size'][0]}x{res['size'][1]} ({', '.join(res['cameras'])})")
    return 0


def cmd_data_plot(args: argparse.Namespace) -> int:
    from robot_rl.store.media import plot_episode
    from robot_rl.store.reader import EpisodeStore

    store = EpisodeStore.open(args.store)
    out = args.output or pathlib.Path(f"episode_{args.episode}.png")
    res = plot_episode(store, args.episode, out)
    print(f"wrote {res['path']} ({res['panels']} panels, {res['interventions']} intervention(s), {res['holds']} hold(s))")
    return 0


def cmd_data_import_dp(args: argparse.Namespace) -> int:
    from robot_rl.store.importers import import_replay_buffer

    res = import_replay_buffer(args.source, args.store, fps=args.fps, task=args.task, action_key=args.action_key,
                               image_codec=args.image_codec, jpeg_quality=args.jpeg_quality,
                               progress=progress("imported episodes"))
    print(f"imported {res['episodes']} episodes ({res['samples']} samples) into {args.store}: streams "
          f"{', '.join(res['streams'])}; obs = {' + '.join(res['obs_keys']) or 'nothing'}"
          + ("; timestamps synthetic" if res["synthetic_timestamps"] else ""))
    return 0


def cmd_data_export_lerobot(args: argparse.Namespace) -> int:
    from robot_rl.store import EpisodeStore
    from robot_rl.store.lerobot import export_lerobot

    res = export_lerobot(EpisodeStore.open(args.store), args.out, episodes=args.episodes, fps=args.fps,
                         codec=args.codec, crf=args.crf, progress=progress("exported episodes"))
    print(f"wrote {args.out}: LeRobot v3.0, {res['episodes']} episodes, {res['frames']} frames at {res['fps']} fps, "
          f"cameras {', '.join(res['cameras']) or 'none'}, {res['bytes'] / 1e6:.1f} MB in {res['seconds']:.1f} s")
    return 0


def cmd_data_import_lerobot(args: argparse.Namespace) -> int:
    from robot_rl.store.lerobot import import_lerobot

    res = import_lerobot(args.source, args.store, image_codec=args.image_codec, progress=progress("imported episodes"))
    print(f"imported {res['episodes']} episodes ({res['frames']} frames at {res['fps']} fps, cameras "
          f"{', '.join(res['cameras']) or 'none'}) into {args.store}")
    return 0


def cmd_data_export_mcap(args: argparse.Namespace) -> int:
    from robot_rl.store import EpisodeStore
    from robot_rl.store.mcap_export import export_mcap

    out = args.output or pathlib.Path(f"episode_{args.episode}.mcap")
    res = export_mcap(EpisodeStore.open(args.store), args.episode, out, raw_images=args.raw_images)
    n = sum(res["messages"].values())
    print(f"wrote {out}: {n} messages on {len(res['messages'])} topics, {res['bytes'] / 1e6:.1f} MB in "
          f"{res['seconds']:.1f} s (open it in Foxglove, or `ros2 bag info` / `ros2 bag play` with rosbag2's MCAP storage)")
    return 0


DATA_COMMANDS = {
    "info": ("tables of a store's episodes, streams, rates and sizes", cmd_data_info),
    "verify": ("check schema, timestamps, step references and every chunk's checksum (exit 1 on problems)",
               cmd_data_verify),
    "repair": ("after a crash: keep the interrupted episode as aborted, truncate uncommitted tails "
               "(never deletes committed data)", cmd_data_repair),
    "export-video": ("mp4 of an episode's cameras side by side", cmd_data_export_video),
    "plot": ("PNG of an episode's proprioception, actions, reward, interventions and holds over time", cmd_data_plot),
    "import-dp": ("import a Diffusion Policy / UMI ReplayBuffer zarr (data/*, meta/episode_ends) as demonstrations",
                  cmd_data_import_dp),
    "export-lerobot": ("write episodes as a LeRobot v3.0 dataset (parquet + mp4; docs/DATA_FORMAT.md)",
                       cmd_data_export_lerobot),
    "import-lerobot": ("import a LeRobot v3.0 dataset as a new store (its steps as demonstrations)",
                       cmd_data_import_lerobot),
    "export-mcap": ("one episode as MCAP of standard ROS 2 messages, stamped with capture times (Foxglove, rosbag2)",
                    cmd_data_export_mcap),
}


COMMANDS = {
    "up": ("start a graph of nodes from a YAML config (Ctrl-C stops it)", cmd_up),
    "launch-file": ("print the ROS 2 launch file equivalent of a graph config", cmd_launch_file),
    "env": ("print shell exports for running ROS 2 tools in robot_rl's environment", cmd_env),
    "sim": ("run one simulator episode and write an mp4 and a PNG strip of it", cmd_sim),
    "robots": ("list the builtin robots, or show one robot description's joints, limits and features", cmd_robots),
    "calib": ("camera intrinsics, hand-eye and sensor latency calibration (ChArUco board)", cmd_calib),
    "run": ("run a registry policy on the simulator through the control node (safety layer, live loop statistics)",
            cmd_run),
    "record": ("record demonstrations: robot (simulator by default), teleop, control, recorder for N episodes",
               cmd_record),
    "bc": ("behavior cloning of a base policy from the store's human steps, exported to the registry", cmd_bc),
    "learn": ("the learner: follows a store, trains SAC / residual RL with RLPD batches, exports policies and "
              "announces them on /policy/update", cmd_learn),
    "session": ("an RL session with human corrections, end to end: demos, BC base, HIL learning with hot "
                "swaps, selection, evaluation, report (on the simulator by default)", cmd_session),
    "preflight": ("before a policy moves the robot: topics present, rates within 20 percent, clocks within 50 ms, "
                  "robot inside its limits (exit 1, naming each problem, if not)", cmd_preflight),
    "reward": ("train a success classifier on the store's labelled episodes (a learned reward), exported to the "
               "registry", cmd_reward),
    "policy": ("export torch policies to the ONNX registry, check and list them", cmd_policy),
    "data": ("inspect, verify, repair, export and import episode stores", cmd_data),
    "doctor": ("check this installation: libraries, ROS 2 transport, simulator rendering", cmd_doctor),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robot-rl",
        description="robot_rl: real-robot learning control stack (ROS 2 + Zarr + off-policy RL + ONNX + MuJoCo).",
        epilog="Run `robot-rl COMMAND --help` for a command's options.")
    parser.add_argument("--version", action="version", version=f"robot_rl {__version__}")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO (default), WARNING or ERROR")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    p = sub.add_parser("up", help=COMMANDS["up"][0], description=COMMANDS["up"][0])
    p.add_argument("config", type=pathlib.Path, help="graph YAML (e.g. launch/demo.yaml)")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="stop the graph after S seconds")
    p.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID for this graph (0..101)")
    p.add_argument("--host", default="", help="start only this host's nodes of a graph that spans machines "
                   "(its `hosts:`), DDS on this host's address and the others' only (docs/TWO_HOSTS.md)")
    _add_overrides(p)

    p = sub.add_parser("launch-file", help=COMMANDS["launch-file"][0], description=COMMANDS["launch-file"][0])
    p.add_argument("config", type=pathlib.Path, help="graph YAML")
    p.add_argument("-o", "--output", type=pathlib.Path, help="write here instead of stdout")
    _add_overrides(p)

    p = sub.add_parser("env", help=COMMANDS["env"][0], description=COMMANDS["env"][0] +
                       '. Usage: eval "$(robot-rl env)"')
    p.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: from the environment, else 0)")
    p.add_argument("--dds", choices=["loopback", "system"], default="loopback",
                   help="loopback (default): DDS stays on this machine; system: ROS defaults")

    sub.add_parser("doctor", help=COMMANDS["doctor"][0], description=COMMANDS["doctor"][0])

    p = sub.add_parser("robots", help=COMMANDS["robots"][0], description=COMMANDS["robots"][0])
    p.add_argument("robot", nargs="?", default="", help="a builtin robot's name or a description YAML's path")

    p = sub.add_parser("sim", help=COMMANDS["sim"][0], description=COMMANDS["sim"][0])
    p.add_argument("--task", default="pick_cube", help=TASK_HELP)
    p.add_argument("--robot", default=DEFAULT_ROBOT, help=ROBOT_HELP)
    p.add_argument("--seed", type=int, default=0, help="episode seed: fixes object and start poses (default 0)")
    p.add_argument("--expert", action="store_true", help="drive with the scripted expert (same as --policy expert)")
    p.add_argument("--policy", choices=["expert", "weak", "idle"], default="expert",
                   help="expert, weak (a degraded expert) or idle (does nothing)")
    p.add_argument("--human", action="store_true", help="a simulated human corrects the policy")
    p.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/sim"), help="output folder (default runs/sim)")

    p = sub.add_parser("calib", help=COMMANDS["calib"][0], description=COMMANDS["calib"][0])
    csub = p.add_subparsers(dest="calib_command", metavar="SUBCOMMAND", title="subcommands", required=True)
    for name, what in (("intrinsics", "focal length, principal point, distortion -> calibration/<camera>.yaml"),
                       ("handeye", "camera pose on the gripper (eye_in_hand) or in the base (eye_to_hand)"),
                       ("latency", "each camera's delay against the joint encoders, by cross-correlation")):
        c = csub.add_parser(name, help=what, description=what)
        c.add_argument("--sim", action="store_true", help="capture in the simulator (board in the scene)")
        c.add_argument("--out", type=pathlib.Path, default=pathlib.Path("calibration"), help="output folder")
        c.add_argument("--seed", type=int, default=0)
        if name == "latency":
            c.add_argument("--inject-delay-ms", type=float, default=100.0, help="simulated camera delay (default 100)")
            c.add_argument("--seconds", type=float, default=8.0, help="seconds of motion to record (default 8)")
            c.add_argument("--stream", default="front", help="camera stream name to write the result under")
            continue
        c.add_argument("--setup", choices=["eye_in_hand", "eye_to_hand"], default="eye_in_hand",
                       help="eye_in_hand: wrist camera, board on the table; eye_to_hand: front camera, board on the hand")
        c.add_argument("--views", type=int, default=30, help="views to capture in the simulator (default 30)")
        if name == "intrinsics":
            c.add_argument("--images", type=pathlib.Path, help="a folder of .png/.jpg views of the board")
            c.add_argument("--store", type=pathlib.Path, help="an episode store to take views from")
            c.add_argument("--stream", help="the store's rgb stream")
            c.add_argument("--every", type=int, default=10, help="take every Nth frame of the stream (default 10)")
            c.add_argument("--camera", help="camera name for the output file (default: the stream name)")

    p = sub.add_parser("run", help=COMMANDS["run"][0], description=COMMANDS["run"][0])
    p.add_argument("--policy", required=True, help="policies/NAME, NAME, NAME/vNNNN or an .onnx path inside --registry")
    p.add_argument("--registry", default="policies")
    p.add_argument("--task", default="pick_cube", help=TASK_HELP)
    p.add_argument("--robot", default=DEFAULT_ROBOT, help=ROBOT_HELP)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rate-hz", type=float, default=10.0, help="control rate (default 10)")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")

    p = sub.add_parser("record", help=COMMANDS["record"][0], description=COMMANDS["record"][0] +
                       ". In the simulator the scripted expert can be the operator: robot-rl record --sim --episodes 20")
    p.add_argument("--sim", action="store_true", help="the built-in simulator is the robot (otherwise the robot's "
                   "driver and cameras must already be running on the robot's topics)")
    p.add_argument("--task", default="pick_cube", help="task name (with --sim: " + TASK_HELP + ")")
    p.add_argument("--episodes", type=int, default=10, help="episodes to record (default 10)")
    p.add_argument("--store", type=pathlib.Path, help="episode store (default data/<task>_demos.zarr; appended to)")
    p.add_argument("--teleop", choices=["expert", "keyboard", "gamepad", "spacemouse"],
                   help="who drives: expert (simulator only; the default there) or a device (default keyboard)")
    p.add_argument("--robot", default=DEFAULT_ROBOT, help=ROBOT_HELP)
    p.add_argument("--seed", type=int, default=0, help="first episode's seed (the next ones count up)")
    p.add_argument("--rate-hz", type=float, default=10.0, help="control and recording rate (default 10)")
    p.add_argument("--cameras", default="front,wrist", help="comma-separated camera names (default front,wrist)")
    p.add_argument("--image-size", type=int, default=128, help="square image size in pixels (default 128)")
    p.add_argument("--codec", default="zstd", choices=["zstd", "lz4", "none", "jpeg"],
                   help="image codec (default zstd, lossless)")
    p.add_argument("--max-episode-s", type=float, default=60.0, help="an episode ends here at the latest (default 60)")
    p.add_argument("--calibration", type=pathlib.Path, default=pathlib.Path("calibration"),
                   help="calibration folder: per-camera latencies from its latency.yaml (default calibration)")
    p.add_argument("--live-view", action="store_true", help="serve cameras, proprio and actions to Foxglove")
    p.add_argument("--live-view-port", type=int, default=8765)
    p.add_argument("--mcap", action="store_true",
                   help="also write the raw topics to an MCAP file beside the store (STORE.<UTC time>.mcap; Foxglove, rosbag2)")
    p.add_argument("--live-view-origins", default="",
                   help="browser origins the live view admits, comma-separated ('*': any; default: the Foxglove "
                        "app and pages on this machine; other sites get 403)")
    p.add_argument("--reset-wait-s", type=float, default=5.0,
                   help="without a simulator: seconds between episodes to reset the scene (default 5)")
    p.add_argument("--reward-model", default="", metavar="REF",
                   help="a reward classifier (robot-rl reward train) that ends each episode as a success once the "
                   "cameras show one, as the operator's success key does (registry name, or an .onnx inside --registry; default off)")
    p.add_argument("--registry", type=pathlib.Path, default=pathlib.Path("policies"),
                   help="policy registry --reward-model names are looked up in (default policies)")

    p = sub.add_parser("bc", help=COMMANDS["bc"][0], description=COMMANDS["bc"][0])
    p.add_argument("--store", type=pathlib.Path, required=True, help="episode store with demonstrations")
    p.add_argument("--policy", required=True, help="registry name to export under")
    p.add_argument("--kind", choices=["mlp", "cnn"], help="mlp (proprio) or cnn (cameras + proprio); default mlp")
    p.add_argument("--steps", type=int, help="gradient steps (default 2000)")
    p.add_argument("--checkpoint", type=pathlib.Path, help="where to write the torch checkpoint "
                   "(default runs/<policy>/bc.safetensors; the learner's --base for residual RL)")
    p.add_argument("--registry", type=pathlib.Path, default=pathlib.Path("policies"))
    p.add_argument("--config", type=pathlib.Path, help="BCConfig YAML")
    _add_overrides(p)

    p = sub.add_parser("learn", help=COMMANDS["learn"][0], description=COMMANDS["learn"][0] +
                       ". Metrics (metrics.jsonl, episodes.jsonl), plots (learning.png) and the checkpoint go to "
                       "runs/<policy>/.")
    p.add_argument("--store", help="episode store to learn from (followed: new episodes join training)")
    p.add_argument("--policy", help="registry name to publish under")
    p.add_argument("--mode", choices=["sac", "residual"])
    p.add_argument("--base", help="residual mode: the base policy's checkpoint (from robot-rl bc)")
    p.add_argument("--cameras", help='rgb streams to learn from: "auto" (all, the default) or "" (state only)')
    p.add_argument("--utd", type=float, help="gradient updates per arriving transition (default 1)")
    p.add_argument("--max-updates", type=int, help="stop after this many updates")
    p.add_argument("--idle-exit-s", type=float, help="stop after this long without new data and nothing owed")
    p.add_argument("--export-every-s", type=float, help="export and announce the policy this often (default 10)")
    p.add_argument("--registry", help="policy registry (default policies)")
    p.add_argument("--run-dir", help="checkpoint, metrics and plots (default runs/<policy>)")
    p.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    p.add_argument("--no-publish", dest="publish", action="store_false",
                   help="do not start ROS: train and export to the registry only")
    p.add_argument("--config", type=pathlib.Path, help="LearnerConfig YAML")
    _add_overrides(p)

    p = sub.add_parser("reward", help=COMMANDS["reward"][0], description=COMMANDS["reward"][0])
    rsub = p.add_subparsers(dest="reward_command", metavar="SUBCOMMAND", title="subcommands", required=True)
    c = rsub.add_parser("train", help="train on the frames of labelled episodes: the last success_tail steps of a "
                        "success are successes; failed episodes and earlier steps are failures",
                        description="Train a success classifier (images -> P(success)) on the store's labelled "
                        "episodes, hold out val_fraction of them for the metrics, export it to the registry "
                        "(parity-checked) and plot P(success) along held-out episodes (runs/<name>/reward.png).")
    c.add_argument("store", type=pathlib.Path, help="episode store with episodes labelled success or failure")
    c.add_argument("--name", default="reward", help="registry name (default reward)")
    c.add_argument("--steps", type=int, help="gradient steps (default 1500)")
    c.add_argument("--registry", type=pathlib.Path, default=pathlib.Path("policies"))
    c.add_argument("--run-dir", type=pathlib.Path, help="where reward.png goes (default runs/<name>)")
    c.add_argument("--config", type=pathlib.Path, help="RewardConfig YAML")
    _add_overrides(c)

    p = sub.add_parser("session", help=COMMANDS["session"][0], description=COMMANDS["session"][0] +
                       ". Stages: demos, bc, hil, select (the best of the learner's last exports and the base on validation seeds becomes "
                       "the final policy), eval, report; `all` (default) skips the stages already done, so "
                       "rerunning continues an interrupted session; naming one stage reruns it.")
    p.add_argument("--stage", choices=["all", "demos", "bc", "hil", "select", "eval", "report"], default="all")
    p.add_argument("--out", help="session folder: store, registry, learner run, report (default runs/session)")
    p.add_argument("--task", help=TASK_HELP)
    p.add_argument("--robot", help=ROBOT_HELP)
    p.add_argument("--demos", type=int, help="demonstrations to collect (default 5)")
    p.add_argument("--hil-episodes", type=int, help="episodes of the policy with a human correcting (default 60)")
    p.add_argument("--eval-episodes", type=int, help="held-out simulator seeds per policy evaluated (default 20)")
    p.add_argument("--seed", type=int, help="first demonstration seed (default 0)")
    p.add_argument("--config", type=pathlib.Path, help="SessionConfig YAML (bc: and learner: sections included)")
    _add_overrides(p)

    p = sub.add_parser("preflight", help=COMMANDS["preflight"][0], description=COMMANDS["preflight"][0] +
                       ". The robot's driver and cameras must be running (or --sim starts the simulator).")
    p.add_argument("--config", type=pathlib.Path, help="PreflightConfig YAML: topics with types and rates, "
                   "tolerances, workspace box, joint limits (default: the simulator's interface at 10 Hz)")
    p.add_argument("--sim", action="store_true", help="start the simulated robot (realtime, 10 Hz) and check it")
    p.add_argument("--task", default="pick_cube", help="with --sim: the task scene; " + TASK_HELP)
    p.add_argument("--dds", choices=["loopback", "system"], help="DDS settings (default: loopback with --sim, "
                   "system otherwise, to meet the robot's driver)")
    p.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/preflight"),
                   help="where preflight.yaml (the config used) and preflight.json (the report) go")
    _add_overrides(p)

    p = sub.add_parser("policy", help=COMMANDS["policy"][0], description=COMMANDS["policy"][0])
    psub = p.add_subparsers(dest="policy_command", metavar="SUBCOMMAND", title="subcommands", required=True)
    c = psub.add_parser("export", help="checkpoint -> policies/<name>/<version>.onnx (+ .json), with a parity check")
    c.add_argument("--checkpoint", type=pathlib.Path, help="a .safetensors policy checkpoint")
    c.add_argument("--random-init", choices=["mlp", "cnn"], help="an untrained policy with the simulator's spec")
    c.add_argument("--robot", default=DEFAULT_ROBOT, help="with --random-init: the robot it is for; " + ROBOT_HELP)
    c.add_argument("--save-checkpoint", type=pathlib.Path, help="with --random-init: also write its checkpoint")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--name", required=True, help="policy name in the registry")
    c.add_argument("--parent", default="", help="the policy this one was trained from (name/version)")
    c.add_argument("--registry", type=pathlib.Path, default=pathlib.Path("policies"))
    c = psub.add_parser("check", help="load, verify sha256 and run a registry policy; parity against a checkpoint")
    c.add_argument("policy", help="name, name/vNNNN or a path to an .onnx inside --registry")
    c.add_argument("--checkpoint", type=pathlib.Path, help="compare outputs with this checkpoint (parity <= 1e-5)")
    c.add_argument("--registry", type=pathlib.Path, default=pathlib.Path("policies"))
    c = psub.add_parser("list", help="every policy version with its creation time, sha256, parent and metrics")
    c.add_argument("--registry", type=pathlib.Path, default=pathlib.Path("policies"))

    p = sub.add_parser("data", help=COMMANDS["data"][0], description=COMMANDS["data"][0])
    dsub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", title="subcommands", required=True)
    store_arg = dict(type=pathlib.Path, help="the store (a directory, e.g. data/session.zarr)")
    d = dsub.add_parser("info", help=DATA_COMMANDS["info"][0], description=DATA_COMMANDS["info"][0])
    d.add_argument("store", **store_arg)
    d.add_argument("--limit", type=int, default=50, help="show the last N episodes (default 50)")
    d.add_argument("--all", action="store_true", help="show every episode")
    d = dsub.add_parser("verify", help=DATA_COMMANDS["verify"][0], description=DATA_COMMANDS["verify"][0])
    d.add_argument("store", **store_arg)
    d.add_argument("--no-checksums", action="store_true", help="skip decoding every chunk (fast structural check)")
    d.add_argument("-v", "--verbose", action="store_true", help="log each array as it is checked")
    d = dsub.add_parser("repair", help=DATA_COMMANDS["repair"][0], description=DATA_COMMANDS["repair"][0])
    d.add_argument("store", **store_arg)
    for name in ("export-video", "plot"):
        d = dsub.add_parser(name, help=DATA_COMMANDS[name][0], description=DATA_COMMANDS[name][0])
        d.add_argument("store", **store_arg)
        d.add_argument("--episode", type=int, required=True, help="episode index (see `data info`)")
        d.add_argument("-o", "--output", type=pathlib.Path,
                       help=f"output file (default episode_N.{'mp4' if name == 'export-video' else 'png'})")
        if name == "export-video":
            d.add_argument("--camera", action="append", help="camera stream to include (repeatable; default all)")
            d.add_argument("--height", type=int, default=480, help="tile height in pixels (default 480)")
    d = dsub.add_parser("import-dp", help=DATA_COMMANDS["import-dp"][0], description=DATA_COMMANDS["import-dp"][0])
    d.add_argument("source", type=pathlib.Path, help="ReplayBuffer zarr (directory)")
    d.add_argument("store", type=pathlib.Path, help="new store to create")
    d.add_argument("--fps", type=float, default=10.0, help="sample rate when the source has no data/timestamp (default 10)")
    d.add_argument("--task", default="", help="task name for the imported episodes")
    d.add_argument("--action-key", default="action", help="data/<key> holding actions (default action)")
    d.add_argument("--image-codec", choices=["zstd", "lz4", "none", "jpeg"], default="zstd",
                   help="codec for image streams (default zstd, lossless)")
    d.add_argument("--jpeg-quality", type=int, default=90, help="JPEG quality 1..100 (default 90)")
    d = dsub.add_parser("export-lerobot", help=DATA_COMMANDS["export-lerobot"][0],
                        description=DATA_COMMANDS["export-lerobot"][0])
    d.add_argument("store", **store_arg)
    d.add_argument("out", type=pathlib.Path, help="the dataset directory to create")
    d.add_argument("--episodes", type=int, nargs="+", help="episode indices (default: every committed episode)")
    d.add_argument("--fps", type=int, help="frames per second (default: the store's control rate)")
    d.add_argument("--codec", choices=["h264", "av1"], default="h264", help="video codec (default h264)")
    d.add_argument("--crf", type=int, default=18, help="video quality, lower is better (default 18)")
    d = dsub.add_parser("export-mcap", help=DATA_COMMANDS["export-mcap"][0], description=DATA_COMMANDS["export-mcap"][0])
    d.add_argument("store", **store_arg)
    d.add_argument("--episode", type=int, required=True, help="episode index (see `data info`)")
    d.add_argument("-o", "--output", type=pathlib.Path, help="output file (default episode_N.mcap)")
    d.add_argument("--raw-images", action="store_true",
                   help="cameras as sensor_msgs/Image rgb8 (default: CompressedImage JPEG, ~10x smaller)")
    d = dsub.add_parser("import-lerobot", help=DATA_COMMANDS["import-lerobot"][0],
                        description=DATA_COMMANDS["import-lerobot"][0])
    d.add_argument("source", type=pathlib.Path, help="LeRobot v3.0 dataset (directory)")
    d.add_argument("store", type=pathlib.Path, help="new store to create")
    d.add_argument("--image-codec", choices=["zstd", "lz4", "none", "jpeg"], default="zstd",
                   help="codec for the camera streams (default zstd, lossless)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup(args.log_level)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    from robot_rl.policy.spec import PolicyError
    from robot_rl.store.schema import StoreError
    try:
        return COMMANDS[args.command][1](args)
    except (config.ConfigError, UsageError, PolicyError, StoreError) as exc:
        print(f"robot-rl {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:   # a read-only or full disk, a missing directory: say which, no traceback
        where = f": {exc.filename}" if exc.filename else ""
        print(f"robot-rl {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
