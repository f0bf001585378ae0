"""The misspecification check of ``infer``: the kNN score, calibrated cross-conformally over the campaign's folds.

**Score** (as :mod:`workflow.infer.misspecification`): the distance from a feature vector x to
its k-th nearest reference row in the whitened feature space (z-scored with the reference
rows' means and SDs, rotated onto their principal axes and scaled to unit variance along
each); Sun, Ming, Zhu & Li (2022), ICML, arXiv:2204.06507.

**Calibration: cross-conformal over the campaign's folds** (Vovk (2015), "Cross-conformal
predictors", Ann. Math. Artif. Intell. 74:9-28; Barber, Candes, Ramdas & Tibshirani (2021),
"Predictive inference with the jackknife+", Ann. Statist. 49(1):486-507, whose CV+ it is).
Fold j's score is fitted (whitening and reference rows) on the training rows of the campaign's
fold j, exactly the rows fold j's posterior was trained on, and its calibration scores are
those of fold j's test rows. A new x is scored by every fold, and its p-value counts the
test rows of each fold that score at least as high there::

    p(x) = (1 + sum_j #{i in test_j : s_j(x_i) >= s_j(x)}) / (n + 1)

x is flagged when ``p(x) <= fpr``. Every valid row of the campaign calibrates (n of them, not
the quarter a split would hold out), and every fold's reference holds (k - 1)/k of them. For
an x drawn like the campaign's rows, the chance of a flag is close to ``fpr`` (measured: the
held-out false-positive rate in the tests and the benchmark) and at most ``2 fpr`` whatever
the distribution (the CV+ bound). Why not the split of :func:`workflow.infer.misspecification.fit`:
on a campaign of a hundred-odd rows it calibrates on a few dozen, so the smallest rate it can
test is a few per cent and its threshold is the largest of a few dozen scores; in the tests'
tiny campaign that put white noise at p = 0.09 where the cross-conformal p is 0.03.

The reported **score** of x is the mean over folds of its k-th-neighbour distances (whitened
units, descriptive); the p-value is what is tested. Rows are subsampled at random (the
``MISSPECIFICATION`` inference stream of the seed, per fold) to at most ``max_reference``
reference rows and ``max_calibration`` calibration rows in all, which bounds the cost on a
campaign of millions of rows.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from workflow.contract import FEATURE_NAMES
from workflow.infer.misspecification import _knn_distance, _whiten, _whitening
from workflow.seeds import Stream, rng

#: the neighbour whose distance is the score
K_NEIGHBOUR = 10

#: most reference rows per fold
MAX_REFERENCE = 10_000

#: most calibration rows, over all folds
MAX_CALIBRATION = 10_000


@dataclasses.dataclass(frozen=True, eq=False)
class FoldScore:
    """One fold's score: its whitening, its whitened reference rows and its test rows' scores.

    Attributes:
        mean, scale: (d,) z-scoring of the fold's training rows (scale 1 where their SD is 0).
        whitening: (d, d) map from z-scored features to the whitened space.
        reference: (n_ref, d) the fold's training rows, whitened.
        calibration_scores: (n_cal,) the fold's test rows' scores, sorted ascending.
    """

    mean: np.ndarray
    scale: np.ndarray
    whitening: np.ndarray
    reference: np.ndarray
    calibration_scores: np.ndarray

    def scores(self, x: np.ndarray, k: int) -> np.ndarray:
        """k-th-nearest-neighbour distances (m,) of features (m, d) to the fold's reference rows."""
        return _knn_distance(self.reference, _whiten(x, self.mean, self.scale, self.whitening), k)

    def n_at_least(self, s: np.ndarray) -> np.ndarray:
        """How many calibration scores are >= each of ``s`` (m,)."""
        return self.calibration_scores.size - np.searchsorted(self.calibration_scores, s, side="left")


@dataclasses.dataclass(frozen=True, eq=False)
class CrossConformal:
    """The cross-conformal misspecification check (module docstring).

    Attributes:
        folds: one :class:`FoldScore` per campaign fold.
        k: the neighbour whose distance is the score.
        fpr: flag when the p-value is at most this.
        seed: the root seed of the subsampling.
    """

    folds: tuple[FoldScore, ...]
    k: int
    fpr: float
    seed: int

    @property
    def n_calibration(self) -> int:
        """Calibration rows in all."""
        return sum(f.calibration_scores.size for f in self.folds)

    def evaluate(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores and p-values of feature vectors.

        Args:
            x: (m, 22) or (22,) catch22 features in feature units, finite.

        Returns:
            ``(score (m,), p_value (m,))``: the mean over folds of the k-th-neighbour distance
            (whitened units) and the cross-conformal p-value.

        Raises:
            ValueError: naming ``x`` for a wrong shape or non-finite values.
        """
        a = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if a.ndim != 2 or a.shape[1] != len(FEATURE_NAMES):
            raise ValueError(f"x must have shape (22,) or (m, 22), got {np.shape(x)}")
        if not np.all(np.isfinite(a)):
            raise ValueError("x has NaN or inf features; the score needs finite catch22 features")
        per_fold = [f.scores(a, self.k) for f in self.folds]
        n_ge = sum(f.n_at_least(s) for f, s in zip(self.folds, per_fold, strict=True))
        return np.mean(per_fold, axis=0), (1.0 + n_ge) / (self.n_calibration + 1.0)


def smallest_fpr(n_rows: int) -> float:
    """The smallest p-value, and so the smallest testable rate, with ``n_rows`` calibration rows."""
    return 1.0 / (min(n_rows, MAX_CALIBRATION) + 1.0)


def fit(
    features: np.ndarray,
    fold: np.ndarray,
    seed: int,
    fpr: float,
    *,
    k: int = K_NEIGHBOUR,
    max_reference: int = MAX_REFERENCE,
    max_calibration: int = MAX_CALIBRATION,
) -> CrossConformal:
    """Fit every fold's score on its training rows and calibrate it on its test rows.

    Args:
        features: (n, 22) the campaign's valid rows, finite.
        fold: (n,) each row's fold (the campaign's assignment, ``data.h5``'s ``fold``).
        seed: the inference seed (subsampling: ``Stream.MISSPECIFICATION``, per fold).
        fpr: flag when the p-value is at most this, in [1/(n+1), 1).
        k: the neighbour whose distance is the score.
        max_reference: most reference rows per fold.
        max_calibration: most calibration rows in all (split over the folds by their sizes).

    Raises:
        ValueError: naming the argument: bad shapes, non-finite rows, fewer than 2 folds, a fold
            whose training rows are too few for ``k`` and the whitening, or an ``fpr`` below the
            smallest p-value the calibration rows allow.
    """
    x = np.asarray(features, dtype=np.float64)
    f = np.asarray(fold, dtype=np.int64)
    d = len(FEATURE_NAMES)
    if x.ndim != 2 or x.shape[1] != d or f.shape != (len(x),):
        raise ValueError(f"features must be (n, {d}) with one fold each, got {x.shape} and {f.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("features has rows with NaN or inf")
    ids = np.unique(f)
    if len(ids) < 2:
        raise ValueError(f"fold must hold at least 2 folds, got {ids.tolist()}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n_cal = min(len(x), max_calibration)
    if not 1.0 / (n_cal + 1.0) <= fpr < 1:
        raise ValueError(
            f"fpr must lie in [1/(n_cal + 1), 1) = [{1.0 / (n_cal + 1.0):.4g}, 1) with {n_cal} calibration rows, "
            f"got {fpr}"
        )
    out = []
    for j in ids:
        gen = rng(seed, Stream.MISSPECIFICATION, int(j))
        train, test = np.flatnonzero(f != j), np.flatnonzero(f == j)
        train = np.sort(gen.permutation(train)[:max_reference])
        test = np.sort(gen.permutation(test)[: max(1, math.floor(max_calibration * len(test) / len(x)))])
        if len(train) < max(k, d + 1):
            raise ValueError(
                f"fold {j} has {len(train)} training rows; k={k} and the whitening need >= {max(k, d + 1)}"
            )
        ref = x[train]
        mean = ref.mean(0)
        sd = ref.std(0)
        scale = np.where(sd > 0, sd, 1.0)
        w = _whitening((ref - mean) / scale)
        fs = FoldScore(mean, scale, w, _whiten(ref, mean, scale, w), np.empty(0))
        cal = np.sort(fs.scores(x[test], k))
        out.append(dataclasses.replace(fs, calibration_scores=cal))
    return CrossConformal(folds=tuple(out), k=int(k), fpr=float(fpr), seed=int(seed))


def combine_windows(p_values: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """A recording's p-value and score from its W windows': flagged when at least half of them are.

    The recording's p-value is the ``ceil(W / 2)``-th smallest of its windows' (so it is at most
    ``fpr`` exactly when at least ``ceil(W / 2)`` windows are flagged); its score is the
    ``ceil(W / 2)``-th largest window score. For a recording whose windows are each drawn like
    the campaign's rows, each window is flagged with probability at most ``a`` (about ``fpr``),
    so the recording is flagged with probability at most ``a`` for W = 1 and at most ``2 a``
    for any W (Markov's inequality on the number of flagged windows, whatever their dependence).
    """
    p = np.sort(np.asarray(p_values, dtype=np.float64))
    s = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    if p.size == 0 or p.size != s.size:
        raise ValueError("p_values and scores must be non-empty and of equal length")
    i = math.ceil(p.size / 2) - 1
    return float(p[i]), float(s[i])
