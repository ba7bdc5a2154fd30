"""n-step returns over recorded episodes.

Conventions (the store's steps table): step t of an episode holds obs_t, the executed action a_t,
the reward r_t received after it, and terminal_t (the state after a_t is terminal). A transition
needs obs_{t+1}, which exists for t < L-1; the last step is usable only when it is terminal.

For step t the n-step target is
    R_t = sum_{i<k} gamma^i r_{t+i}  (+ gamma^k Q(obs_{t+k}, .) unless a terminal came first)
with k = n, or fewer where a terminal or the last recorded observation comes first.
"""
from __future__ import annotations

import numpy as np


def nstep_returns(rewards: np.ndarray, terminals: np.ndarray, n: int, gamma: float) -> dict[str, np.ndarray]:
    """One episode. Returns per step: `ret` (discounted reward sum), `discount` (gamma^k, or 0 if a
    terminal ended it: multiply the bootstrap value by it), `next` (index of the bootstrap
    observation within the episode) and `valid` (False for a last step that is not terminal)."""
    if n < 1 or not 0 <= gamma <= 1:
        raise ValueError(f"n must be >= 1 and gamma in [0, 1], got n={n}, gamma={gamma}")
    r = np.asarray(rewards, dtype=np.float64)
    term = np.asarray(terminals, dtype=bool)
    L = r.shape[0]
    ret, disc = np.zeros(L), np.zeros(L)
    nxt, valid = np.zeros(L, dtype=np.int64), np.ones(L, dtype=bool)
    for t in range(L):
        acc, g = 0.0, 1.0
        for i in range(n):
            j = t + i
            if j == L - 1 and not term[j]:   # step j has no next observation: bootstrap from obs_j
                valid[t] = i > 0
                nxt[t] = j
                break
            acc += g * r[j]
            g *= gamma
            if term[j]:                      # the episode ended here: nothing to bootstrap from
                g = 0.0
                nxt[t] = j
                break
            if i == n - 1:
                nxt[t] = j + 1
        ret[t], disc[t] = acc, g
    return {"ret": ret, "discount": disc, "next": nxt, "valid": valid}
