"""Every random stream of the campaign, in one registry.

All randomness derives from the root seed through :class:`numpy.random.SeedSequence` spawn
keys, never from ``seed + index`` (numpy's guide to parallel random numbers):

* per sample ``i`` of the simulation half: ``spawn_key=(i, stream)`` with ``stream`` a
  :class:`SampleStream` (the cross-check adds a third element, the replicate), so a sample's
  parameters and network do not depend on shard size, order or MPI rank;
* the inference half: ``spawn_key=(INFERENCE_KEY, stream, fold)`` with ``stream`` a
  :class:`Stream`; these three-element keys start with 0x494E46 ("INF"), a value no sample
  index of a campaign reaches (at most 10^8 samples, schema), so the two families never collide.

Brian2 splits a sample's network seed once more, ``SeedSequence(network_seed).spawn(2)``, into
its wiring stream and its own generator's seed
(:func:`workflow.simulation.simulators.brian2_sim.model.streams`).

A stream becomes an integer (for NEST, Brian2, torch, legacy numpy) only through
:func:`integer_seed`.
"""

from __future__ import annotations

import enum

import numpy as np

#: First spawn-key element of every inference stream ("INF" in ASCII).
INFERENCE_KEY = 0x494E46

#: Upper bound of simulator seeds: NEST's rng_seed and Brian2's seed lie in [1, 2**31 - 2].
SIMULATOR_SEED_MAX = 2**31 - 2


class SampleStream(enum.IntEnum):
    """Second spawn-key element of a sample's streams: ``(sample_id, stream[, replicate])``."""

    PRIOR = 0  # the parameter draw (rejection sampling from the constrained prior)
    NETWORK = 1  # the simulator seed of the campaign's run of the sample
    CROSSCHECK = 2  # the cross-check's replicate networks (third element: replicate)
    SENSITIVITY = 3  # the kernel-sensitivity check's best-fit networks (sample_id = replicate)


class Stream(enum.IntEnum):
    """Second spawn-key element of an inference stream: ``(INFERENCE_KEY, stream, fold)``."""

    FOLDS = 1
    MI = 2
    TRAIN = 3
    METRICS = 4
    SHAP_ROWS = 5
    SHAP_BACKGROUND = 6
    SHAP_DRAWS = 7
    SHAP_PERMUTATIONS = 8
    CONVERGENCE = 9
    TARGET_PRIOR = 10  # draws of the push-forward target prior (SBC/TARP references, prior variance)
    SUPPORT = 11  # the search for the targets' bounds under the constrained prior
    CONVERGENCE_BACKGROUND = 12  # the convergence reference's own SHAP background rows
    CONVERGENCE_DRAWS = 13  # the convergence reference's own base draws
    PAIRPLOT = 14  # the test rows of a fold's posterior pairplot
    MISSPECIFICATION = 15  # the reference/calibration split of the misspecification score
    INFER = 16  # `python -m workflow infer`: its sub-streams are workflow.infer.streams.Purpose
    HEADLINE = 17  # workflow.models.headline (issue 12): its sub-streams are workflow.models.headline.Purpose
    TRAIN_SUBSAMPLE = 18  # the training rows kept under inference.max_train_rows


def _check_seed(seed: int) -> int:
    if int(seed) < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return int(seed)


def sample_sequence(seed: int, sample_id: int, stream: SampleStream, *extra: int) -> np.random.SeedSequence:
    """The SeedSequence of one stream of one sample: ``spawn_key=(sample_id, stream, *extra)``."""
    key = (int(sample_id), int(SampleStream(stream)), *(int(e) for e in extra))
    return np.random.SeedSequence(_check_seed(seed), spawn_key=key)


def seed_sequence(seed: int, stream: Stream, fold: int = 0, *extra: int) -> np.random.SeedSequence:
    """The SeedSequence of one inference stream of one fold.

    Args:
        seed: Root seed (non-negative integer).
        stream: Purpose of the stream.
        fold: Fold index (0 for streams that are not per fold).
        extra: Further keys (e.g. an ensemble member); none gives the key of earlier versions.
    """
    key = (INFERENCE_KEY, int(Stream(stream)), int(fold), *(int(e) for e in extra))
    return np.random.SeedSequence(_check_seed(seed), spawn_key=key)


def integer_seed(ss: np.random.SeedSequence, upper: int | None = None) -> int:
    """One integer from a stream: in [1, ``upper``] if given, else a non-negative 63-bit integer.

    Simulators take ``upper=SIMULATOR_SEED_MAX``; torch and legacy numpy the 63-bit form.
    """
    if upper is None:
        return int(ss.generate_state(2, np.uint32).view(np.uint64)[0] >> 1)
    return int(ss.generate_state(1, dtype=np.uint32)[0] % upper) + 1


def network_seed(seed: int, sample_id: int) -> int:
    """The simulator seed of a sample's campaign run, in [1, 2**31 - 2]."""
    return integer_seed(sample_sequence(seed, sample_id, SampleStream.NETWORK), SIMULATOR_SEED_MAX)


def replicate_seed(seed: int, sample_id: int, replicate: int) -> int:
    """The simulator seed of one cross-check replicate of a sample, in [1, 2**31 - 2]."""
    return integer_seed(sample_sequence(seed, sample_id, SampleStream.CROSSCHECK, replicate), SIMULATOR_SEED_MAX)


def rng(seed: int, stream: Stream, fold: int = 0, *extra: int) -> np.random.Generator:
    """A numpy Generator for one inference stream of one fold."""
    return np.random.default_rng(seed_sequence(seed, stream, fold, *extra))


def int_seed(seed: int, stream: Stream, fold: int = 0, *extra: int) -> int:
    """A 63-bit integer seed of one inference stream (for torch and legacy APIs)."""
    return integer_seed(seed_sequence(seed, stream, fold, *extra))


def seed_torch(seed: int, stream: Stream, fold: int = 0, *extra: int) -> int:
    """Seed torch's global generator (and numpy's legacy one) from a stream; return the seed.

    numpy's legacy global state is seeded too because some libraries (shap) draw from it.
    """
    import torch

    s = int_seed(seed, stream, fold, *extra)
    torch.manual_seed(s)
    np.random.seed(s % 2**32)
    return s
