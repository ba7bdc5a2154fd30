"""`robot-rl <command>`: the one command-line entry point of the stack.

Errors a user can fix (bad config, missing file, bad argument) print one line and exit 2.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

from robot_rl import __version__, config
from robot_rl.log import setup

EXIT_USAGE = 2


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
        runner = GraphRunner(graph, duration_s=args.duration)
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


def cmd_sim(args: argparse.Namespace) -> int:
    from robot_rl.sim.showcase import run_showcase
    from robot_rl.sim.tasks import TASKS

    if args.task not in TASKS:
        raise UsageError(f"--task must be one of {', '.join(TASKS)}, got {args.task!r}")
    policy = "expert" if args.expert else args.policy
    res = run_showcase(args.task, args.out, seed=args.seed, robot=args.robot, policy=policy, human=args.human)
    print(f"{args.task} seed {args.seed} ({policy}{' + simulated human' if args.human else ''}): "
          f"{'success' if res['success'] else 'failure'} after {res['steps']} steps, "
          f"{res['intervention_steps']} intervention steps; wrote {res['mp4']} and {res['png']}")
    return 0


# --- robot-rl data ... -----------------------------------------------------------------------
def _progress(label: str):
    """A progress callback that logs at most every 2 s (plus the end) for long store work."""
    import time
    from robot_rl.log import get_logger
    log, last = get_logger("robot_rl.cli"), [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] >= 2.0:
            last[0] = now
            log.info("%s: %d/%d (%.0f%%)", label, done, total, 100.0 * done / max(total, 1))
    return report


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
                       progress=_progress(f"episode {args.episode} video frames"))
    print(f"wrote {res['path']}: {res['frames']} frames at {res['fps']:.1f} fps, "
          f"{res['size'][0]}x{res['size'][1]} ({', '.join(res['cameras'])})")
    return 0


def cmd_data_plot(args: argparse.Namespace) -> int:
    from robot_rl.store.media import plot_episode
    from robot_rl.store.reader import EpisodeStore

    store = EpisodeStore.open(args.store)
    out = args.output or pathlib.Path(f"episode_{args.episode}.png")
    res = plot_episode(store, args.episode, out)
    print(f"wrote {res['path']} ({res['panels']} panels, {res['interventions']} intervention(s))")
    return 0


def cmd_data_import_dp(args: argparse.Namespace) -> int:
    from robot_rl.store.importers import import_replay_buffer

    res = import_replay_buffer(args.source, args.store, fps=args.fps, task=args.task, action_key=args.action_key,
                               image_codec=args.image_codec, jpeg_quality=args.jpeg_quality,
                               progress=_progress("imported episodes"))
    print(f"imported {res['episodes']} episodes ({res['samples']} samples) into {args.store}: streams "
          f"{', '.join(res['streams'])}; obs = {' + '.join(res['obs_keys']) or 'nothing'}"
          + ("; timestamps synthetic" if res["synthetic_timestamps"] else ""))
    return 0


DATA_COMMANDS = {
    "info": ("tables of a store's episodes, streams, rates and sizes", cmd_data_info),
    "verify": ("check schema, timestamps, step references and every chunk's checksum (exit 1 on problems)",
               cmd_data_verify),
    "repair": ("after a crash: keep the interrupted episode as aborted, truncate uncommitted tails "
               "(never deletes committed data)", cmd_data_repair),
    "export-video": ("mp4 of an episode's cameras side by side", cmd_data_export_video),
    "plot": ("PNG of an episode's proprioception, actions, reward and interventions over time", cmd_data_plot),
    "import-dp": ("import a Diffusion Policy / UMI ReplayBuffer zarr (data/*, meta/episode_ends) as demonstrations",
                  cmd_data_import_dp),
}


COMMANDS = {
    "up": ("start a graph of nodes from a YAML config (Ctrl-C stops it)", cmd_up),
    "launch-file": ("print the ROS 2 launch file equivalent of a graph config", cmd_launch_file),
    "env": ("print shell exports for running ROS 2 tools in robot_rl's environment", cmd_env),
    "sim": ("run one simulator episode and write an mp4 and a PNG strip of it", cmd_sim),
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

    p = sub.add_parser("sim", help=COMMANDS["sim"][0], description=COMMANDS["sim"][0])
    p.add_argument("--task", default="pick_cube", help="pick_cube (default) or peg_insert")
    p.add_argument("--robot", default="arm6", choices=["arm6", "arm7"], help="builtin robot model (default arm6)")
    p.add_argument("--seed", type=int, default=0, help="episode seed: fixes object and start poses (default 0)")
    p.add_argument("--expert", action="store_true", help="drive with the scripted expert (same as --policy expert)")
    p.add_argument("--policy", choices=["expert", "weak", "idle"], default="expert",
                   help="expert, weak (a degraded expert) or idle (does nothing)")
    p.add_argument("--human", action="store_true", help="a simulated human corrects the policy")
    p.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/sim"), help="output folder (default runs/sim)")

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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup(args.log_level)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    try:
        return COMMANDS[args.command][1](args)
    except (config.ConfigError, UsageError) as exc:
        print(f"robot-rl {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
