"""Update-to-data ratio, enforced: the learner may take `ratio` gradient updates per transition that
has arrived, no more (it waits for data), and reports the ratio it actually achieved (fewer when it
cannot keep up). SERL and HIL-SERL set a UTD but never enforce it against the rate data arrives.
"""
from __future__ import annotations


class UTDGovernor:
    def __init__(self, ratio: float, warmup_transitions: int = 0) -> None:
        if ratio <= 0 or warmup_transitions < 0:
            raise ValueError("ratio must be > 0 and warmup_transitions >= 0")
        self.ratio, self.warmup = ratio, warmup_transitions
        self.transitions = 0
        self.updates = 0

    def add_data(self, transitions: int) -> None:
        self.transitions += int(transitions)

    def owed(self) -> int:
        """Updates allowed now."""
        if self.transitions < self.warmup:
            return 0
        return max(0, int(self.ratio * (self.transitions - self.warmup)) - self.updates)

    def did_update(self, count: int = 1) -> None:
        if count > self.owed():
            raise RuntimeError(f"{count} updates exceed the {self.owed()} the UTD ratio {self.ratio:g} allows")
        self.updates += count

    @property
    def measured(self) -> float:
        """Updates per transition so far (after warm-up)."""
        data = self.transitions - self.warmup
        return self.updates / data if data > 0 else 0.0
