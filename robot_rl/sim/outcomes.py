"""How a simulated episode ended, by the task's own outcome categories (`Task.outcomes`, e.g.
pick_cube's: never reached the cube, never closed on it, ...), not only whether it succeeded.

    tracker = tracker_for(env)             # after env.reset; None for a task without categories
    ... tracker.step(info) after every step ...
    row = tracker.result(info["success"])  # {"outcome": category, ...task's figures}
    failure_summary(rows)                  # 'never reached the cube 13 (closest 9.0 cm, ...), ...'
"""
from __future__ import annotations

import collections
from typing import Any, Optional

import numpy as np


def tracker_for(env) -> Optional[Any]:
    """The env's task's outcome tracker for one episode, or None."""
    cls = getattr(env.task, "outcomes", None)
    return cls(env) if cls is not None else None


def failure_summary(rows: list[dict]) -> str:
    """'never reached the cube 13 (closest 4.1 cm, 2.5 cm across, medians), ...' over the failures,
    most frequent first; '' when there are none. Figures a task adds to its rows (closest_cm,
    closest_xy_cm) are given as medians where present."""
    groups: dict[str, list[dict]] = collections.defaultdict(list)
    for r in rows:
        if r["outcome"] != "success":
            groups[r["outcome"]].append(r)
    parts = []
    for name, hits in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        extra = ""
        if all("closest_cm" in o and "closest_xy_cm" in o for o in hits) and "never reached" in name:
            extra = (f" (closest {np.median([o['closest_cm'] for o in hits]):.1f} cm, "
                     f"{np.median([o['closest_xy_cm'] for o in hits]):.1f} cm across, medians)")
        parts.append(f"{name} {len(hits)}{extra}")
    return ", ".join(parts)
