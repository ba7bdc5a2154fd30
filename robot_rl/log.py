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


def get_logger(name: str) -> logging.Logger:
    if not name.startswith("robot_rl"):
        name = f"robot_rl.{name}"
    return logging.getLogger(name)
