"""`robot-rl data info`: what a store holds, as tables a person can read."""
from __future__ import annotations

import os
import pathlib
from typing import Optional

import numpy as np

from robot_rl.store.reader import EpisodeStore


def dir_size(path: pathlib.Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except FileNotFoundError:
                pass
    return total


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def info_text(store: EpisodeStore, limit: Optional[int] = 50) -> str:
    spec, attrs = store.spec, store.attrs
    episodes = store.episodes()
    meta = attrs["robot_rl"]
    out = [f"store      {store.path}",
           f"schema     v{meta['schema_version']} (written by robot_rl {meta.get('software_version', '?')})",
           f"robot      {spec.robot.name}: {len(spec.robot.joint_names)} joints, control "
           f"{spec.robot.control_rate_hz:g} Hz",
           f"steps      {store.commit['steps']} (obs {spec.steps.obs_dim}, action {spec.steps.action_dim})"]
    by_status: dict[str, int] = {}
    for e in episodes:
        by_status[e.status] = by_status.get(e.status, 0) + 1
    succ = sum(1 for e in episodes if e.success)
    out.append(f"episodes   {len(episodes)} (" + ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()))
               + f"; {succ} successful)")
    if attrs.get("recording"):
        out.append(f"recording  an episode is in progress (task {attrs['recording'].get('task', '')!r})")
    total_s = sum(max(e.duration_s, 0.0) for e in episodes)
    rows = []
    for s in spec.streams:
        n = store.commit["streams"][s.name]
        size = dir_size(store.path / "streams" / s.name)
        rates = []
        for e in episodes:
            if e.num_samples(s.name) > 1:
                t = store.stamps(e, s.name, "sensor")[[0, -1]]
                if t[1] > t[0]:
                    rates.append((e.num_samples(s.name) - 1) / ((t[1] - t[0]) / 1e9))
        raw = n * s.sample_nbytes
        rows.append([s.name, s.kind, "x".join(map(str, s.shape)) or "scalar", s.dtype,
                     s.codec + (f" q{s.level}" if s.codec == "jpeg" else ""), f"{s.rate_hz:g}",
                     f"{np.median(rates):.1f}" if rates else "-", str(n), f"{size / 1e6:.1f}",
                     f"{size / raw:.2f}" if raw else "-",
                     f"{size / 1e6 / (total_s / 60):.1f}" if total_s > 0 else "-"])
    out += ["", "streams", _table(["name", "kind", "shape", "dtype", "codec", "nominal Hz", "measured Hz",
                                   "samples", "MB", "ratio", "MB/min"], rows)]
    if episodes:
        shown = episodes if limit is None or len(episodes) <= limit else episodes[-limit:]
        steps_iv, steps_hold = {}, {}
        for e in shown:
            cols = store.read_steps(e, ["intervention", "hold"]) if e.num_steps else \
                {"intervention": np.zeros(0, bool), "hold": np.zeros(0, bool)}
            steps_iv[e.index], steps_hold[e.index] = int(cols["intervention"].sum()), int(cols["hold"].sum())
        erows = [[str(e.index), e.status, {True: "yes", False: "no", None: "?"}[e.success], e.task or "-",
                  f"{e.duration_s:.1f}", str(e.num_steps), str(steps_iv[e.index]), str(steps_hold[e.index]),
                  " ".join(f"{e.num_samples(n)}" for n in spec.stream_names), e.notes[:40]] for e in shown]
        out += ["", "episodes" + (f" (last {limit} of {len(episodes)})" if len(shown) < len(episodes) else ""),
                _table(["#", "status", "success", "task", "seconds", "steps", "interventions", "held",
                        "samples (" + " ".join(spec.stream_names) + ")", "notes"], erows)]
    return "\n".join(out)
