"""`robot-rl --help`, every subcommand's --help and every bench script's --help print and exit 0
(argparse expands % in help strings: a stray "20%" once made `robot-rl --help` crash, and a "10%"
the learning benchmark's)."""
from __future__ import annotations

import argparse
import contextlib
import io
import pathlib
import subprocess
import sys

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


# the command-line scripts (sim_frames.py is a helper module the store benchmarks import)
BENCH = sorted(p for p in (pathlib.Path(__file__).resolve().parents[1] / "bench").glob("*.py")
               if "argparse" in p.read_text())


@pytest.mark.parametrize("script", BENCH, ids=lambda p: p.name)
def test_bench_help_prints(script):
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("usage:"), out.stderr[-2000:]
