"""Temporal ensembling of action chunks (ACT, Zhao et al. 2023): a chunked policy predicts the next
K actions at every step; the action executed now is the weighted mean of every prediction made
for now, by this step's chunk and the K-1 before it. Weights exp(-decay * i), i = 0 the oldest
prediction (ACT's convention: with decay > 0 older predictions count more, which smooths; decay 0
is the plain mean). A weighted mean of actions within bounds stays within them.

ROS-free and cheap (K x A numbers per step); PolicyRuntime runs one per chunked policy.
"""
from __future__ import annotations

import collections

import numpy as np


class TemporalEnsemble:
    def __init__(self, chunk: int, decay: float = 0.01) -> None:
        if chunk < 1 or decay < 0:
            raise ValueError(f"chunk must be >= 1 and decay >= 0, got {chunk} and {decay:g}")
        self.chunk, self.decay = int(chunk), float(decay)
        self.history: collections.deque[np.ndarray] = collections.deque(maxlen=self.chunk)
        self.weights = np.exp(-self.decay * np.arange(self.chunk))

    def reset(self) -> None:
        """Forget the chunks so far: after a hold, a new episode or a policy swap the old
        predictions are for a time that is gone."""
        self.history.clear()

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        """This step's chunk [K, A] -> the action to execute now [A]."""
        chunk = np.asarray(chunk)
        if chunk.shape[0] != self.chunk:
            raise ValueError(f"expected a chunk of {self.chunk} actions, got {chunk.shape[0]}")
        self.history.append(chunk)
        n = len(self.history)
        # history[j] was predicted n-1-j steps ago: its entry n-1-j is its prediction for now
        preds = np.stack([c[n - 1 - j] for j, c in enumerate(self.history)])
        w = self.weights[:n]
        return (w @ preds) / w.sum()
