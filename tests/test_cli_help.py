"""`robot-rl --help` and every subcommand's --help print and exit 0 (argparse expands % in help
strings: a stray "20%" once made `robot-rl --help` crash)."""
from __future__ import annotations

import argparse
import contextlib
import io

import pytest

from robot_rl.cli import build_parser


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _commands(sub, prefix + (name,))
    return out


@pytest.mark.parametrize("argv", _commands(build_parser()), ids=lambda a: " ".join(a) or "robot-rl")
def test_help_prints(argv):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit) as exc:
        build_parser().parse_args([*argv, "--help"])
    assert exc.value.code == 0 and "usage: robot-rl" in buf.getvalue()
