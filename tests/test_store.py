"""The episode store: round trips, bad input, crash safety (kill -9), follow mode, verify/repair,
import, sampler and the `robot-rl data` commands. Real zarr on disk, real processes."""
from __future__ import annotations

import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import zarr

from robot_rl import config
from robot_rl.store import (EpisodeStore, StoreError, StoreSpec, StoreWriter, StreamSpec,
                            TransitionSampler, WriterBackpressure, WriterConfig)
from robot_rl.store.repair import RECOVERED_NOTE, repair
from robot_rl.store.verify import verify

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import store_child  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent
CHILD = [sys.executable, str(REPO / "tests" / "store_child.py")]
CLI = [sys.executable, "-m", "robot_rl.cli"]


def run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, timeout=120, cwd=cwd)


def record(path, seeds, **kw) -> None:
    with StoreWriter(path, store_child.SPEC, WriterConfig(**kw)) as w:
        for s in seeds:
            store_child.record_episode(w, s)
            w.end_episode(success=True)


def check_episode(store: EpisodeStore, ep, prefix_ok: bool = False) -> None:
    """The episode equals what store_child recorded for its seed (a prefix of it if aborted)."""
    seed = int(ep.task.split("-")[1])
    e = store_child.expected(seed)
    n = ep.num_steps if prefix_ok else e["n"]
    if not prefix_ok:
        assert ep.num_steps == e["n"]
    cam, cam_t, cam_r = store.read_stream(ep, "cam")
    depth, _, _ = store.read_stream(ep, "depth")
    joints, joint_t, _ = store.read_stream(ep, "joints")
    m = len(cam) if prefix_ok else n
    assert len(cam) == m and m <= e["n"]
    np.testing.assert_array_equal(cam, e["cam"][:m])
    np.testing.assert_array_equal(cam_t, e["cam_t"][:m])
    np.testing.assert_array_equal(cam_r, e["cam_t"][:m] + 1000)
    np.testing.assert_array_equal(depth, e["depth"][:len(depth)])
    np.testing.assert_array_equal(joints, e["joints"][:len(joints)])
    np.testing.assert_array_equal(joint_t, e["joint_t"][:len(joints)])
    steps = store.read_steps(ep)
    k = ep.num_steps
    np.testing.assert_array_equal(steps["obs"], e["obs"][:k])
    np.testing.assert_array_equal(steps["action"], e["action"][:k])
    np.testing.assert_array_equal(steps["intervention"], e["intervention"][:k])
    np.testing.assert_array_equal(steps["reward"], e["reward"][:k])
    np.testing.assert_array_equal(steps["hold"], e["hold"][:k])
    iv = e["intervention"][:k]
    np.testing.assert_array_equal(steps["human_action"][iv], e["action"][:k][iv])
    assert np.all(np.isnan(steps["human_action"][~iv]))
    # each step refers to exactly the samples appended for it
    np.testing.assert_array_equal(steps["sample_index"]["cam"], ep.streams["cam"][0] + np.arange(k))
    np.testing.assert_array_equal(steps["sample_index"]["joints"],
                                  ep.streams["joints"][0] + np.arange(k) * store_child.JOINTS_PER_STEP + 4)


# --- spec and round trip -------------------------------------------------------------------------
def test_spec_validation_names_the_key():
    with pytest.raises(config.ConfigError, match=r"streams\[0\].*lossy; only rgb"):
        config.from_dict(StoreSpec, {"streams": [{"name": "d", "kind": "depth", "shape": [4, 4], "dtype": "uint16",
                                                  "codec": "jpeg"}]})
    with pytest.raises(config.ConfigError, match="duplicate stream"):
        config.from_dict(StoreSpec, {"streams": [{"name": "a", "shape": [1]}, {"name": "a", "shape": [1]}]})
    with pytest.raises(config.ConfigError, match="rgb samples are uint8"):
        config.from_dict(StoreSpec, {"streams": [{"name": "c", "kind": "rgb", "shape": [4, 4], "dtype": "uint8"}]})
    with pytest.raises(StoreError, match="invalid store spec"):
        StoreWriter("/nonexistent-never-created", StoreSpec(streams=[StreamSpec(name="Bad Name", shape=[1])]))
    assert not pathlib.Path("/nonexistent-never-created").exists()


def test_round_trip_and_plain_zarr(tmp_path):
    path = tmp_path / "s.zarr"
    record(path, [11, 12, 13])
    store = EpisodeStore.open(path)
    assert len(store) == 3
    for ep in store.episodes():
        assert ep.status == "complete" and ep.success is True
        check_episode(store, ep)
    assert [e.index for e in store.episodes(task="seed-12")] == [1]
    # plain zarr, none of our code: the commit record and the arrays say the same
    root = zarr.open_group(str(path), mode="r")
    commit = root.attrs["commit"]
    assert commit["episodes"] == 3
    assert root["streams/cam/data"].shape[0] == commit["streams"]["cam"]
    np.testing.assert_array_equal(root["episodes/steps"][:, 1], np.cumsum([store_child.expected(s)["n"] for s in (11, 12, 13)]))
    assert root.attrs["robot_rl"]["schema_version"] == 1
    codecs = root["streams/cam/data"].metadata.to_dict()["codecs"][0]["configuration"]["codecs"]
    assert codecs[-1]["name"] == "crc32c"


def test_store_from_before_the_hold_column_reads_and_takes_new_episodes(tmp_path):
    """steps/hold came after schema v1's first stores: such a store (here: made now, the column then
    removed) reads hold as False, verifies clean, and a writer that opens it adds the column for the
    rows already there, records hold on new steps, and keeps every earlier episode intact."""
    import shutil

    path = tmp_path / "old.zarr"
    record(path, [21, 22])
    shutil.rmtree(path / "steps" / "hold")
    store = EpisodeStore.open(path)
    for ep in store.episodes():
        steps = store.read_steps(ep)
        assert steps["hold"].dtype == bool and not steps["hold"].any() and len(steps["hold"]) == ep.num_steps
        np.testing.assert_array_equal(store.read_steps(ep, ["obs"])["obs"], store_child.expected(int(ep.task[5:]))["obs"])
    assert verify(path).ok
    assert not (path / "steps" / "hold").exists()   # reading never writes
    record(path, [23])
    store = EpisodeStore.open(path)
    assert len(store) == 3 and verify(path).ok
    check_episode(store, store.episode(2))           # hold as recorded
    assert store.read_steps(store.episode(2))["hold"].any()
    for ep in store.episodes()[:2]:
        assert not store.read_steps(ep)["hold"].any()
        np.testing.assert_array_equal(store.read_steps(ep)["obs"], store_child.expected(int(ep.task[5:]))["obs"])


def test_jpeg_stream_reads_with_plain_zarr_in_a_fresh_process(tmp_path):
    path = tmp_path / "j.zarr"
    spec = StoreSpec(streams=[StreamSpec(name="cam", kind="rgb", shape=[48, 64, 3], dtype="uint8", codec="jpeg",
                                         level=95)])
    yy, xx = np.mgrid[0:48, 0:64]
    frame = np.stack([xx * 4, yy * 5, (xx + yy) * 2], -1).astype(np.uint8)  # smooth: JPEG keeps it close
    with StoreWriter(path, spec) as w:
        w.begin_episode()
        for i in range(3):
            w.append("cam", frame, sensor_ns=i)
        w.end_episode()
    got = EpisodeStore.open(path).read_stream(0, "cam")[0]
    assert got.shape == (3, 48, 64, 3) and np.abs(got.astype(int) - frame).mean() < 3
    code = ("import sys, zarr, numpy as np; a = zarr.open_group(sys.argv[1], mode='r')['streams/cam/data'][:]; "
            "print(a.shape, int(a[0, 10, 10, 0]), 'robot_rl' in sys.argv[0])")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("(3, 48, 64, 3)")


def test_bad_samples_raise_and_record_nothing(tmp_path):
    path = tmp_path / "s.zarr"
    with StoreWriter(path, store_child.SPEC) as w:
        with pytest.raises(StoreError, match="begin_episode"):
            w.append("joints", np.zeros(7), sensor_ns=1)
        w.begin_episode(task="x")
        with pytest.raises(ValueError, match="unknown stream"):
            w.append("nope", np.zeros(7), sensor_ns=1)
        with pytest.raises(ValueError, match="shape"):
            w.append("joints", np.zeros(6), sensor_ns=1)
        with pytest.raises(ValueError, match="cannot be stored"):
            w.append("cam", np.zeros((24, 32, 3), np.float32), sensor_ns=1)
        with pytest.raises(ValueError, match="nanoseconds"):
            w.append("joints", np.zeros(7), sensor_ns=1.5)
        assert w.append("joints", np.zeros(7), sensor_ns=10) == 0
        with pytest.raises(ValueError, match="backwards"):
            w.append("joints", np.ones(7), sensor_ns=9)
        with pytest.raises(ValueError, match="not a sample of this episode"):
            w.append_step(np.zeros(7), np.zeros(3), sample_index={"joints": 5})
        with pytest.raises(ValueError, match="expected 3"):
            w.append_step(np.zeros(7), np.zeros(4))
        w.append_step(np.zeros(7), np.zeros(3), sample_index={"joints": 0})
        res = w.end_episode()
    assert res.samples == {"cam": 0, "depth": 0, "joints": 1} and res.steps == 1
    store = EpisodeStore.open(path)
    assert store.commit["streams"]["joints"] == 1
    assert verify(path).ok


def test_second_writer_is_refused(tmp_path):
    path = tmp_path / "s.zarr"
    with StoreWriter(path, store_child.SPEC):
        with pytest.raises(StoreError, match="open for writing by another process"):
            StoreWriter(path)


def test_backpressure_is_counted_never_silent(tmp_path, monkeypatch):
    from robot_rl.store import writer as writer_mod
    slow_write = writer_mod._Column.write

    def slow(self, count=None):  # a disk that cannot keep up
        time.sleep(0.05)
        return slow_write(self, count)

    monkeypatch.setattr(writer_mod._Column, "write", slow)
    path = tmp_path / "s.zarr"
    frame = np.zeros((24, 32, 3), np.uint8)
    accepted = refused = 0
    with StoreWriter(path, store_child.SPEC, WriterConfig(max_queue_mb=0.01, max_block_s=0.02)) as w:
        w.begin_episode()
        for i in range(200):
            try:
                w.append("cam", frame, sensor_ns=i)
                accepted += 1
            except WriterBackpressure:
                refused += 1
        stats = w.stats
        res = w.end_episode()
    assert refused > 0 and stats.dropped == refused and stats.blocked >= refused
    assert res.samples["cam"] == accepted == stats.samples["cam"]
    assert EpisodeStore.open(path).commit["streams"]["cam"] == accepted


# --- crash safety --------------------------------------------------------------------------------
def _wait_for_lines(log: pathlib.Path, prefix: str, count: int, proc: subprocess.Popen, timeout_s: float = 120) -> None:
    """Until the child has printed `count` lines starting with `prefix` (it flushes each)."""
    deadline = time.monotonic() + timeout_s
    while sum(line.startswith(prefix) for line in log.read_text().splitlines()) < count:
        assert proc.poll() is None, f"the child exited early: {log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"no {count} {prefix} lines in {timeout_s} s: {log.read_text()[-2000:]}"
        time.sleep(0.01)


def test_kill_9_at_random_moments_loses_nothing_committed(tmp_path):
    path = tmp_path / "crash.zarr"
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    reported: dict[int, int] = {}  # episode index -> seed, as printed by the writer after commit
    for kill in range(20):
        log = tmp_path / f"child{kill}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(CHILD + [str(path), "record"], stdout=out, stderr=subprocess.STDOUT)
            if kill % 2:   # any moment from the launch: before, while or after the store is created
                time.sleep(rng.uniform(0.2, 2.5))
            else:          # mid-recording, after 1-2 commits: a loaded machine may take seconds to start
                _wait_for_lines(log, "COMMITTED", rng.randint(1, 2), proc)
                time.sleep(rng.uniform(0.0, 0.3))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        for line in log.read_text().splitlines():
            if line.startswith("COMMITTED"):
                _, idx, seed = line.split()
                reported[int(idx)] = int(seed)
        if not path.exists():
            continue  # killed before the store was created (it appears whole, by rename)
        store = EpisodeStore.open(path)
        for idx, seed in reported.items():  # everything reported committed is there, complete
            ep = store.episode(idx)
            assert ep.task == f"seed-{seed}" and ep.status == "complete"
        for ep in store.episodes():
            check_episode(store, ep, prefix_ok=ep.status == "aborted")
            if ep.status == "aborted":
                assert RECOVERED_NOTE in ep.notes
    assert len(reported) >= 5, "the writer should commit several episodes across 20 runs"
    report = repair(path)
    assert verify(path).ok, verify(path).problems
    store = EpisodeStore.open(path)
    assert store.attrs["recording"] is None and report is not None
    for ep in store.episodes():
        check_episode(store, ep, prefix_ok=ep.status == "aborted")


def test_interrupted_episode_kept_as_aborted_with_exactly_the_durable_part(tmp_path):
    path = tmp_path / "s.zarr"
    record(path, [5])
    out = subprocess.run(CHILD + [str(path), "partial"], capture_output=True, text=True, timeout=60)
    assert "FLUSHED" in out.stdout
    assert not verify(path).ok  # uncommitted rows and a recording record: needs repair
    rep = run_cli("data", "repair", path)
    assert rep.returncode == 0 and "kept the interrupted episode as aborted episode 1" in rep.stdout
    store = EpisodeStore.open(path)
    ep = store.episode(1)
    assert ep.status == "aborted" and ep.num_steps == 10 and ep.num_samples("cam") == 10
    check_episode(store, ep, prefix_ok=True)
    check_episode(store, store.episode(0))
    assert verify(path).ok
    # nothing durable -> dropped cleanly; committed data untouched
    subprocess.run(CHILD + [str(path), "begin"], capture_output=True, timeout=60)
    repair(path)
    store = EpisodeStore.open(path)
    assert len(store) == 2 and verify(path).ok
    # and a writer opened afterwards continues after them
    record(path, [6])
    assert len(EpisodeStore.open(path)) == 3 and verify(path).ok


def test_follow_mode_sees_each_episode_once_it_is_committed(tmp_path):
    path = tmp_path / "f.zarr"
    n = 5
    proc = subprocess.Popen(CHILD + [str(path), "follow", str(n)], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        store = None
        while store is None:
            try:
                store = EpisodeStore.open(path)
            except StoreError:
                assert time.monotonic() < deadline, "the writer never created the store"
                time.sleep(0.05)
        seen = {}
        for ep in store.follow(poll_s=0.05, timeout_s=20, from_episode=0):
            seen[ep.index] = time.time_ns()  # check contents afterwards, so checking never delays seeing
            if len(seen) == n:
                break
        for ep in store.episodes():
            check_episode(store, ep)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    commits = {int(i): int(t) for _, i, t in (line.split() for line in out.splitlines() if line.startswith("COMMITTED"))}
    # every committed episode seen, whole (checked above); how soon is bench/learner.py's figure
    assert sorted(seen) == list(range(n)) == sorted(commits)


def test_reading_committed_episodes_while_a_writer_appends_never_fails(tmp_path):
    """A writer appending to a shard replaces its file while zarr reads the shard in two steps
    (index, then chunks): without a second read, about 1 read in 100 failed its checksum here."""
    path = tmp_path / "live.zarr"
    proc = subprocess.Popen(CHILD + [str(path), "record"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("OPEN") and proc.stdout.readline().startswith("COMMITTED")
        store = EpisodeStore.open(path)
        reads, deadline = 0, time.monotonic() + 12
        while time.monotonic() < deadline:
            store.refresh()
            for i in range(max(0, len(store) - 2), len(store)):   # the newest: their shards are being rewritten
                for name in store.spec.stream_names:
                    store.read_stream(i, name)
                store.read_steps(i)
                reads += 1
        assert reads >= 50 and len(store) >= 5
        for ep in store.episodes():
            check_episode(store, ep)
    finally:
        proc.kill()
        proc.wait()


# --- verify, bad input ---------------------------------------------------------------------------
def test_flipped_byte_is_reported_with_stream_and_episode(tmp_path):
    path = tmp_path / "s.zarr"
    record(path, [21, 22])
    store = EpisodeStore.open(path)
    ep1 = store.episode(1)
    shard = store.spec.stream("depth").shard_len
    row = ep1.streams["depth"][0] + 1
    shard_file = path / "streams/depth/data/c" / str(row // shard) / "0" / "0"
    data = bytearray(shard_file.read_bytes())
    data[len(data) // 3] ^= 0x01
    shard_file.write_bytes(bytes(data))
    res = run_cli("data", "verify", path)
    assert res.returncode == 1
    assert "streams/depth/data" in res.stdout and "corrupt" in res.stdout
    problems = verify(path).problems
    assert any("streams/depth/data" in p and "episode" in p for p in problems), problems
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("damage", ["not_a_store", "newer_schema", "truncated_json", "missing_array", "shrunk_array"])
def test_bad_stores_give_one_line_errors_and_no_writes(tmp_path, damage):
    path = tmp_path / "s.zarr"
    if damage == "not_a_store":
        path.mkdir()
        (path / "notes.txt").write_text("hello")
    else:
        record(path, [31])
        meta = path / "zarr.json"
        if damage == "newer_schema":
            doc = json.loads(meta.read_text())
            doc["attributes"]["robot_rl"]["schema_version"] = 99
            meta.write_text(json.dumps(doc))
        elif damage == "truncated_json":
            meta.write_text(meta.read_text()[:200])
        elif damage == "missing_array":
            import shutil
            shutil.rmtree(path / "streams/joints/sensor_ns")
        elif damage == "shrunk_array":
            a = zarr.open_array(str(path / "steps/reward"), mode="r+")
            a.resize((3,))
    before = sorted((p.relative_to(path), p.stat().st_mtime_ns) for p in path.rglob("*"))
    for cmd in (["info"], ["verify"], ["repair"], ["plot", "--episode", "0"], ["export-video", "--episode", "0"]):
        res = run_cli("data", *cmd, path, cwd=tmp_path)
        assert res.returncode == 2, (cmd, res.returncode, res.stdout, res.stderr)
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
        expect = {"not_a_store": "not a robot_rl episode store", "newer_schema": "newer than this robot_rl",
                  "truncated_json": "damaged", "missing_array": "incomplete or damaged",
                  "shrunk_array": "truncated"}[damage]
        assert expect in lines[0], lines[0]
    after = sorted((p.relative_to(path), p.stat().st_mtime_ns) for p in path.rglob("*"))
    assert before == after, "a bad store must not be written to"
    with pytest.raises(StoreError):
        StoreWriter(path)


# --- reader, sampler -----------------------------------------------------------------------------
def test_time_aligned_access(tmp_path):
    path = tmp_path / "s.zarr"
    record(path, [41])
    store = EpisodeStore.open(path)
    ep = store.episode(0)
    e = store_child.expected(41)
    t = int(e["joint_t"][7]) + 3_000_000  # between joint samples 7 and 8
    value, idx = store.sample_at(ep, "joints", t)
    assert idx == ep.streams["joints"][0] + 7
    np.testing.assert_array_equal(value, e["joints"][7])
    interp, _ = store.sample_at(ep, "joints", t, interpolate=True)
    w = 3_000_000 / 6_600_000
    np.testing.assert_allclose(interp, (1 - w) * e["joints"][7] + w * e["joints"][8], rtol=1e-5, atol=1e-6)
    before, idx = store.sample_at(ep, "cam", int(e["cam_t"][0]) - 1)
    assert idx == -1
    rows = list(store.iter_steps(ep, block=7))
    assert len(rows) == e["n"]
    np.testing.assert_array_equal(rows[9]["samples"]["cam"], e["cam"][9])
    np.testing.assert_array_equal(rows[9]["samples"]["joints"], e["joints"][9 * store_child.JOINTS_PER_STEP + 4])


def test_sampler_batches_match_the_store(tmp_path):
    path = tmp_path / "s.zarr"
    record(path, [51, 52])
    store = EpisodeStore.open(path)
    s_all = TransitionSampler(store, cameras=["cam", "depth"], seed=3, cache="all")
    s_none = TransitionSampler(EpisodeStore.open(path), cameras=["cam", "depth"], seed=3, cache="none")
    n1, n2 = (store_child.expected(s)["n"] for s in (51, 52))
    assert len(s_all) == n1 + n2  # every step: last steps are terminal here
    b, c = s_all.sample(64), s_none.sample(64)
    for key in ("obs", "action", "reward", "next_obs", "done", "intervention"):
        np.testing.assert_array_equal(b[key], c[key])
    for cam in ("cam", "depth"):
        np.testing.assert_array_equal(b["images"][cam], c["images"][cam])
        np.testing.assert_array_equal(b["next_images"][cam], c["next_images"][cam])
    assert b["images"]["cam"].dtype == np.uint8 and b["images"]["depth"].dtype == np.uint16
    # each transition's images are the frames its step used, next_* those of the next step
    e = {s: store_child.expected(s) for s in (51, 52)}
    frames = np.concatenate([e[51]["cam"], e[52]["cam"]])
    obs = np.concatenate([e[51]["obs"], e[52]["obs"]])
    for i in range(64):
        row = int(np.flatnonzero((obs == b["obs"][i]).all(1))[0])
        np.testing.assert_array_equal(b["images"]["cam"][i], frames[row])
        last = row in (n1 - 1, n1 + n2 - 1)
        assert bool(b["done"][i]) == last
        np.testing.assert_array_equal(b["next_obs"][i], obs[row] if last else obs[row + 1])
    # a person's step the control node held executed the hold: not in the human rows, nor flagged
    person = np.concatenate([e[51]["intervention"], e[52]["intervention"]])
    held = np.concatenate([e[51]["hold"], e[52]["hold"]])
    assert (person & held).any() and (person & ~held).any()
    np.testing.assert_array_equal(s_all.rows("human"), np.flatnonzero(person & ~held))
    np.testing.assert_array_equal(s_all.batch(s_all.rows("all"))["intervention"], person & ~held)
    # frames held once, as uint8: close to the frames' own size
    frame_bytes = (n1 + n2) * (24 * 32 * 3 + 24 * 32 * 2)
    assert frame_bytes <= s_all.nbytes < 2 * frame_bytes + 64 * 1024
    # a learner picks up episodes committed later
    record(path, [53])
    assert s_all.refresh() == store_child.expected(53)["n"]


def test_import_diffusion_policy_replay_buffer(tmp_path):
    src = tmp_path / "dp.zarr"
    rng = np.random.default_rng(0)
    ends = np.array([12, 30, 41])
    img = rng.integers(0, 256, (41, 16, 16, 3), dtype=np.uint8)
    state = rng.standard_normal((41, 4)).astype(np.float32)
    action = rng.standard_normal((41, 2)).astype(np.float32)
    root = zarr.open_group(str(src), mode="w", zarr_format=2)  # DP writes zarr v2
    root.create_array("data/img", data=img, chunks=(1, 16, 16, 3))
    root.create_array("data/state", data=state, chunks=(100, 4))
    root.create_array("data/action", data=action, chunks=(100, 2))
    root.create_array("meta/episode_ends", data=ends)
    dest = tmp_path / "imported.zarr"
    res = run_cli("data", "import-dp", src, dest, "--fps", "10", "--task", "push_t")
    assert res.returncode == 0, res.stderr
    assert "imported 3 episodes" in res.stdout
    store = EpisodeStore.open(dest)
    assert [e.num_steps for e in store.episodes()] == [12, 18, 11]
    for ep, (a, b) in zip(store.episodes(), [(0, 12), (12, 30), (30, 41)]):
        assert ep.task == "push_t" and "synthetic" in ep.notes
        np.testing.assert_array_equal(store.read_stream(ep, "img")[0], img[a:b])
        np.testing.assert_array_equal(store.read_stream(ep, "state")[0], state[a:b])
        steps = store.read_steps(ep)
        np.testing.assert_array_equal(steps["obs"], state[a:b])
        np.testing.assert_array_equal(steps["action"], action[a:b])
        assert steps["intervention"].all()   # demonstrations: human steps, which `robot-rl bc` trains on
        np.testing.assert_array_equal(steps["human_action"], action[a:b])
        t = store.stamps(ep, "img")
        assert np.all(np.diff(t) == 100_000_000)
    assert verify(dest).ok
    bad = run_cli("data", "import-dp", tmp_path / "nothing.zarr", tmp_path / "x.zarr")
    assert bad.returncode == 2 and "not a ReplayBuffer" in bad.stderr and not (tmp_path / "x.zarr").exists()


def test_cli_info_plot_video(tmp_path):
    import cv2
    path = tmp_path / "s.zarr"
    record(path, [61, 62])
    info = run_cli("data", "info", path)
    assert info.returncode == 0, info.stderr
    assert "2 complete" in info.stdout and "seed-62" in info.stdout and "measured Hz" in info.stdout
    held = {ep.task: int(store_child.expected(int(ep.task[5:]))["hold"].sum()) for ep in EpisodeStore.open(path).episodes()}
    row = next(line for line in info.stdout.splitlines() if "seed-62" in line)
    header = next(line for line in info.stdout.splitlines() if "interventions" in line and "held" in line)
    assert row.split()[header.split().index("held")] == str(held["seed-62"])
    png = tmp_path / "e.png"
    res = run_cli("data", "plot", path, "--episode", "1", "-o", png)
    assert res.returncode == 0, res.stderr
    hold = store_child.expected(62)["hold"]
    assert f"{int((np.diff(np.r_[0, hold.astype(int)]) == 1).sum())} hold(s)" in res.stdout   # one span per run of held steps
    img = cv2.imread(str(png))
    assert img is not None and img.shape[0] > 300
    mp4 = tmp_path / "e.mp4"
    res = run_cli("data", "export-video", path, "--episode", "0", "-o", mp4, "--height", "96")
    assert res.returncode == 0, res.stderr
    cap = cv2.VideoCapture(str(mp4))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = cap.read()
    cap.release()
    assert ok and frames == store_child.expected(61)["n"]
    assert frame.shape == (96, 2 * 128, 3)  # cam and depth side by side, 24x32 scaled to height 96
    res = run_cli("data", "plot", path, "--episode", "7")
    assert res.returncode == 2 and "no episode 7" in res.stderr


def test_fast_sample_reads_equal_zarr_and_check_checksums(tmp_path):
    from robot_rl.store.fastread import ChecksumError
    path = tmp_path / "s.zarr"
    spec = StoreSpec(streams=[*store_child.SPEC.streams,
                              StreamSpec(name="jpg", kind="rgb", shape=[24, 32, 3], dtype="uint8", codec="jpeg")],
                     steps=store_child.SPEC.steps)
    with StoreWriter(path, spec) as w:
        w.begin_episode()
        rng = np.random.default_rng(1)
        for i in range(70):
            w.append("jpg", rng.integers(0, 256, (24, 32, 3), dtype=np.uint8), sensor_ns=i)
            w.append("depth", rng.integers(0, 9000, (24, 32), dtype=np.uint16), sensor_ns=i)
        w.end_episode()
    store = EpisodeStore.open(path)
    idx = np.array([69, 0, 31, 31, 5, 64])
    for name in ("jpg", "depth"):
        reader = store._sample_reader(name)
        assert reader.fast
        via_zarr = np.stack([store.layout.streams[name]["data"][int(i)] for i in idx])
        np.testing.assert_array_equal(store.read_samples(name, idx), via_zarr)
    shard = path / "streams/depth/data/c/0/0/0"
    data = bytearray(shard.read_bytes())
    data[100] ^= 0x10
    shard.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="crc32c"):
        EpisodeStore.open(path).read_samples("depth", np.array([0, 1, 2, 3]))


def test_grasp_offsets_point_at_the_last_close_of_a_success():
    """robot_rl.tasks.grasp: the ee position at the last open -> closed command, minus each step's,
    from the re-open that began the final attempt (earlier steps NaN: a failed attempt may have moved
    the object), and the yaw at that close minus each step's, wrapped to [-pi, pi); NaN for a failure and for an episode that never closed from open; held (NaN)
    commands are skipped."""
    from robot_rl.tasks.grasp import grasp_offsets

    L = 6
    obs = np.zeros((L, 2 * 1 + 5), np.float32)
    obs[:, -5] = np.arange(L) * 0.01                 # ee x moves 1 cm a step
    obs[:, -2] = [3.0, 3.1, -3.1, -3.0, -3.0, -2.9]    # ee yaw turns 0.1 rad a step, across +-pi at 2
    grip = np.array([1, 1, -1, 1, -1, -1], np.float32)   # closes at 2, reopens, closes for good at 4
    action = np.zeros((L, 5), np.float32)
    action[:, -1] = grip
    off = grasp_offsets(obs, action, success=True)
    assert off.shape == (L, 4) and off.dtype == np.float32
    assert np.isnan(off[:3]).all()                    # the failed attempt, up to its re-open at 3
    np.testing.assert_allclose(off[3:, 0], 0.04 - obs[3:, -5], atol=1e-7)
    assert (off[3:, 1:3] == 0).all()
    np.testing.assert_allclose(off[3:, 3], [0.0, 0.0, -0.1], atol=1e-6)   # the yaw still to turn, wrapped
    action[:, -1] = [1, 1, 1, 1, -1, -1]                 # one attempt: every step knows the grasp
    np.testing.assert_allclose(grasp_offsets(obs, action, success=True)[:, 0], 0.04 - obs[:, -5], atol=1e-7)
    action[:, -1] = [1, -1, np.nan, np.nan, 1, -1]       # the re-open after held steps begins the attempt
    off = grasp_offsets(obs, action, success=True)
    assert np.isnan(off[:4]).all() and np.isfinite(off[4:]).all()
    assert np.isnan(grasp_offsets(obs, action, success=False)).all()
    action[:, -1] = -1.0                                 # holds its tool from the start: no grasp seen
    assert np.isnan(grasp_offsets(obs, action, success=True)).all()
    action[:, -1] = [1, np.nan, np.nan, -1, -1, np.nan]  # held steps between open and closed
    np.testing.assert_allclose(grasp_offsets(obs, action, success=True)[:, 0], 0.03 - obs[:, -5], atol=1e-7)


def test_goal_offsets_point_at_where_a_success_ended():
    """robot_rl.tasks.grasp.goal_offsets (peg_insert's `goal` label): the ee position and yaw at the
    last step minus each step's, on every step; NaN for a failure."""
    from robot_rl.tasks.grasp import goal_offsets

    obs = np.zeros((5, 2 * 1 + 5), np.float32)
    obs[:, -5] = np.arange(5) * 0.01                 # ee x moves 1 cm a step
    obs[:, -3] = [0.1, 0.08, 0.06, 0.05, 0.05]       # ee z goes down
    obs[:, -2] = [-3.1, 3.1, 3.0, 3.0, 3.0]          # ee yaw, across +-pi
    off = goal_offsets(obs, success=True)
    assert off.shape == (5, 4) and off.dtype == np.float32
    np.testing.assert_allclose(off[:, 0], 0.04 - obs[:, -5], atol=1e-7)
    np.testing.assert_allclose(off[:, 2], 0.05 - obs[:, -3], atol=1e-7)
    np.testing.assert_allclose(off[:, 3], [-0.1832, -0.1, 0, 0, 0], atol=1e-4)   # wrapped: -0.18, not 6.1
    assert np.isnan(goal_offsets(obs, success=False)).all()


# --- missing and truncated chunks (issue #34) ----------------------------------------------------
def _unit_file(store: EpisodeStore, label: str, row: int) -> pathlib.Path:
    """The file (shard, or chunk of an unsharded array) holding `row` of array `label`."""
    arr = dict(store.layout.arrays())[label]
    unit = arr.shards[0] if arr.shards else arr.chunks[0]
    return store.path / arr.path / arr.metadata.encode_chunk_key((row // unit,) + (0,) * (arr.ndim - 1))


def _empty_index_entry(shard_file: pathlib.Path, chunk: int, chunks_per_shard: int) -> None:
    """Mark one inner chunk absent in a shard's index, with a valid index checksum: what a shard
    written without that chunk looks like."""
    import google_crc32c
    data = bytearray(shard_file.read_bytes())
    tail = chunks_per_shard * 16 + 4
    index = np.frombuffer(bytes(data[-tail:-4]), "<u8").reshape(-1, 2).copy()
    index[chunk] = 2**64 - 1
    raw = index.tobytes()
    data[-tail:] = raw + google_crc32c.value(raw).to_bytes(4, "little")
    shard_file.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["delete_image_shard", "truncate_image_shard", "empty_image_chunk",
                                    "delete_obs_shard", "delete_notes_chunk", "truncate_notes_chunk"])
def test_missing_or_truncated_chunks_fail_verify_and_readers_never_read_zeros(tmp_path, damage):
    path = tmp_path / "s.zarr"
    record(path, [41, 42, 43])
    store = EpisodeStore.open(path)
    ep = store.episode(1)
    row = {"image": ep.streams["cam"][0] + 1, "obs": ep.steps[0] + 1, "notes": 1}[damage.split("_")[1]]
    label = {"image": "streams/cam/data", "obs": "steps/obs", "notes": "episodes/notes"}[damage.split("_")[1]]
    f = _unit_file(store, label, row)
    assert f.is_file(), f
    if damage.startswith("delete"):
        f.unlink()
    elif damage.startswith("truncate"):
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    else:
        arr = store.layout.streams["cam"]["data"]
        per = arr.shards[0] // arr.chunks[0]
        _empty_index_entry(f, (row % arr.shards[0]) // arr.chunks[0], per)
    res = run_cli("data", "verify", path)
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert label in res.stdout and "Traceback" not in res.stderr, res.stdout
    if label != "episodes/notes":
        import re
        assert re.search(r"\(episodes? ([0-9]+, )*1[,)]", res.stdout), res.stdout
    # readers raise; nothing reads back as zeros, black frames or blank notes
    if label == "episodes/notes":
        with pytest.raises(StoreError):
            EpisodeStore.open(path)
        info = run_cli("data", "info", path)
        assert info.returncode == 2 and "Traceback" not in info.stderr
        assert len([ln for ln in info.stderr.splitlines() if ln.strip()]) == 1, info.stderr
        return
    store = EpisodeStore.open(path)
    with pytest.raises((StoreError, ValueError)):
        if label == "steps/obs":
            store.read_steps(store.episode(1), ["obs"])
        else:
            store.read_stream(store.episode(1), "cam")
    if label == "streams/cam/data":
        with pytest.raises((StoreError, ValueError)):
            store.read_samples("cam", np.array([row]))
        with pytest.raises((StoreError, ValueError)):   # the learner's sampler reads through the same paths
            sampler = TransitionSampler(store, cameras=["cam"])
            sampler.batch(np.arange(len(sampler)))
