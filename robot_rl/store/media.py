"""Looking at episodes: `robot-rl data export-video` (cameras side by side) and `data plot`."""
from __future__ import annotations

import pathlib
from typing import Callable, Optional

import numpy as np

from robot_rl.store.reader import Episode, EpisodeStore
from robot_rl.store.schema import StoreError


def _to_bgr(frame: np.ndarray, kind: str, height: int) -> np.ndarray:
    import cv2
    if kind == "depth":
        d = frame.astype(np.float32)
        valid = d[d > 0]
        hi = float(np.percentile(valid, 99)) if valid.size else 1.0
        img = cv2.applyColorMap(np.clip(d / max(hi, 1e-6) * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_TURBO)
        img[d <= 0] = 0
    else:
        img = np.ascontiguousarray(frame[..., ::-1])
    if img.shape[0] != height:
        img = cv2.resize(img, (round(img.shape[1] * height / img.shape[0]), height), interpolation=cv2.INTER_AREA)
    return img


def export_video(store: EpisodeStore, episode: int, out: pathlib.Path, cameras: Optional[list[str]] = None,
                 height: int = 480, fps: Optional[float] = None, block: int = 64,
                 progress: Optional[Callable[[int, int], None]] = None) -> dict:
    """Write an mp4 of the episode's cameras side by side, timed by the first camera's sensor clock
    (each other camera shows its latest frame at or before that time). Returns a summary."""
    import cv2
    ep = store.episode(episode)
    spec = store.spec
    cams = cameras or [s.name for s in spec.streams if s.is_image]
    if not cams:
        raise StoreError(f"{store.path}: no camera streams to export")
    for c in cams:
        if not spec.stream(c).is_image:
            raise StoreError(f"stream {c!r} is not a camera stream")
    master = cams[0]
    t = store.stamps(ep, master, "sensor")
    if len(t) == 0:
        raise StoreError(f"episode {ep.index} has no frames from {master}")
    if fps is None:
        fps = (len(t) - 1) / ((t[-1] - t[0]) / 1e9) if len(t) > 1 and t[-1] > t[0] else spec.stream(master).rate_hz or 30.0
    # index of the frame each camera shows at each master timestamp
    picks = {}
    for c in cams:
        stamps = store.stamps(ep, c, "sensor")
        local = np.searchsorted(stamps, t, side="right") - 1
        picks[c] = np.where(local >= 0, ep.streams[c][0] + local, -1)
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    try:
        for lo in range(0, len(t), block):
            hi = min(lo + block, len(t))
            tiles = []
            for c in cams:
                idx = picks[c][lo:hi]
                s = spec.stream(c)
                frames = store.read_samples(c, np.where(idx >= 0, idx, max(int(idx.max()), 0)))
                tiles.append([_to_bgr(f, s.kind, height) if i >= 0 else None for f, i in zip(frames, idx)])
            for k in range(hi - lo):
                row = []
                for c, col in zip(cams, tiles):
                    img = col[k]
                    if img is None:  # this camera has no frame yet: black tile of its size
                        h, w = spec.stream(c).shape[:2]
                        img = np.zeros((height, round(w * height / h), 3), np.uint8)
                    row.append(img)
                frame = np.hstack(row)
                if writer is None:
                    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), float(fps),
                                             (frame.shape[1], frame.shape[0]))
                    if not writer.isOpened():
                        raise StoreError(f"{out}: OpenCV cannot write mp4 here")
                writer.write(frame)
            if progress:
                progress(hi, len(t))
    finally:
        if writer is not None:
            writer.release()
    return {"path": str(out), "frames": len(t), "fps": fps, "cameras": cams,
            "size": (frame.shape[1], frame.shape[0])}


def plot_episode(store: EpisodeStore, episode: int, out: pathlib.Path, max_fields: int = 8) -> dict:
    """PNG of the episode over time: each vector stream, the step actions (policy, human,
    executed), reward, with intervention periods shaded red and the control node's holds grey."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = store.episode(episode)
    spec = store.spec
    vectors = [s for s in spec.streams if not s.is_image and ep.num_samples(s.name) > 0]
    steps = store.read_steps(ep) if ep.num_steps else None
    panels = len(vectors) + (2 if steps is not None else 0)
    if panels == 0:
        raise StoreError(f"episode {ep.index} has nothing to plot (no vector samples, no steps)")
    fig, axes = plt.subplots(panels, 1, figsize=(11, 2.4 * panels + 0.8), sharex=True, squeeze=False)
    axes = axes[:, 0]
    t0 = ep.start_ns
    iv_spans: list[tuple[float, float]] = []
    hold_spans: list[tuple[float, float]] = []
    if steps is not None:
        ts = (steps["t_ns"] - t0) / 1e9
        iv_spans, hold_spans = _spans(ts, steps["intervention"]), _spans(ts, steps["hold"])
    for ax, s in zip(axes, vectors):
        data, sensor_ns, _ = store.read_stream(ep, s.name)
        flat = data.reshape(len(data), -1)
        tt = (sensor_ns - t0) / 1e9
        for k in range(min(flat.shape[1], max_fields)):
            label = s.fields[k] if k < len(s.fields) else f"{s.name}[{k}]"
            ax.plot(tt, flat[:, k], lw=0.9, label=label)
        ax.set_ylabel(f"{s.name}\n{s.units}".strip())
        ax.legend(loc="upper right", fontsize=7, ncol=4)
    if steps is not None:
        ax = axes[len(vectors)]
        for key, style in (("action", "-"), ("human_action", ":"), ("executed_action", "--")):
            a = steps[key]
            for k in range(min(a.shape[1], max_fields)):
                if np.all(np.isnan(a[:, k])):
                    continue
                ax.plot(ts, a[:, k], style, lw=0.9, color=f"C{k}", label=f"{key}[{k}]" if key == "action" or k == 0 else None)
        ax.set_ylabel("actions\n- policy  : human  -- executed")
        ax.legend(loc="upper right", fontsize=7, ncol=4)
        ax = axes[len(vectors) + 1]
        ax.plot(ts, steps["reward"], color="k", lw=1, label="reward")
        ax.set_ylabel("reward")
        ax.set_xlabel("seconds since episode start")
    for ax in axes:
        for a, b in iv_spans:
            ax.axvspan(a, b, color="tab:red", alpha=0.12, lw=0)
        for a, b in hold_spans:
            ax.axvspan(a, b, color="0.4", alpha=0.18, lw=0)
    title = (f"episode {ep.index} ({ep.status}, success {ep.success}, task {ep.task or '-'}): "
             f"{ep.num_steps} steps, {len(iv_spans)} intervention(s) shaded red"
             + (f", {len(hold_spans)} hold(s) grey" if hold_spans else ""))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return {"path": str(out), "panels": panels, "interventions": len(iv_spans), "holds": len(hold_spans)}


def _spans(ts: np.ndarray, flags: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) times of each run of True steps (ending at the next step's time)."""
    edges = np.flatnonzero(np.diff(np.r_[0, np.asarray(flags, bool).astype(int), 0]))
    return [(ts[a], ts[min(b, len(ts) - 1)]) for a, b in zip(edges[::2], edges[1::2])]
