"""Whether the control node drives the robot, from its step records (/control/step): the recorder
opens an episode only while it drives (its newest step record, less than DRIVING_S old, is not a hold),
and calls the first reset once it has driven steadily (STEADY_S with no hold and no gap), when the
graph's start-up is over. On a loaded machine the control node holds now and then (an input went
stale); `settled` then gives up waiting for a steady second after `max_wait_s`, so an occasional
hold cannot keep the recorder from ever starting."""
from __future__ import annotations

import math

DRIVING_S = 0.5
STEADY_S = 1.0


class ControlWatch:
    def __init__(self, started: float) -> None:
        self.started = started            # monotonic time the watch began (the recorder's start)
        self.driving_at = -math.inf       # the newest step record, if it was not a hold
        self.steady_since = math.inf      # since when every step record was not a hold, with no gap
        self.holds = 0

    def step(self, hold: bool, now: float) -> None:
        if hold:
            self.steady_since, self.driving_at = math.inf, -math.inf
            self.holds += 1
            return
        if self.steady_since == math.inf or now - self.driving_at > DRIVING_S:
            self.steady_since = now       # driving again after a hold or a silence
        self.driving_at = now

    def driving(self, now: float) -> bool:
        return now - self.driving_at < DRIVING_S

    def steady(self, now: float) -> bool:
        return now - self.steady_since >= STEADY_S

    def settled(self, now: float, max_wait_s: float) -> bool:
        """Start-up is over: a steady second, or driving after max_wait_s of waiting for one."""
        return self.steady(now) or (now - self.started >= max_wait_s and self.driving(now))

    def waiting(self, now: float) -> str:
        """What the control node has not done yet, for a status line."""
        if not self.driving(now):
            return "the control node to drive (it holds or is silent)"
        return f"the control node to drive {STEADY_S:g} s without a hold ({self.holds} holds so far)"
