"""Random streams of the inference half.

Every random choice derives from ``SeedSequence(seed, spawn_key=(INFERENCE_KEY, stream, fold))``,
never from ``seed + index``. The simulation half uses ``spawn_key=(sample_index,)``; the
three-element keys here cannot collide with those.
"""

from __future__ import annotations

import enum

import numpy as np
import torch

#: First spawn-key element of every inference stream ("INF" in ASCII).
INFERENCE_KEY = 0x494E46


class Stream(enum.IntEnum):
    """Purpose of a random stream (second spawn-key element)."""

    FOLDS = 1
    MI = 2
    TRAIN = 3
    METRICS = 4
    SHAP_ROWS = 5
    SHAP_BACKGROUND = 6
    SHAP_DRAWS = 7
    SHAP_PERMUTATIONS = 8
    CONVERGENCE = 9


def seed_sequence(seed: int, stream: Stream, fold: int = 0) -> np.random.SeedSequence:
    """Return the SeedSequence of one stream of one fold.

    Args:
        seed: Root seed of the campaign (non-negative integer).
        stream: Purpose of the stream.
        fold: Fold index (0 for streams that are not per fold).
    """
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return np.random.SeedSequence(seed, spawn_key=(INFERENCE_KEY, int(stream), int(fold)))


def rng(seed: int, stream: Stream, fold: int = 0) -> np.random.Generator:
    """Return a numpy Generator for one stream of one fold."""
    return np.random.default_rng(seed_sequence(seed, stream, fold))


def int_seed(seed: int, stream: Stream, fold: int = 0) -> int:
    """Return a 63-bit integer seed derived from one stream (for torch and legacy APIs)."""
    return int(seed_sequence(seed, stream, fold).generate_state(2, np.uint32).view(np.uint64)[0] >> 1)


def seed_torch(seed: int, stream: Stream, fold: int = 0) -> int:
    """Seed torch's global generator (and numpy's legacy one) from a stream; return the seed.

    numpy's legacy global state is seeded too because some libraries (shap) draw from it.
    """
    s = int_seed(seed, stream, fold)
    torch.manual_seed(s)
    np.random.seed(s % 2**32)
    return s
