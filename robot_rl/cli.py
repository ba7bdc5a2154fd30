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


COMMANDS = {
    "up": ("start a graph of nodes from a YAML config (Ctrl-C stops it)", cmd_up),
    "launch-file": ("print the ROS 2 launch file equivalent of a graph config", cmd_launch_file),
    "env": ("print shell exports for running ROS 2 tools in robot_rl's environment", cmd_env),
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
