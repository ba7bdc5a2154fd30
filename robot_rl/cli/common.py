"""What every `robot-rl` command module shares: the usage error, the --set option, help texts."""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import typing
from typing import Any

from robot_rl.robot import DEFAULT_ROBOT, builtin_names
from robot_rl.policy.registry import DEFAULT_ROOT as DEFAULT_REGISTRY
from robot_rl.tasks import BUILTIN as BUILTIN_TASKS, DEFAULT_TASK

EXIT_USAGE = 2
TASK_HELP = (f"a simulator task: {', '.join(BUILTIN_TASKS)} (default {DEFAULT_TASK}), an installed "
             "plug-in's name or a dotted path module:Class (docs/TASKS.md)")
REGISTRY_HELP = f"the policy registry's folder (default {DEFAULT_REGISTRY})"
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


def add_fields(parser: argparse.ArgumentParser, cls: type, helps: dict[str, str],
               choices: dict[str, list[str]] | None = None) -> None:
    """One --flag per named field of the config dataclass `cls`, with the field's type and default
    (the one place the default is written): `helps` maps each field to its help text, to which
    "(default X)" is added unless it names its default itself. Booleans are not taken here (a store_true flag says more on its own)."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name, text in helps.items():
        f = fields[name]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        kind = hints[name]
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind if kind in (int, float, str) else str,
                            default=default, choices=(choices or {}).get(name),
                            help=text if "default" in text else f"{text} (default {default if default != '' else 'none'})")


def param_default(fn: Any, name: str) -> Any:
    """The default of `fn`'s parameter `name`: where a command's flag only passes a value on to a
    core function, the function's signature is the one place its default is written, and the flag's
    default and help read it there."""
    default = inspect.signature(fn).parameters[name].default
    if default is inspect.Parameter.empty:
        raise TypeError(f"{fn.__qualname__}: {name} has no default")
    return default


def fields_of(args: argparse.Namespace, cls: type, **given: Any) -> Any:
    """An instance of `cls` from the parsed flags add_fields declared, and `given` on top."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in vars(args).items() if k in names}
    return cls(**{**values, **given})
