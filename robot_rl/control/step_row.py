"""The control node's per-tick record on /control/step (a Float64MultiArray): its layout and its
parser, in one place for the node that writes it and the nodes that read it (recorder, live view,
the simulated corrector)."""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

HEADER = ("t_ns", "intervention", "hold", "policy_version", "state_stamp_ns")
ACTIONS = ("policy", "base", "human", "executed", "command")


def step_fields(action_dim: int, obs_dim: int) -> list[str]:
    """t_ns (monotonic clock of the tick), intervention, hold, policy_version (the number of the
    running policy's registry version, 0 for none), state_stamp_ns (the robot's stamp of the joint
    state the tick acted on: names the exact proprio sample), the proprio observation the tick used
    (obs_dim values), then the policy's action, the base policy's action (residual mode), the human's
    action, the executed action (the command sent, in action space) and the command sent, action_dim
    values each (NaN where there was none)."""
    return [*HEADER, *[f"obs_{i}" for i in range(obs_dim)],
            *[f"{kind}_{i}" for kind in ACTIONS for i in range(action_dim)]]


def obs_dim_of(row_size: int, action_dim: int) -> int:
    """The observation size a row of this length carries (negative: the row is too short)."""
    return row_size - len(HEADER) - len(ACTIONS) * action_dim


@dataclasses.dataclass
class StepRow:
    """One control step as the control node publishes it."""
    t_ns: int
    intervention: bool
    hold: bool
    obs: np.ndarray
    policy_action: np.ndarray      # NaN when no policy ran (teleop-only, or holding)
    human_action: np.ndarray       # NaN when the human did not act
    executed_action: np.ndarray
    base_action: Optional[np.ndarray] = None
    policy_version: int = 0
    state_stamp_ns: int = -1       # the robot's stamp of the joint state the tick used (-1: unknown)

    @staticmethod
    def from_row(row: np.ndarray, obs_dim: int, action_dim: int) -> "StepRow":
        """Parse a /control/step row; ValueError if its length does not fit the dims."""
        a, o = action_dim, len(HEADER) + obs_dim
        if obs_dim < 0 or row.shape != (o + len(ACTIONS) * a,):
            raise ValueError(f"step row has {row.size} values; obs_dim {obs_dim} and action_dim {a} need "
                             f"{o + len(ACTIONS) * a}")
        return StepRow(t_ns=int(row[0]), intervention=bool(row[1]), hold=bool(row[2]), policy_version=int(row[3]),
                       state_stamp_ns=int(row[4]), obs=row[5:o],
                       policy_action=row[o:o + a], base_action=row[o + a:o + 2 * a],
                       human_action=row[o + 2 * a:o + 3 * a], executed_action=row[o + 3 * a:o + 4 * a])
