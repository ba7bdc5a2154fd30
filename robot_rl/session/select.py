"""Which of the learner's exports a session deploys as its final policy.

Exports taken minutes apart during a HIL session swing by 15-25 points of held-out success, and the
last one is not the best (docs/BENCHMARKS.md, "HIL session"). On the simulator the session runs
the last few exports on validation seeds of their own, disjoint from the demonstration, HIL and
held-out evaluation seeds, and deploys the best, which may be the BC base the session started
from when no export beats it; the held-out evaluation then measures the choice
on seeds the choice never saw, so the reported number is not inflated by the selection."""
from __future__ import annotations

from typing import Any, Optional, Sequence

VALIDATION_SEED_OFFSET = 200_000   # demos: seed.., HIL: seed+1000.., held-out eval: seed+100000..


def validation_seeds(seed: int, episodes: int) -> list[int]:
    return [seed + VALIDATION_SEED_OFFSET + i for i in range(episodes)]


def candidates(versions: Sequence[str], name: str, last: int, base: Optional[str] = None) -> list[str]:
    """The registry refs of the newest `last` versions of `name`, oldest first, after the `base`
    policy's ref when one is given (first, so it loses every tie in `choose`)."""
    exports = [f"{name}/{v}" for v in versions[-last:]] if last > 0 else []
    return ([base] if base else []) + exports


def choose(results: Sequence[dict[str, Any]]) -> str:
    """The ref with the highest validation success; on a tie the newest (it learned from more data;
    the base, listed first, never wins a tie). `results`: oldest first, each {"ref": ...,
    "success_rate": ...}."""
    if not results:
        raise ValueError("no candidates to choose from")
    best = max(range(len(results)), key=lambda i: (results[i]["success_rate"], i))
    return results[best]["ref"]
