"""What every `robot-rl` command module shares: the usage error, the --set option, help texts."""
from __future__ import annotations

import argparse

from robot_rl.robot import DEFAULT_ROBOT, builtin_names
from robot_rl.tasks import BUILTIN as BUILTIN_TASKS

EXIT_USAGE = 2
TASK_HELP = (f"a simulator task: {', '.join(BUILTIN_TASKS)} (default {next(iter(BUILTIN_TASKS))}), an installed "
             "plug-in's name or a dotted path module:Class (docs/TASKS.md)")
ROBOT_HELP = (f"a builtin robot ({', '.join(builtin_names())}; default {DEFAULT_ROBOT}) or the path of a robot "
              "description YAML (docs/ROBOTS.md)")




class UsageError(Exception):
    """A user error the CLI reports in one line with exit code 2."""


def add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set nodes.0.parameters.rate_hz=60 (repeatable)")


def check_task(task: str) -> None:
    """A simulator task: a builtin, an installed plug-in or a dotted path (robot_rl.tasks)."""
    from robot_rl import tasks
    try:
        tasks.get(task)
    except ValueError as exc:
        raise UsageError(f"--task: {exc}") from None


def sim_domain(sim: bool = True):
    """A graph with the simulator inside gets a ROS domain of its own unless ROS_DOMAIN_ID is set:
    two simulator graphs on one machine (a session and a preflight) must not talk to each other."""
    from robot_rl import ros_env
    return ros_env.sim_graph_domain() if sim else None
