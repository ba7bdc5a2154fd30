"""The benchmarks under bench/ run: each on its smallest input, in its own process, printing its
figures (the ROS ones in the test's own ROS domain, or one of their own). No figure is checked
against a target here (docs/BENCHMARKS.md has the real runs); this catches a bench that no longer
runs against the code it measures (an import moved, a config field renamed), which otherwise
shows only the day someone needs its numbers."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO


def bench(script: str, *args, cwd=None, timeout=600, env=None) -> str:
    res = subprocess.run([sys.executable, str(REPO / "bench" / script), *map(str, args)], cwd=cwd or REPO,
                         capture_output=True, text=True, timeout=timeout, env=env)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    return res.stdout


@pytest.mark.parametrize("script, args, prints", [
    ("store_sample.py", ["--transitions", 300, "--batch", 32, "--batches", 3], "transitions/s cached in RAM"),
    ("control_tick.py", ["--ticks", 100, "--repeat", 1], "the core adds"),
    ("reward_classifier.py", ["--sizes", 64, "--calls", 10], "one classification p50"),
    ("gripper.py", ["--robots", "arm6", "--steps", 3], "90% in"),
    ("localization.py", ["--demos", 2, "--steps", 20, "--held-out", 2, "--seeds", 0, "--pads", 4,
                         "--inputs", "front,wrist:world", "--threads", 1], "10-40 cm:"),
    ("learner.py", ["--seconds", 1, "--threads", 1, "--episodes", 1], "commit -> live median"),
])
def test_a_bench_prints_its_figures(script, args, prints):
    assert prints in bench(script, *args)


def test_bench_figures_files_for_plots(tmp_path):
    out = bench("robot_strips.py", "--robots", "arm6", "--seeds", 1, "--out", tmp_path)
    assert "arm6: expert 1/1 on pick_cube" in out and (tmp_path / "robot_arm6.png").stat().st_size > 0
    out = bench("bc_chunking.py", "--seeds", 0, "--chunks", 1, 2, "--demos", 2, "--bc-steps", 10, "--eval-episodes", 1,
                "--threads", 1, "--out", tmp_path, "--tag", "t")
    result = json.loads((tmp_path / "bc_chunking_t.json").read_text())
    assert "chunk 2: success" in out and (tmp_path / "bc_chunking_t.png").stat().st_size > 0 and result


def test_the_learning_bench_and_the_benches_that_read_its_output(tmp_path):
    # (a)'s recipe for one episode of small frames; its kept store feeds grasp_labels.py, a BC policy
    # on that store feeds corrector.py
    out = bench("learning.py", "rlpd", "--config", "launch/learner/rlpd_pick_cube.yaml", "--seeds", 0,
                "--env-steps", 40, "--demos", 2, "--eval-every", 40, "--eval-episodes", 1, "--threads", 1,
                "--batch", 16, "--image-size", 64,
                "--out", tmp_path / "l", "--keep-stores", tmp_path / "stores", "--tag", "t")
    assert "seed 0: final eval success" in out
    result = json.loads((tmp_path / "l" / "learning_rlpd_t.json").read_text())
    assert result and (tmp_path / "l" / "learning_rlpd_t.png").stat().st_size > 0
    store = tmp_path / "stores" / "seed0.zarr"
    assert "successful episodes replayed" in bench("grasp_labels.py", store)
    res = subprocess.run([sys.executable, "-m", "robot_rl.cli", "bc", "--store", str(store), "--policy", "base",
                          "--steps", "10"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    out = bench("corrector.py", tmp_path / "policies" / "base" / "v0001.onnx", "--episodes", 1, "--judges", "progress")
    assert "progress" in out and "needless takeovers" in out


@pytest.mark.ros
@pytest.mark.parametrize("script, args, prints", [
    ("sim.py", ["--node-seconds", 1], "sim node, two 128x128 cameras, 10 Hz control: real-time factor"),
    ("record.py", ["--episodes", 1, "--episode-s", 1], "store:"),
    ("ros_message_cost.py", ["--frames", 20], "1280x720"),
    ("ros_transport.py", ["--seconds", 1], "JointState 7 dof @500Hz (reliable)"),
    ("control_loop.py", ["--seconds", 2, "--repeat", 1, "--cases", "cnn", "--vm-probe", 0], "targets: compute p99"),
])
def test_a_ros_bench_prints_its_figures(script, args, prints, ros_child_env):
    assert prints in bench(script, *args, env=ros_child_env)
