"""PNG plots of a learner run from its metrics.jsonl and episodes.jsonl: success and intervention
rate of the policy's episodes, losses, Q, temperature and the achieved update-to-data ratio."""
from __future__ import annotations

import json
import pathlib
from typing import Optional

import numpy as np


def _read_jsonl(path: pathlib.Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:   # a line cut by a kill: skip it
            continue
    return rows


def rolling(x: np.ndarray, n: int) -> np.ndarray:
    """Mean over the last n values at each point (fewer at the start)."""
    c = np.cumsum(np.insert(np.asarray(x, float), 0, 0.0))
    i = np.arange(1, len(x) + 1)
    lo = np.maximum(i - n, 0)
    return (c[i] - c[lo]) / (i - lo)


def plot_run(run_dir: str | pathlib.Path, out: Optional[str | pathlib.Path] = None) -> Optional[pathlib.Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = pathlib.Path(run_dir)
    metrics = _read_jsonl(run_dir / "metrics.jsonl")
    episodes = [e for e in _read_jsonl(run_dir / "episodes.jsonl") if e.get("policy")]
    if not metrics and not episodes:
        return None
    fig, axes = plt.subplots(2, 3, figsize=(14, 7))
    ax = axes[0, 0]
    if episodes:
        idx = np.arange(1, len(episodes) + 1)
        ax.plot(idx, rolling([e["success"] for e in episodes], 10), label="success (last 10)")
        ax.plot(idx, rolling([e["intervention_rate"] for e in episodes], 10), label="intervention rate (last 10)")
        ax.set_ylim(-0.05, 1.05)
        ax.legend(loc="best", fontsize=8)
    ax.set_title("policy episodes")
    ax.set_xlabel("episode")

    def series(key: str) -> tuple[np.ndarray, np.ndarray]:
        pts = [(m["updates"], m[key]) for m in metrics if m.get(key) is not None]
        return (np.array([p[0] for p in pts]), np.array([p[1] for p in pts])) if pts else (np.array([]), np.array([]))

    for ax, keys, title in ((axes[0, 1], ["critic_loss"], "critic loss"), (axes[0, 2], ["actor_loss"], "actor loss"),
                            (axes[1, 0], ["q_mean"], "Q (mean over batch)"), (axes[1, 1], ["alpha", "entropy"], "temperature, entropy"),
                            (axes[1, 2], ["utd_measured"], "update-to-data ratio (achieved)")):
        for k in keys:
            x, y = series(k)
            if len(x):
                ax.plot(x, y, label=k)
        ax.set_title(title)
        ax.set_xlabel("updates")
        if len(keys) > 1:
            ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    out = pathlib.Path(out) if out else run_dir / "learning.png"
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    tmp.replace(out)
    return out
