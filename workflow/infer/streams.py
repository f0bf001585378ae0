"""The random streams of ``python -m workflow infer``: sub-streams of :attr:`workflow.seeds.Stream.INFER`.

Every stream is ``SeedSequence(seed, spawn_key=(INFERENCE_KEY, Stream.INFER, purpose, *extra))``
with ``seed`` the campaign's inference seed (``results/inference/data.h5``) and ``purpose`` a
:class:`Purpose`. The streams that belong to one recording add the recording's digest
(:func:`recording_digest`: a hash of its resampled, windowed samples) to the key, so a
recording's posterior draws, its explanation and its predictive check do not depend on which
other recordings were passed with it, on their order, or on whether the command line or the
Snakemake stage ran it.
"""

from __future__ import annotations

import enum
import hashlib

import numpy as np

from workflow.seeds import INFERENCE_KEY, SIMULATOR_SEED_MAX, Stream, integer_seed


class Purpose(enum.IntEnum):
    """Third spawn-key element of an ``infer`` stream."""

    DRAWS = 0  # posterior draws of one window from one fold: (DRAWS, *digest, window, fold)
    COMBINE = 1  # which window draws make up the recording's combined draws: (COMBINE, *digest)
    BACKGROUND = 2  # the explanation's background rows (shared by every recording): (BACKGROUND,)
    PERMUTATIONS = 3  # the explanation's permutation seed: (PERMUTATIONS, *digest)
    PPC_PARAMS = 4  # the predictive check's parameter sets: (PPC_PARAMS, *digest)
    PPC_NETWORK = 5  # root of the predictive check's network seeds (shared, one per draw index): (PPC_NETWORK,)


def recording_digest(windows: np.ndarray) -> tuple[int, int]:
    """Two 32-bit integers from the SHA-256 of a recording's windows (float64, C order)."""
    h = hashlib.sha256(np.ascontiguousarray(windows, dtype=np.float64).tobytes()).digest()
    return int.from_bytes(h[:4], "little"), int.from_bytes(h[4:8], "little")


def sequence(seed: int, purpose: Purpose, *extra: int) -> np.random.SeedSequence:
    """The SeedSequence of one ``infer`` stream.

    Raises:
        ValueError: if ``seed`` is negative.
    """
    if int(seed) < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    key = (INFERENCE_KEY, int(Stream.INFER), int(Purpose(purpose)), *(int(e) for e in extra))
    return np.random.SeedSequence(int(seed), spawn_key=key)


def generator(seed: int, purpose: Purpose, *extra: int) -> np.random.Generator:
    """A numpy Generator on one ``infer`` stream."""
    return np.random.default_rng(sequence(seed, purpose, *extra))


def int_seed(seed: int, purpose: Purpose, *extra: int, upper: int | None = None) -> int:
    """One integer from an ``infer`` stream (:func:`workflow.seeds.integer_seed`)."""
    return integer_seed(sequence(seed, purpose, *extra), upper)


def ppc_network_root(seed: int) -> int:
    """Root seed of the predictive check's networks: draw ``j`` runs ``network_seed(root, j)``."""
    return int_seed(seed, Purpose.PPC_NETWORK, upper=SIMULATOR_SEED_MAX)
