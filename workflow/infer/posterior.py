"""The posterior of a recording: the equal-weight mixture of the k fold posteriors, window by window.

**Fold mixture.** Each fold k was trained on every fold but its own; its posterior
q_k(theta | x) is sbi's: the flow's draws on the learned scale (log for
``inference.log_targets``), kept only inside the support (each target's bounds under the prior,
stored with the model), pushed back to target units. The reported posterior is
``(1/k) sum_k q_k(theta | x)``, sampled stratified: of N draws, each fold gives N // k or
N // k + 1 (the extra ones go to randomly chosen folds), and the draws are then shuffled, so any
leading part of them is itself an equal-weight mixture sample. Base draws come from the
``infer`` streams (:mod:`workflow.infer.streams`), never from torch's global generator.

**Windows.** A recording longer than a campaign trace is cut into campaign-length windows
(:mod:`workflow.infer.traces`); each window gets its own posterior (stored), and the recording's
posterior is their **equal-weight mixture**: each of its N draws comes from one window's
draws, N // W or N // W + 1 per window. This is the posterior of "a campaign-length stretch of
this recording, taken at random": it does not sharpen as the recording gets longer (it would
if the windows were multiplied together as independent observations of one parameter set,
which a recording's windows are not: the network's state drifts and the windows share its
slow fluctuations, and NPE posteriors cannot be multiplied without dividing out the prior,
which is not available in closed form here). When the windows disagree, the mixture is wider
than any one of them, which is what a user should see.
"""

from __future__ import annotations

import weakref

import numpy as np
import pandas as pd
import torch

from workflow.infer.campaign import Campaign
from workflow.infer.streams import Purpose, generator
from workflow.inference.flowsampling import fixed_noise_sampler
from workflow.inference.npe import FoldModel

#: base draws pushed through a flow per rejection round, as a multiple of the draws still needed
OVERSAMPLE = 1.25

#: most rejection rounds; a window whose draws still fall short is clamped into the support
MAX_ROUNDS = 50

#: quantile levels reported in the summary (5 %, 25 %, 50 %, 75 %, 95 %)
LEVELS: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)

#: columns of the summary table, in order
SUMMARY_COLUMNS: tuple[str, ...] = (
    "recording", "path", "target", "mean", "median", "q5", "q95", "iqr",
    "misspecified", "score", "p_value", "fpr", "n_windows",
)  # fmt: skip


def stratified_counts(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` split over ``k`` parts as evenly as possible; the ``n mod k`` extra ones go to random parts."""
    counts = np.full(k, n // k, dtype=np.int64)
    counts[rng.choice(k, n % k, replace=False)] += 1
    return counts


_SAMPLERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _sampler(model: FoldModel):
    """The fixed-noise sampler of a fold's flow, built once per flow."""
    if model.net not in _SAMPLERS:
        _SAMPLERS[model.net] = fixed_noise_sampler(model.net)
    return _SAMPLERS[model.net]


@torch.no_grad()
def fold_draws(model: FoldModel, x: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """``n`` draws of one fold's posterior at one x, inside the support, in target units.

    Base draws are standard normal from ``rng``, pushed through the flow
    (:func:`workflow.inference.flowsampling.fixed_noise_sampler`) and kept where every target
    lies inside the support on the learned scale, round after round, as sbi's rejection does.
    After :data:`MAX_ROUNDS` rounds the missing draws are the last round's, clamped into the
    support (reported through the accepted fraction).

    Args:
        model: one fold.
        x: (22,) raw features.
        n: draws wanted.
        rng: the stream of this window and fold.

    Returns:
        ``(draws (n, T) in target units, accepted fraction of the base draws)``.
    """
    if n == 0:
        return np.empty((0, len(model.low))), 1.0
    sample = _sampler(model)
    x_std = model.standardise(np.asarray(x, dtype=np.float64)[None, :])
    lo, hi = model.learned_low, model.learned_high
    kept: list[np.ndarray] = []
    have = tried = 0
    u = np.empty((0, len(lo)))
    for _ in range(MAX_ROUNDS):
        m = max(16, int(np.ceil(OVERSAMPLE * (n - have) / max(have / tried, 0.05) if tried else OVERSAMPLE * n)))
        z = torch.as_tensor(rng.standard_normal((m, len(lo))), dtype=torch.float32)
        u = sample(x_std, z)[0].numpy().astype(np.float64)
        ok = np.all((u >= lo) & (u <= hi), axis=1)
        tried += m
        kept.append(u[ok])
        have += int(ok.sum())
        if have >= n:
            break
    accepted = have / tried
    out = np.concatenate(kept)[:n]
    if len(out) < n:
        extra = np.clip(u[: n - len(out)], lo, hi)
        out = np.concatenate([out, extra])
    return model.scale.to_targets(out), float(accepted)


def window_draws(
    campaign: Campaign, features: np.ndarray, n_draws: int, digest: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior draws of every window of one recording: the fold mixture (module docstring).

    Args:
        campaign: the trained campaign.
        features: (W, 22) catch22 features of the recording's windows.
        n_draws: draws per window.
        digest: the recording's digest (:func:`workflow.infer.streams.recording_digest`).

    Returns:
        ``(draws (W, n_draws, T) in target units, accepted fraction (W, k))``.
    """
    n_win, k = len(features), len(campaign.folds)
    out = np.empty((n_win, n_draws, len(campaign.low)))
    accepted = np.empty((n_win, k))
    for w in range(n_win):
        mix = generator(campaign.seed, Purpose.DRAWS, *digest, w, 0)
        counts = stratified_counts(n_draws, k, mix)
        parts = []
        for j, (fold, model) in enumerate(zip(campaign.fold_ids, campaign.folds, strict=True)):
            rng = generator(campaign.seed, Purpose.DRAWS, *digest, w, fold + 1)
            d, accepted[w, j] = fold_draws(model, features[w], int(counts[j]), rng)
            parts.append(d)
        draws = np.concatenate(parts)
        out[w] = draws[mix.permutation(n_draws)]
    return out, accepted


def combine_windows(draws: np.ndarray, n_draws: int, digest: tuple[int, int], seed: int) -> np.ndarray:
    """The recording's posterior: the equal-weight mixture of its windows' (module docstring).

    Args:
        draws: (W, N_w, T) shuffled draws of each window (:func:`window_draws`).
        n_draws: draws of the combined posterior (at most W * N_w).
        digest: the recording's digest.
        seed: the inference seed.

    Returns:
        (n_draws, T) shuffled draws.
    """
    rng = generator(seed, Purpose.COMBINE, *digest)
    n_win = draws.shape[0]
    counts = stratified_counts(n_draws, n_win, rng)
    pooled = np.concatenate([draws[w, : counts[w]] for w in range(n_win)])
    return pooled[rng.permutation(len(pooled))]


def summarise(draws: np.ndarray) -> dict[str, np.ndarray]:
    """Mean, median, 5 % and 95 % quantiles and IQR (75 % minus 25 %) per target of (N, T) draws."""
    q = np.quantile(draws, LEVELS, axis=0)
    return {"mean": draws.mean(0), "median": q[2], "q5": q[0], "q95": q[4], "iqr": q[3] - q[1]}


def summary_table(
    names: list[str],
    paths: list[str],
    draws: np.ndarray,
    target_names: tuple[str, ...],
    misspecified: np.ndarray,
    score: np.ndarray,
    p_value: np.ndarray,
    fpr: float,
    n_windows: np.ndarray,
) -> pd.DataFrame:
    """One row per recording and target (:data:`SUMMARY_COLUMNS`), in target units."""
    rows = []
    for r, name in enumerate(names):
        s = summarise(draws[r])
        for t, target in enumerate(target_names):
            rows.append({
                "recording": name,
                "path": paths[r],
                "target": target,
                **{k: float(v[t]) for k, v in s.items()},
                "misspecified": bool(misspecified[r]),
                "score": float(score[r]),
                "p_value": float(p_value[r]),
                "fpr": float(fpr),
                "n_windows": int(n_windows[r]),
            })  # fmt: skip
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
