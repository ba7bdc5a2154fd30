"""`robot-rl` commands: recording demonstrations, the HIL session and the preflight check."""
from __future__ import annotations

import argparse
import pathlib

from robot_rl import config
from robot_rl.cli.common import (DEFAULT_TASK, ROBOT_HELP, TASK_HELP, UsageError, add_fields, add_overrides, check_task,
                                 fields_of, sim_domain)
from robot_rl.record.graph import RecordingGraph
from robot_rl.store.schema import CODECS


def cmd_record(args: argparse.Namespace) -> int:
    import time

    from robot_rl.graph import GraphConfig, GraphRunner
    from robot_rl.record.graph import recording_nodes
    if args.sim:
        check_task(args.task)
    store = args.store or pathlib.Path("data") / f"{pathlib.Path(args.env).stem if args.env else args.task}_demos.zarr"
    if args.env and not args.sim:
        raise UsageError("--env is a simulator: give --sim too")
    spec = fields_of(args, RecordingGraph, store=str(store), teleop=args.teleop or ("expert" if args.sim else "keyboard"),
                     live_view_port=args.live_view_port if args.live_view else 0,
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
    code = GraphRunner(GraphConfig(name="record", nodes=nodes, domain_id=sim_domain(args.sim))).run()
    if code == 0:
        from robot_rl.store import EpisodeStore
        eps = EpisodeStore(store).episodes(status="complete")
        ok = sum(e.success is True for e in eps)
        print(f"{store}: {len(eps)} complete episodes ({ok} successful); check it with `robot-rl data verify {store}`")
    return code


def cmd_session(args: argparse.Namespace) -> int:
    from robot_rl.session import STAGES, Session
    from robot_rl.session.config import load_config

    overrides = list(args.overrides)
    for key in ("out", "task", "robot", "env", "demos", "hil_episodes", "eval_episodes", "seed"):
        value = getattr(args, key)
        if value is not None:
            overrides.append(f"{key}={value}")
    cfg = load_config(args.config, overrides)
    if cfg.sim:
        check_task(cfg.task)
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


COMMANDS = {
    "record": ("record demonstrations: robot (simulator by default), teleop, control, recorder for N episodes", cmd_record),
    "session": ("an RL session with human corrections, end to end: demos, BC base, HIL learning with hot "
                "swaps, selection, evaluation, report (on the simulator by default)", cmd_session),
    "preflight": ("before a policy moves the robot: topics present, rates within 20 percent, clocks within 50 ms, "
                  "robot inside its limits (exit 1, naming each problem, if not)", cmd_preflight),
}


def add_parsers(sub) -> None:
    p = sub.add_parser("record", help=COMMANDS["record"][0], description=COMMANDS["record"][0] +
                       ". In the simulator the scripted expert can be the operator: robot-rl record --sim --episodes 20")
    p.add_argument("--sim", action="store_true", help="the built-in simulator is the robot (otherwise the robot's "
                   "driver and cameras must already be running on the robot's topics)")
    p.add_argument("--store", type=pathlib.Path, help="episode store (default data/<task, or the --env mapping's name>_demos.zarr; "
                   "appended to)")
    p.add_argument("--teleop", choices=["expert", "keyboard", "gamepad", "spacemouse"],
                   help="who drives: expert (simulator only; the default there) or a device (default keyboard)")
    p.add_argument("--live-view", action="store_true", help="serve cameras, proprio and actions to Foxglove")
    p.add_argument("--mcap", action="store_true",
                   help="also write the raw topics to an MCAP file beside the store (STORE.<UTC time>.mcap; Foxglove, rosbag2)")
    # every other flag is a RecordingGraph field, with its default from there
    add_fields(p, RecordingGraph, {
        "task": "task name (with --sim: " + TASK_HELP + ")",
        "episodes": "episodes to record",
        "robot": ROBOT_HELP,
        "seed": "first episode's seed (the next ones count up)",
        "rate_hz": "control and recording rate",
        "cameras": "comma-separated camera names",
        "image_size": "square image size in pixels",
        "codec": "image codec (zstd, lz4 and none are lossless)",
        "max_episode_s": "an episode ends here at the latest",
        "calibration": "calibration folder: per-camera latencies from its latency.yaml",
        "live_view_port": "the live view's port",
        "live_view_origins": "browser origins the live view admits, comma-separated ('*': any; none: the Foxglove "
                             "app and pages on this machine; other sites get 403)",
        "reset_wait_s": "without a simulator: seconds between episodes to reset the scene",
        "reward_model": "a reward classifier (robot-rl reward train) that ends each episode as a success once the "
                        "cameras show one, as the operator's success key does (registry name, or an .onnx inside "
                        "--registry; none: off)",
        "registry": "policy registry --reward-model names are looked up in",
        "env": "with --sim: an adapted Gymnasium env's mapping as the simulator (docs/ENVS.md; e.g. "
               "robot_rl/envs/gym_hil/pick_cube.yaml); its task, robot, cameras, image size and rate are used",
    }, choices={"codec": list(CODECS)})

    from robot_rl.session.config import SessionConfig as S   # (no torch: its defaults for the help)

    p = sub.add_parser("session", help=COMMANDS["session"][0], description=COMMANDS["session"][0] +
                       ". Stages: demos, bc, hil, select (the best of the learner's last exports and the base on validation seeds becomes "
                       "the final policy), eval, report; `all` (default) skips the stages already done, so "
                       "rerunning continues an interrupted session; naming one stage reruns it.")
    p.add_argument("--stage", choices=["all", "demos", "bc", "hil", "select", "eval", "report"], default="all")
    p.add_argument("--out", help=f"session folder: store, registry, learner run, report (default {S.out})")
    p.add_argument("--task", help=TASK_HELP)
    p.add_argument("--robot", help=ROBOT_HELP)
    p.add_argument("--env", help="an adapted Gymnasium env's mapping as the simulator (docs/ENVS.md); its task, "
                   "robot, cameras, image size and rate replace the session's")
    p.add_argument("--demos", type=int, help=f"demonstrations to collect (default {S.demos})")
    p.add_argument("--hil-episodes", type=int, help=f"episodes of the policy with a human correcting (default {S.hil_episodes})")
    p.add_argument("--eval-episodes", type=int, help=f"held-out simulator seeds per policy evaluated (default {S.eval_episodes})")
    p.add_argument("--seed", type=int, help=f"first demonstration seed (default {S.seed})")
    p.add_argument("--config", type=pathlib.Path, help="SessionConfig YAML (bc: and learner: sections included)")
    add_overrides(p)

    p = sub.add_parser("preflight", help=COMMANDS["preflight"][0], description=COMMANDS["preflight"][0] +
                       ". The robot's driver and cameras must be running (or --sim starts the simulator).")
    p.add_argument("--config", type=pathlib.Path, help="PreflightConfig YAML: topics with types and rates, "
                   "tolerances, workspace box, joint limits (default: the simulator's interface at 10 Hz)")
    p.add_argument("--sim", action="store_true", help="start the simulated robot (realtime, 10 Hz) and check it")
    p.add_argument("--task", default=DEFAULT_TASK, help="with --sim: the task scene; " + TASK_HELP)
    p.add_argument("--dds", choices=["loopback", "system"], help="DDS settings (default: loopback with --sim, "
                   "system otherwise, to meet the robot's driver)")
    p.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/preflight"),
                   help="where preflight.yaml (the config used) and preflight.json (the report) go")
    add_overrides(p)

