"""The one logger of robot_rl: `get_logger(__name__)` everywhere, `setup()` once per process."""
from __future__ import annotations

import logging
import os
import sys

_FORMAT = "%(asctime)s.%(msecs)03d %(levelname).1s %(name)s: %(message)s"
_configured = False


def setup(level: str | int | None = None) -> None:
    """Configure the root robot_rl logger to stderr. Level from arg, ROBOT_RL_LOG_LEVEL, or INFO."""
    global _configured
    level = level or os.environ.get("ROBOT_RL_LOG_LEVEL", "INFO")
    root = logging.getLogger("robot_rl")
    root.setLevel(level if isinstance(level, int) else level.upper())
    if not _configured:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))
        root.addHandler(handler)
        root.propagate = False
        _configured = True


def ensure() -> None:
    """For long work started from a library call (a notebook, a script): set up our stderr handler
    unless robot_rl's logger or the root logger already has one, so progress shows as on the CLI;
    an application that configured logging keeps its own."""
    if not logging.getLogger("robot_rl").handlers and not logging.getLogger().handlers:
        setup()


def get_logger(name: str) -> logging.Logger:
    if not name.startswith("robot_rl"):
        name = f"robot_rl.{name}"
    return logging.getLogger(name)


def progress(label: str, logger: str = "robot_rl.progress"):
    """A progress callback for long work: logs "label: done/total (pct%)[, detail]" at most every
    2 s, and at the end."""
    import time
    log, last = get_logger(logger), [0.0]

    def report(done: int, total: int, detail: str = "") -> None:
        now = time.monotonic()
        if done == total or now - last[0] >= 2.0:
            last[0] = now
            log.info("%s: %d/%d (%.0f%%)%s", label, done, total, 100.0 * done / max(total, 1),
                     f", {detail}" if detail else "")
    return report
