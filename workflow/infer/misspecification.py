"""Is a recording's feature vector where the simulator goes? A calibrated out-of-distribution score.

**Score.** The distance from x to its k-th nearest training row, in the whitened feature space:
features are z-scored with the reference rows' means and standard deviations, then rotated onto
the principal axes of the reference rows and scaled to unit variance along each (so a
direction along which the simulator barely varies counts as much as one along which it varies
a lot, as in the Mahalanobis distance). The k-th-nearest-neighbour distance as an
out-of-distribution score is that of Sun, Ming, Zhu & Li (2022), "Out-of-distribution
detection with deep nearest neighbors", ICML, PMLR 162:20827-20840 (arXiv:2204.06507); unlike
the Mahalanobis distance to the mean it assumes no Gaussian shape, so it follows a campaign
whose features form several clusters (asynchronous and oscillatory regimes).

**Threshold.** Split-conformal calibration (Bates, Candes, Lei, Romano & Sesia (2023), "Testing
for outliers with conformal p-values", Ann. Statist. 51(1):149-178, arXiv:2104.08279): the
training rows are split at random into reference rows and calibration rows; the calibration
rows' scores against the reference rows give the conformal p-value
``p(x) = (1 + #{calibration scores >= s(x)}) / (n_cal + 1)`` and x is flagged when
``p(x) <= fpr``, i.e. when its score exceeds the ``ceil((n_cal + 1)(1 - fpr))``-th smallest
calibration score. For an x drawn like the training rows the chance of a flag is at most
``fpr`` (and at least ``fpr - 1/(n_cal + 1)``), whatever the feature distribution.

**Why not sbi's tools.** sbi 0.27 has two (:mod:`sbi.diagnostics.misspecification`):

* ``calc_misspecification_mmd`` is an MMD two-sample test (RBF kernel, median-heuristic
  bandwidth) whose permutation null is recomputed at every call, with O(max_samples^2) kernel
  evaluations per permutation: on 600 training rows with 200 permutations it took 6 s per
  x on 2 cores (its defaults, 1000 rows and 1000 permutations, cost about ten times more), per
  window of every recording; its permutations draw from torch's global generator
  (``torch.randperm`` without a generator); it works in the raw feature space, where the
  catch22 features' scales differ by three orders of magnitude. On the stand-in features of
  the tests, z-scored first, it flagged white noise and a sine too (p = 0).
* ``calc_misspecification_logprob`` needs a trained unconditional density estimator of x (a
  torch flow and a classifier two-sample check), which is not storable as plain arrays.

The model (:class:`MisspecificationModel`) is plain arrays and numbers, stored as JSON.

The random split draws from the inference stream ``Stream.MISSPECIFICATION`` of the root seed
(:func:`split_rng`, :mod:`workflow.seeds`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
from scipy.spatial import distance

from workflow.contract import FEATURE_NAMES
from workflow.seeds import Stream, rng

#: format tag of the JSON form
FORMAT = "knn-conformal-ood/1"


def split_rng(seed: int) -> np.random.Generator:
    """The generator of the reference/calibration split (:attr:`workflow.seeds.Stream.MISSPECIFICATION`).

    Raises:
        ValueError: if ``seed`` is negative.
    """
    return rng(seed, Stream.MISSPECIFICATION)


@dataclasses.dataclass(frozen=True, eq=False)
class MisspecificationModel:
    """What :func:`score` needs: the whitening, the reference rows and the calibrated threshold.

    Attributes:
        mean: per-feature mean of the reference rows (feature units), shape (d,).
        scale: per-feature standard deviation of the reference rows (1 where it is 0), shape (d,).
        whitening: (d, d) map from z-scored features to the whitened space.
        reference: reference rows in the whitened space, shape (n_ref, d).
        calibration_scores: the calibration rows' scores, sorted ascending, shape (n_cal,).
        k: which neighbour's distance is the score.
        fpr: the chance of flagging an x drawn like the training rows (upper bound).
        threshold: scores above it are flagged (dimensionless, whitened units).
        seed: root seed of the split.
        feature_names: column names, in order.

    Raises:
        ValueError: naming the attribute with a wrong shape or value.
    """

    mean: np.ndarray
    scale: np.ndarray
    whitening: np.ndarray
    reference: np.ndarray
    calibration_scores: np.ndarray
    k: int
    fpr: float
    threshold: float
    seed: int
    feature_names: tuple[str, ...] = FEATURE_NAMES

    def __post_init__(self) -> None:
        d = len(self.feature_names)
        for name, shape in (
            ("mean", (d,)),
            ("scale", (d,)),
            ("whitening", (d, d)),
            ("reference", (None, d)),
            ("calibration_scores", (None,)),
        ):
            a = np.asarray(getattr(self, name), dtype=np.float64)
            if a.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, a.shape, strict=True)):
                raise ValueError(f"{name} must have shape {shape} (None: any), got {a.shape}")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{name} must be finite")
            object.__setattr__(self, name, a)
        if not np.all(self.scale > 0):
            raise ValueError("scale must be positive")
        if not 1 <= self.k <= self.reference.shape[0]:
            raise ValueError(f"k must lie in [1, {self.reference.shape[0]}] (reference rows), got {self.k}")
        if not 0 < self.fpr < 1:
            raise ValueError(f"fpr must lie in (0, 1), got {self.fpr}")
        if not np.all(np.diff(self.calibration_scores) >= 0):
            raise ValueError("calibration_scores must be sorted ascending")
        if self.threshold != conformal_threshold(self.calibration_scores, self.fpr):
            raise ValueError("threshold does not match calibration_scores and fpr")
        object.__setattr__(self, "feature_names", tuple(self.feature_names))

    def whiten(self, x: np.ndarray) -> np.ndarray:
        """Features (m, d) in feature units -> the whitened space (row by row: no BLAS, so a row's
        result does not depend on the other rows)."""
        return _whiten(x, self.mean, self.scale, self.whitening)

    def to_dict(self) -> dict:
        """A JSON-serialisable form (arrays as nested lists); :meth:`from_dict` inverts it exactly."""
        out: dict = {"format": FORMAT}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.tolist() if isinstance(v, np.ndarray) else list(v) if isinstance(v, tuple) else v
        return out

    @classmethod
    def from_dict(cls, d: dict) -> MisspecificationModel:
        """Rebuild from :meth:`to_dict`'s output.

        Raises:
            ValueError: naming the missing key or a wrong ``format``.
        """
        if d.get("format") != FORMAT:
            raise ValueError(f"format must be {FORMAT!r}, got {d.get('format')!r}")
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [n for n in names if n not in d]
        if missing:
            raise ValueError(f"misspecification model lacks the keys {missing}")
        kw = {n: d[n] for n in names}
        kw["feature_names"] = tuple(kw["feature_names"])
        return cls(**kw)

    def save(self, path: str | Path) -> Path:
        """Write the JSON form to ``path``."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict()))
        return path

    @classmethod
    def load(cls, path: str | Path) -> MisspecificationModel:
        """Read a model written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))


def conformal_threshold(calibration_scores: np.ndarray, fpr: float) -> float:
    """The ``ceil((n + 1)(1 - fpr))``-th smallest of ``n`` calibration scores (Bates et al. 2023).

    Raises:
        ValueError: naming ``fpr`` when ``n < (1 - fpr) / fpr``, too few scores for that rate.
    """
    s = np.sort(np.asarray(calibration_scores, dtype=np.float64))
    n = s.size
    j = math.ceil((n + 1) * (1.0 - fpr) - 1e-9)
    if j > n:
        raise ValueError(
            f"fpr={fpr} needs at least {math.ceil((1.0 - fpr) / fpr - 1e-9)} calibration rows, got {n}; "
            "give more training rows, a larger calibration_fraction or a larger fpr"
        )
    return float(s[max(j, 1) - 1])


def _knn_distance(reference: np.ndarray, queries: np.ndarray, k: int, max_elements: int = 8_000_000) -> np.ndarray:
    """Euclidean distance from each query row to its k-th nearest reference row.

    :func:`scipy.spatial.distance.cdist` computes each pair on its own (no ``|a|^2 + |b|^2 - 2ab``
    expansion, no BLAS), so a row's score does not depend on which other rows are scored with it;
    ``max_elements`` bounds the memory of a chunk of the distance matrix.
    """
    chunk = max(1, max_elements // reference.shape[0])
    out = np.empty(queries.shape[0])
    for start in range(0, queries.shape[0], chunk):
        d = distance.cdist(queries[start : start + chunk], reference)
        out[start : start + chunk] = np.partition(d, k - 1, axis=1)[:, k - 1]
    return out


def _whiten(x: np.ndarray, mean: np.ndarray, scale: np.ndarray, whitening: np.ndarray) -> np.ndarray:
    z = (np.atleast_2d(np.asarray(x, dtype=np.float64)) - mean) / scale
    return (z[:, :, None] * whitening[None, :, :]).sum(axis=1)


def _whitening(z: np.ndarray, floor: float = 1e-8) -> np.ndarray:
    """(d, d) PCA whitening of z-scored rows: eigenvectors scaled by 1/sqrt(eigenvalue), floored."""
    cov = np.cov(z, rowvar=False)
    w, v = np.linalg.eigh(cov)
    w = np.maximum(w, floor * max(float(w.max()), 1.0))
    return v / np.sqrt(w)


def fit(
    train_features: np.ndarray,
    seed: int,
    fpr: float,
    *,
    k: int = 10,
    calibration_fraction: float = 0.25,
    max_reference: int = 10_000,
    max_calibration: int = 5_000,
) -> MisspecificationModel:
    """Fit the score on the campaign's training features and calibrate its threshold.

    Args:
        train_features: (n, 22) catch22 features of valid training samples, columns in
            :data:`~workflow.contract.FEATURE_NAMES` order, all finite.
        seed: root seed of the random split (:func:`split_rng`).
        fpr: wanted false-positive rate in (0, 1): the chance that an x drawn like the training
            rows is flagged (at most ``fpr``, at least ``fpr - 1/(n_cal + 1)``).
        k: the neighbour whose distance is the score.
        calibration_fraction: share of the rows held out for calibration, in (0, 1).
        max_reference: most reference rows kept (a random subset; bounds the model's size and
            the cost of a score).
        max_calibration: most calibration rows scored.

    Returns:
        The fitted, calibrated model.

    Raises:
        ValueError: naming the bad argument: ``train_features`` not (n, 22), non-finite or too
            few rows for ``k`` and ``fpr``; ``fpr``, ``k``, ``calibration_fraction``,
            ``max_reference`` or ``max_calibration`` out of range.
    """
    x = np.asarray(train_features, dtype=np.float64)
    d = len(FEATURE_NAMES)
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"train_features must have shape (n, {d}), got {x.shape}")
    bad = ~np.all(np.isfinite(x), axis=1)
    if bad.any():
        raise ValueError(f"train_features has {int(bad.sum())} rows with NaN or inf (first: row {int(np.argmax(bad))})")
    if not 0 < fpr < 1:
        raise ValueError(f"fpr must lie in (0, 1), got {fpr}")
    if not 0 < calibration_fraction < 1:
        raise ValueError(f"calibration_fraction must lie in (0, 1), got {calibration_fraction}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if max_reference < k:
        raise ValueError(f"max_reference must be >= k={k}, got {max_reference}")
    n_cal_needed = math.ceil((1.0 - fpr) / fpr - 1e-9)
    if max_calibration < n_cal_needed:
        raise ValueError(f"max_calibration must be >= {n_cal_needed} for fpr={fpr}, got {max_calibration}")
    n = x.shape[0]
    n_cal = min(int(round(calibration_fraction * n)), max_calibration)
    if n_cal < n_cal_needed or n - n_cal < max(k, d + 1):
        raise ValueError(
            f"train_features has {n} rows: {n_cal} calibration rows (calibration_fraction={calibration_fraction}) "
            f"and {n - n_cal} reference rows; fpr={fpr} needs >= {n_cal_needed} calibration rows and k={k} "
            f"needs >= {max(k, d + 1)} reference rows"
        )
    perm = split_rng(seed).permutation(n)
    cal_rows = x[perm[:n_cal]]
    ref_rows = x[perm[n_cal:][:max_reference]]
    mean = ref_rows.mean(axis=0)
    sd = ref_rows.std(axis=0)
    scale = np.where(sd > 0, sd, 1.0)
    whitening = _whitening((ref_rows - mean) / scale)
    reference = _whiten(ref_rows, mean, scale, whitening)
    cal_scores = np.sort(_knn_distance(reference, _whiten(cal_rows, mean, scale, whitening), k))
    return MisspecificationModel(
        mean=mean,
        scale=scale,
        whitening=whitening,
        reference=reference,
        calibration_scores=cal_scores,
        k=int(k),
        fpr=float(fpr),
        threshold=conformal_threshold(cal_scores, fpr),
        seed=int(seed),
    )


def _check_x(model: MisspecificationModel, x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    d = len(model.feature_names)
    if a.ndim not in (1, 2) or a.shape[-1] != d:
        raise ValueError(f"x must have shape ({d},) or (m, {d}), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("x has NaN or inf features; the score needs finite catch22 features")
    return a


def scores(model: MisspecificationModel, x: np.ndarray) -> np.ndarray:
    """Scores of many feature vectors.

    Args:
        model: from :func:`fit`.
        x: (m, 22) or (22,) features in feature units.

    Returns:
        (m,) k-th-nearest-neighbour distances in the whitened space (dimensionless).

    Raises:
        ValueError: naming ``x`` for a wrong shape or non-finite values.
    """
    a = np.atleast_2d(_check_x(model, x))
    return _knn_distance(model.reference, model.whiten(a), model.k)


def score(model: MisspecificationModel, x: np.ndarray) -> tuple[float, bool]:
    """The out-of-distribution score of one feature vector and whether it is flagged.

    Args:
        model: from :func:`fit`.
        x: (22,) catch22 features of one recording window, in feature units.

    Returns:
        ``(score, flagged)``: the k-th-nearest-neighbour distance in the whitened space
        (dimensionless) and ``score > model.threshold`` (the conformal p-value is at most ``fpr``).

    Raises:
        ValueError: naming ``x`` for a wrong shape or non-finite values.
    """
    a = _check_x(model, x)
    if a.ndim != 1:
        raise ValueError(f"x must be one feature vector of shape ({len(model.feature_names)},), got {a.shape}")
    s = float(scores(model, a)[0])
    return s, s > model.threshold


def p_value(model: MisspecificationModel, x: np.ndarray) -> np.ndarray:
    """Conformal p-values ``(1 + #{calibration scores >= s}) / (n_cal + 1)`` of (m, 22) or (22,) features.

    ``p <= model.fpr`` exactly when :func:`score` flags x.
    """
    s = scores(model, x)
    cal = model.calibration_scores
    n_ge = cal.size - np.searchsorted(cal, s, side="left")
    return (1.0 + n_ge) / (cal.size + 1.0)
