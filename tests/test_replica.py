"""Episode replication without ROS (robot_rl.store.replica): a replica holds what a reader of the
source store sees, proven by per-episode digests; a damaged, foreign or out-of-order payload
commits nothing; a replica killed mid-episode goes on from its last committed episode. Real zarr
stores on disk, a real process killed with SIGKILL."""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import store_child
from robot_rl.store import EpisodeStore, StoreWriter
from robot_rl.store.replica import EpisodeSource, Replica, ReplicaError, episode_digest, pack, read_episode
from robot_rl.store.verify import verify

# the camera stored as JPEG: the replica must hold the decoded frames, not re-encode them
SPEC = dataclasses.replace(store_child.SPEC, streams=[
    dataclasses.replace(s, codec="jpeg", level=80) if s.name == "cam" else s for s in store_child.SPEC.streams])
SEEDS = (3, 4, 5, 6)


def make_source(path, seeds=SEEDS):
    with StoreWriter(path, SPEC) as w:
        for k, s in enumerate(seeds):
            store_child.record_episode(w, s)
            w.end_episode(status="aborted" if k == 2 else "complete", success=[True, False, None, True][k % 4])
    return EpisodeSource(path)


def test_a_replica_reads_back_what_the_source_reads(tmp_path):
    source = make_source(tmp_path / "robot.zarr")
    ann = source.announcement()
    assert ann["episodes"] == len(SEEDS)
    replica = Replica(tmp_path / "replica.zarr", ann)
    for i in range(len(SEEDS)):
        applied = replica.apply(source.packet(i))
        assert applied.index == i and applied.digest == episode_digest(source.store, i)
    replica.close()
    src, rep = source.store, EpisodeStore.open(tmp_path / "replica.zarr")
    assert rep.spec.stream("cam").codec == "zstd" and src.spec.stream("cam").codec == "jpeg"
    assert len(rep) == len(src)
    for i in range(len(SEEDS)):
        a, b = src.episode(i), rep.episode(i)
        assert (a.status, a.success, a.task, a.notes, a.start_ns, a.end_ns) == (b.status, b.success, b.task, b.notes,
                                                                                  b.start_ns, b.end_ns)
        for name in SPEC.stream_names:
            for x, y in zip(src.read_stream(a, name), rep.read_stream(b, name)):
                np.testing.assert_array_equal(x, y)
        sa, sb = src.read_steps(a), rep.read_steps(b)
        for k in sa:
            if k != "sample_index":
                np.testing.assert_array_equal(sa[k], sb[k])
        for it_a, it_b in zip(src.iter_steps(a), rep.iter_steps(b)):   # each step's own samples
            for name in SPEC.stream_names:
                np.testing.assert_array_equal(it_a["samples"][name], it_b["samples"][name])
    assert verify(tmp_path / "replica.zarr").ok
    # the digest sees a change a reader would see
    ep = read_episode(src, 1)
    ep.streams["joints"][0][3, 2] += 1e-3
    assert ep.digest() != episode_digest(src, 1)


def test_a_bad_foreign_or_out_of_order_payload_commits_nothing(tmp_path):
    source = make_source(tmp_path / "robot.zarr")
    replica = Replica(tmp_path / "replica.zarr", source.announcement())
    good = source.packet(0)
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0x40
    for bad, why in ((bytes(flipped), "payload"), (good[:-100], "payload"), (b"hello", "not a robot_rl episode"),
                     (source.packet(1), "not this replica's next")):
        with pytest.raises(ReplicaError, match=why):
            replica.apply(bad)
        assert replica.episodes == 0
    # another store's episode 0, with the same spec
    other = make_source(tmp_path / "other.zarr", seeds=(9,))
    with pytest.raises(ReplicaError, match="from store"):
        replica.apply(other.packet(0))
    # the same payload with its digest forged to match changed content still fails: the digest is recomputed
    ep = read_episode(source.store, 0)
    ep.steps["reward"] = ep.steps["reward"] + 1
    forged = pack(ep, "0" * 16)
    with pytest.raises(ReplicaError, match="from store"):
        replica.apply(forged)
    assert replica.apply(good).index == 0
    replica.close()
    # a path that holds another source's replica is refused
    with pytest.raises(ReplicaError, match="not of"):
        Replica(tmp_path / "replica.zarr", other.announcement())
    assert len(EpisodeStore.open(tmp_path / "replica.zarr")) == 1


def test_a_replica_killed_mid_episode_goes_on_from_its_last_commit(tmp_path):
    source = make_source(tmp_path / "robot.zarr")
    child = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_replica import make_source
        from robot_rl.store.replica import EpisodeSource, Replica, unpack
        source = EpisodeSource({str(tmp_path / 'robot.zarr')!r})
        replica = Replica({str(tmp_path / 'replica.zarr')!r}, source.announcement())
        replica.apply(source.packet(0))
        _, ep = unpack(source.packet(1))
        w = replica.writer
        w.begin_episode(task="half")
        for i in range(10):
            w.append("joints", ep.streams["joints"][0][i], int(ep.streams["joints"][1][i]))
        w.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    replica = Replica(tmp_path / "replica.zarr", source.announcement())
    assert replica.episodes == 1
    for i in range(1, len(SEEDS)):
        replica.apply(source.packet(i))
    replica.close()
    rep = EpisodeStore.open(tmp_path / "replica.zarr")
    assert [episode_digest(rep, i) for i in range(len(SEEDS))] == [episode_digest(source.store, i)
                                                                    for i in range(len(SEEDS))]
    assert verify(tmp_path / "replica.zarr").ok


@pytest.mark.ros
def test_the_replica_node_follows_the_server_node_and_catches_up_after_a_restart(procs, tmp_path):
    """Over ROS 2 on one machine: the replica catches up with a store that grows while both nodes
    run, and a replica node stopped and started again goes on from where it was."""
    from conftest import read_json, wait_exit, wait_until

    src_path, rep_path, report = tmp_path / "robot.zarr", tmp_path / "replica.zarr", tmp_path / "replica.json"
    procs.node("episode_server", "server", store=str(src_path), announce_period_s=0.3)
    rep = procs.node("episode_replica", "replica", store=str(rep_path), report_path=str(report), retry_s=2.0)
    w = StoreWriter(src_path, SPEC)                      # the server starts before the store exists
    for k, s in enumerate(SEEDS[:2]):
        store_child.record_episode(w, s)
        w.end_episode(success=bool(k))
    done = lambda n: report.exists() and read_json(report)["episodes"] >= n  # noqa: E731
    assert wait_until(lambda: done(2), 60), rep.log_path.read_text()[-3000:]
    rep.send_signal(signal.SIGINT)
    assert wait_exit(rep, 30) == 0
    for s in SEEDS[2:]:                                  # recorded while the replica is away
        store_child.record_episode(w, s)
        w.end_episode()
    rep = procs.node("episode_replica", "replica2", store=str(rep_path), report_path=str(report), retry_s=2.0)
    assert wait_until(lambda: done(len(SEEDS)), 60), rep.log_path.read_text()[-3000:]
    w.close()
    rep.send_signal(signal.SIGINT)
    assert wait_exit(rep, 30) == 0
    src, copy = EpisodeStore.open(src_path), EpisodeStore.open(rep_path)
    assert len(copy) == len(src) == len(SEEDS)
    digests = [episode_digest(src, i) for i in range(len(SEEDS))]
    assert [episode_digest(copy, i) for i in range(len(SEEDS))] == digests
    assert [a["digest"] for a in read_json(report)["applied"]] == digests[2:]   # this run's applies
    assert "replica" in rep.log_path.read_text() and "2 episodes here" in rep.log_path.read_text()


def test_the_fetcher_asks_one_at_a_time_and_backs_off_on_silence():
    from robot_rl.store.replica import Fetcher
    f = Fetcher(retry_s=2.0, max_retry_s=5.0)
    assert f.due(have=3, source_has=3, now=0.0) is None           # nothing to fetch
    assert f.due(3, 5, 0.0) == 3                                    # the next episode, once
    assert f.due(3, 5, 1.0) is None                                 # still waiting for the answer
    assert f.due(3, 5, 2.1) == 3 and f.retries == 1                 # no answer in 2 s: again
    assert f.due(3, 5, 5.0) is None                                 # now waits 4 s
    assert f.due(3, 5, 6.2) == 3 and f.retries == 2
    assert f.due(3, 5, 10.0) is None and f.due(3, 5, 11.3) == 3     # capped at 5 s
    assert f.due(4, 5, 11.4) == 4                                   # answered: the next one at once
    f.failed()                                                      # a damaged answer: ask again now
    assert f.due(4, 5, 11.5) == 4
    with pytest.raises(ValueError):
        Fetcher(retry_s=0)


@pytest.mark.ros
def test_a_replica_node_refuses_another_store_than_the_one_it_copies(procs, tmp_path):
    from conftest import wait_exit

    first, second = make_source(tmp_path / "a.zarr", seeds=(3,)), make_source(tmp_path / "b.zarr", seeds=(4,))
    rep_path = tmp_path / "replica.zarr"
    replica = Replica(rep_path, first.announcement())
    replica.apply(first.packet(0))
    replica.close()
    procs.node("episode_server", "server", store=str(second.path), announce_period_s=0.3)
    rep = procs.node("episode_replica", "replica", store=str(rep_path))
    assert wait_exit(rep, 60) == 1
    assert "not of" in rep.log_path.read_text() and "choose another path" in rep.log_path.read_text()
    assert [episode_digest(EpisodeStore.open(rep_path), 0)] == [episode_digest(first.store, 0)]   # untouched
