"""Bad input to the CLI and the store (issue #34 item 5): every case gives one line, no traceback,
and nothing written. Real processes, real zarr on disk, a real read-only mount."""
from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import store_child  # noqa: E402
from robot_rl.store import StoreWriter  # noqa: E402

CLI = [sys.executable, "-m", "robot_rl.cli"]


def run(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, timeout=120, cwd=cwd)


def one_line(res: subprocess.CompletedProcess, code: int = 2) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == code and "Traceback" not in res.stderr and len(lines) == 1, (res.returncode, res.stderr)
    return lines[0]


@pytest.fixture
def store(tmp_path) -> pathlib.Path:
    path = tmp_path / "s.zarr"
    with StoreWriter(path, store_child.SPEC) as w:
        store_child.record_episode(w, 5)
        w.end_episode(success=True)
    return path


def test_learn_validates_names_and_paths_before_any_side_effect(tmp_path, store):
    work = tmp_path / "work"
    work.mkdir()
    line = one_line(run("learn", "--no-publish", "--store", store, "--policy", "../../escape", cwd=work))
    assert "policy name '../../escape'" in line
    line = one_line(run("learn", "--no-publish", "--store", tmp_path / "nonexistent", "--policy", "p", cwd=work))
    assert "no such store" in line
    assert not (work / "runs").exists() and not (tmp_path / "escape").exists()   # nothing written anywhere
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr", "work"]


def test_record_refuses_bad_rates_durations_and_ports_before_launch(tmp_path):
    for args, flag in ((["--rate-hz", "-10"], "--rate-hz"), (["--max-episode-s", "-1"], "--max-episode-s"),
                       (["--live-view", "--live-view-port", "99999"], "--live-view-port")):
        line = one_line(run("record", "--sim", "--store", tmp_path / "r.zarr", *args, cwd=tmp_path))
        assert flag in line, line
    assert not (tmp_path / "r.zarr").exists()


def test_a_corrupt_episode_table_gives_one_line(tmp_path, store):
    f = store / "episodes" / "status" / "c" / "0"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    assert "episodes/status" in one_line(run("data", "info", store, cwd=tmp_path))
    res = run("data", "verify", store, cwd=tmp_path)
    assert res.returncode == 1 and "episodes/status" in res.stdout and "Traceback" not in res.stderr, res.stdout


def _read_only_mount(path: pathlib.Path, command: list[str]) -> subprocess.CompletedProcess:
    """Run `command` with `path` bind-mounted read-only in a mount namespace of its own."""
    script = (f"mount --bind {path} {path} && mount -o remount,bind,ro {path} && exec \"$@\"")
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", *command], capture_output=True, text=True,
                          timeout=120)


def test_a_read_only_store_is_refused_with_one_line_and_left_as_it_was(tmp_path, store):
    if not shutil.which("unshare"):
        pytest.skip("no unshare(1) here to make a read-only mount")
    probe = _read_only_mount(store, ["true"])
    if probe.returncode != 0:
        pytest.skip(f"this kernel refuses a mount namespace: {probe.stderr.strip()}")
    before = sorted((p.relative_to(store), p.stat().st_mtime_ns) for p in store.rglob("*"))
    res = _read_only_mount(store, CLI + ["data", "repair", str(store)])
    assert "not writable here" in one_line(res)
    code = (f"import sys; sys.path.insert(0, {str(pathlib.Path(__file__).parent)!r}); import store_child\n"
            "from robot_rl.store import StoreError, StoreWriter\n"
            f"try:\n    StoreWriter({str(store)!r}, store_child.SPEC)\n"
            "except StoreError as exc:\n    print('refused:', exc)\n")
    res = _read_only_mount(store, [sys.executable, "-c", code])
    assert res.returncode == 0 and "refused:" in res.stdout and "not writable here" in res.stdout, res.stdout + res.stderr
    assert sorted((p.relative_to(store), p.stat().st_mtime_ns) for p in store.rglob("*")) == before
