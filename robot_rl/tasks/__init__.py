"""Tasks as plug-ins. A task (robot_rl.tasks.base.Task) is found by

- a builtin name: `pick_cube`, `peg_insert`, `open_drawer`;
- a name another package registers in the entry point group `robot_rl.tasks`
  (`[project.entry-points."robot_rl.tasks"] my_task = "my_pkg.tasks:MyTask"`);
- a dotted path to the class, `my_pkg.tasks:MyTask` (or `my_pkg.tasks.MyTask`), importable where
  the simulator runs.

A task that lives outside this repository works with no change to it (docs/TASKS.md).
"""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from robot_rl.tasks.base import Task

BUILTIN = {"pick_cube": "robot_rl.tasks.pick_cube:PickCube", "peg_insert": "robot_rl.tasks.peg_insert:PegInsert",
           "open_drawer": "robot_rl.tasks.open_drawer:OpenDrawer"}
DEFAULT_TASK = "pick_cube"   # the simulator's task where none is named
GROUP = "robot_rl.tasks"


def _plugins() -> dict:
    return {e.name: e for e in entry_points(group=GROUP)}


def names() -> list[str]:
    """Builtin and installed plug-in task names."""
    return list(BUILTIN) + sorted(n for n in _plugins() if n not in BUILTIN)


def get(ref: str) -> type[Task]:
    """The Task class `ref` names; ValueError (one line) when it names none."""
    target = BUILTIN.get(ref)
    if target is None:
        plugin = _plugins().get(ref)
        if plugin is not None:
            try:
                return _checked(ref, plugin.load())
            except Exception as exc:  # noqa: BLE001 - a broken plug-in is the user's error to read
                raise ValueError(f"task {ref!r}: plug-in {plugin.value} does not load ({exc})") from None
        if "." not in ref and ":" not in ref:
            raise ValueError(f"task {ref!r} is not one of {', '.join(names())} (or a dotted path module:Class)")
        target = ref
    module, _, attr = target.partition(":") if ":" in target else target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"task {ref!r}: cannot load {attr!r} from {module!r} ({exc})") from None
    return _checked(ref, cls)


def _checked(ref: str, cls) -> type[Task]:
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise ValueError(f"task {ref!r}: {cls!r} is not a robot_rl.tasks.base.Task subclass")
    return cls


__all__ = ["BUILTIN", "GROUP", "Task", "get", "names"]
