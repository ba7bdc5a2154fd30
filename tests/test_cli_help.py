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


DOCS = [pathlib.Path(__file__).resolve().parents[1] / "README.md",
        *sorted((pathlib.Path(__file__).resolve().parents[1] / "docs").glob("*.md"))]


def _options(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string of a parser and of the subcommands under it."""
    out = {o for a in parser._actions for o in a.option_strings}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out |= _options(sub)
    return out


def _mentions(text: str) -> list[str]:
    """Each `robot-rl ...` the text shows: to the end of its code span, or of its line in a block."""
    import re
    out = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        out += [line.split("#")[0] for line in block.splitlines() if line.strip().startswith(("robot-rl ", ".venv/bin/robot-rl "))]
    for span in re.findall(r"`([^`\n]*robot-rl [^`\n]*)`", text):
        out.append(span)
    out = [m[m.index("robot-rl "):] for m in out if "robot-rl " in m]
    return [re.split(r";|&&|\)\"", m)[0] for m in out]   # the command, not what a shell line runs after it


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_command_and_flag_the_docs_show_exists(doc):
    """What the README and docs tell a user to type: each command exists (`--help`) and takes
    each --flag shown with it."""
    import re
    root, problems = build_parser(), []
    for mention in _mentions(doc.read_text()):
        words = mention.split()[1:]
        parser, path = root, []
        for w in words:
            subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
            if not subs or w not in subs[0].choices:
                break
            parser, path = subs[0].choices[w], path + [w]
        if not path and words and re.fullmatch(r"[a-z][a-z-]+", words[0]):
            problems.append(f"{mention!r}: no command {words[0]!r}")
            continue
        known = _options(parser)
        for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", mention):
            if flag not in known:
                problems.append(f"{mention!r}: `robot-rl {' '.join(path)}` has no {flag}")
    assert not problems, "\n".join(problems)
