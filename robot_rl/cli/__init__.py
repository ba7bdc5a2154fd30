"""`robot-rl <command>`: the one command-line entry point of the stack, one module per command group
(graph, sim, calib, record, learn, policy, data); each module declares its commands' options
(`add_parsers`) and handlers (`COMMANDS`), which call the core.

Errors a user can fix (bad config, missing file, bad argument) print one line and exit 2.
"""
from __future__ import annotations

import argparse
import sys

from robot_rl import __version__, config
from robot_rl.cli import calib, data, graph, learn, policy, record, sim
from robot_rl.cli.common import EXIT_USAGE, UsageError
from robot_rl.log import setup

GROUPS = (graph, sim, calib, record, learn, policy, data)
COMMANDS = {name: entry for group in GROUPS for name, entry in group.COMMANDS.items()}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robot-rl",
        description="robot_rl: real-robot learning control stack (ROS 2 + Zarr + off-policy RL + ONNX + MuJoCo).",
        epilog="Run `robot-rl COMMAND --help` for a command's options.")
    parser.add_argument("--version", action="version", version=f"robot_rl {__version__}")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO (default), WARNING or ERROR")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for group in GROUPS:
        group.add_parsers(sub)
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


__all__ = ["COMMANDS", "UsageError", "build_parser", "main"]
