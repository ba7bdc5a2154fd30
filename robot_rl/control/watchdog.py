"""Input freshness: every input has a maximum age; if one is stale the loop holds, and it resumes
only after every input has been fresh for `resume_after_s` without a break."""
from __future__ import annotations

import collections
from typing import Optional


class Watchdog:
    def __init__(self, max_age_s: dict[str, float], resume_after_s: float = 0.2) -> None:
        self.max_age_ns = {k: int(v * 1e9) for k, v in max_age_s.items()}
        self.resume_ns = int(resume_after_s * 1e9)
        self.last_ns: dict[str, Optional[int]] = {k: None for k in max_age_s}
        self.fresh_since: Optional[int] = None
        self.holding = True          # nothing seen yet
        self.stale_events = 0
        self.stale_inputs: collections.Counter[str] = collections.Counter()   # holds by the input that went stale

    def update(self, name: str, stamp_ns: int) -> None:
        if name not in self.last_ns:
            raise KeyError(f"watchdog: unknown input {name!r}")
        prev = self.last_ns[name]
        self.last_ns[name] = stamp_ns if prev is None else max(prev, stamp_ns)

    def stale(self, now_ns: int) -> list[str]:
        return [k for k, t in self.last_ns.items() if t is None or now_ns - t > self.max_age_ns[k]]

    def ok(self, now_ns: int) -> bool:
        """True when the loop may act on its inputs at now_ns."""
        stale = self.stale(now_ns)
        if stale:
            if not self.holding:
                self.stale_events += 1
                self.stale_inputs.update(stale)
            self.holding, self.fresh_since = True, None
            return False
        if self.holding:
            if self.fresh_since is None:
                self.fresh_since = now_ns
            if now_ns - self.fresh_since < self.resume_ns:
                return False
            self.holding = False
        return True
