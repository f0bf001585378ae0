"""A posterior predictive check: simulate posterior draws, compare features and spectra with the recording.

**From target draws to parameter sets.** The posterior is over the four targets ([E/I]_net,
tau_syn_E, tau_syn_I, J_ext); the simulator needs the seven parameters. tau_syn_E, tau_syn_I
and J_ext are parameters themselves. The four weights enter the targets only through
``[E/I]_net = (J_EE / J_EI) / (J_IE / J_II)``, so a target draw leaves them free along a
3-dimensional set; they are drawn from the **prior conditioned on the draw's [E/I]_net**
(:func:`parameters_for_targets`): :data:`CANDIDATES` parameter sets from the campaign's
constrained prior, the :data:`NEIGHBOURS` whose [E/I]_net is nearest (in log) to the draw's,
each moved exactly onto it in log|weight| space (first J_EE and J_II both times ``sqrt(c)``,
``c`` the ratio of the two [E/I]_net values, which keeps the signs; other splits of the move if
that leaves the prior), and one of those still inside the prior's box and constraints taken at
random. This is nearest-neighbour conditioning of the prior, with a tolerance of a few parts in
10^4 in log [E/I]_net before the exact move; near the ends of [E/I]_net's range, where the prior
has almost no mass, see :func:`parameters_for_targets`. The check therefore tests the posterior
over the targets together with the prior's view of what the targets leave open.

**Simulation.** Each parameter set runs through the campaign's own sample machinery
(:func:`workflow.simulation.sample.run_sample` with the campaign's
:class:`~workflow.simulation.sample.SampleContext`: simulator, network scale, run length,
transient, kernels, LFP proxy, catch22, gates), one network seed per draw index from the
``infer`` stream ``PPC_NETWORK`` (:mod:`workflow.infer.streams`), and is written as a one-row
shard (with its LFP) by :func:`workflow.simulation.shards.write_shard`.

**Comparison.** Per feature: the recording's value (the median over its windows) against the
5-95 % band of the draws whose simulation gave finite features (the verdict: inside or not).
Spectrum: the Welch power spectral density of the z-scored traces (what catch22 sees: the
features are scale-free), the recording's averaged over its windows, against the draws' 5-95 %
band per frequency.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import h5py  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import signal  # noqa: E402

from workflow.contract import FEATURE_NAMES, PARAM_NAMES, TARGET_NAMES  # noqa: E402
from workflow.inference.dataset import compute_targets  # noqa: E402
from workflow.inference.plots import short  # noqa: E402
from workflow.inference.targetprior import TargetPrior, sample_params  # noqa: E402

#: constrained-prior parameter sets the weights are chosen from
CANDIDATES = 200_000

#: candidates nearest in log [E/I]_net considered per draw
NEIGHBOURS = 256

#: the band a recording's feature must lie in, as quantile levels of the predictive draws
BAND: tuple[float, float] = (0.05, 0.95)

#: columns of the verdict table, in order
VERDICT_COLUMNS: tuple[str, ...] = (
    "recording", "feature", "observed", "q5", "median", "q95", "inside", "n_draws", "n_finite",
)  # fmt: skip


class PPCError(ValueError):
    """The predictive check cannot be run; the message names the problem."""


def _with_ei(p: np.ndarray, want_log_ei: float, split: np.ndarray) -> np.ndarray:
    """Parameter sets (m, 7) moved onto ``log [E/I]_net = want`` in log|weight| space along ``split``.

    ``split`` (4,) weights the change of log J_EE, log J_IE, log|J_EI|, log|J_II|; it must have
    ``split . (1, -1, -1, 1) = 1``, so the move changes log [E/I]_net by exactly the gap.
    """
    out = p.copy()
    gap = want_log_ei - np.log(compute_targets(p, PARAM_NAMES)[:, 0])
    for w, name in zip(split, _WEIGHTS, strict=True):
        out[:, PARAM_NAMES.index(name)] *= np.exp(w * gap)
    return out


#: the four weights, in the order of a split
_WEIGHTS: tuple[str, ...] = ("J_EE", "J_IE", "J_EI", "J_II")

#: ways of moving a neighbour onto the wanted [E/I]_net (see :func:`_with_ei`), tried in turn
SPLITS: tuple[tuple[float, ...], ...] = (
    (0.5, 0.0, 0.0, 0.5),
    (0.25, -0.25, -0.25, 0.25),
    (0.0, -0.5, -0.5, 0.0),
    (1.0, 0.0, 0.0, 0.0),
    (0.0, 0.0, 0.0, 1.0),
    (0.0, -1.0, 0.0, 0.0),
    (0.0, 0.0, -1.0, 0.0),
)


def parameters_for_targets(
    targets: np.ndarray, target_prior: TargetPrior, seed: int, rng: np.random.Generator
) -> np.ndarray:
    """Seven-parameter sets, one per target draw, the weights from the prior conditioned on [E/I]_net.

    The module docstring says how: the :data:`NEIGHBOURS` constrained-prior draws nearest in
    log [E/I]_net, each moved exactly onto the draw's value in log|weight| space along the
    first of :data:`SPLITS` that keeps it inside the box and constraints, one taken at random.
    Near the ends of [E/I]_net's range, where the prior has almost no mass, none may fit; then
    the draw is placed on the straight line (in log|weight| space) from a random neighbour to the
    parameter set that attains the end of the range (:meth:`TargetPrior.bounds`), which lies
    inside the box and constraints because both ends do and both are linear in log|weight|.

    Args:
        targets: (K, 4) target draws in target units (:data:`~workflow.contract.TARGET_NAMES` order).
        target_prior: the campaign's target prior (its parameter prior and its bound search).
        seed: the inference seed (the bound search, as the models' support).
        rng: the predictive check's stream.

    Returns:
        (K, 7) parameters in :data:`~workflow.contract.PARAM_NAMES` order, inside the box and
        constraints, with the draw's [E/I]_net (to 1e-9) and its tau and J_ext (clipped into the box).

    Raises:
        PPCError: if a draw's [E/I]_net lies outside what the prior allows.
    """
    prior = target_prior.prior
    t = np.atleast_2d(np.asarray(targets, dtype=np.float64))
    cand = sample_params(prior, CANDIDATES, rng)
    log_ei = np.log(compute_targets(cand, PARAM_NAMES)[:, 0])
    order = np.argsort(log_ei)
    sorted_ei = log_ei[order]
    out = np.empty((len(t), len(PARAM_NAMES)))

    def feasible(p: np.ndarray) -> np.ndarray:
        return prior.accept(p) & np.all((p >= prior.low) & (p <= prior.high), axis=1)

    for i, row in enumerate(t):
        want = float(np.log(row[TARGET_NAMES.index("EI_net")]))
        pos = int(np.searchsorted(sorted_ei, want))
        lo, hi = max(0, pos - NEIGHBOURS), min(len(order), pos + NEIGHBOURS)
        near = order[lo:hi][np.argsort(np.abs(sorted_ei[lo:hi] - want))[:NEIGHBOURS]]
        chosen = None
        for split in SPLITS:
            moved = _with_ei(cand[near], want, np.asarray(split))
            ok = np.flatnonzero(feasible(moved))
            if ok.size:
                chosen = moved[rng.choice(ok)]
                break
        if chosen is None:
            bounds = target_prior.bounds(seed)
            # the support is the bounds widened by SUPPORT_PAD (workflow/inference/npe.py): clip onto them
            want = float(np.clip(want, np.log(bounds.low[0]), np.log(bounds.high[0])))
            end = bounds.params_high[0] if want > sorted_ei[pos - 1 if pos else 0] else bounds.params_low[0]
            end_ei = float(np.log(compute_targets(end[None, :], PARAM_NAMES)[0, 0]))
            start = cand[rng.choice(near)]
            start_ei = float(np.log(compute_targets(start[None, :], PARAM_NAMES)[0, 0]))
            if not min(start_ei, end_ei) <= want <= max(start_ei, end_ei) or end_ei == start_ei:
                raise PPCError(
                    f"[E/I]_net = {row[0]:.6g}: no parameter set of the prior found with it (prior's range "
                    f"[{bounds.low[0]:.6g}, {bounds.high[0]:.6g}])"
                )
            f = (want - start_ei) / (end_ei - start_ei)
            chosen = np.sign(start) * np.exp((1 - f) * np.log(np.abs(start)) + f * np.log(np.abs(end)))
        for name in ("tau_syn_E", "tau_syn_I", "J_ext"):
            chosen[PARAM_NAMES.index(name)] = np.clip(row[TARGET_NAMES.index(name)], *prior.bounds[name])
        out[i] = chosen
    return out


def simulate_draw(
    cfg: Mapping,
    kernels_path: str | Path,
    params: np.ndarray,
    draw: int,
    network_root: int,
    out: str | Path,
):
    """Simulate one parameter set with the campaign's sample machinery and write it as a one-row shard.

    Args:
        cfg: the campaign's validated config.
        kernels_path: the campaign's ``kernels.h5``.
        params: (7,) parameters.
        draw: the draw's index (its network seed is ``network_seed(network_root, draw)``).
        network_root: :func:`workflow.infer.streams.ppc_network_root` of the inference seed.
        out: the shard written (contract layout, with its LFP).

    Returns:
        The :class:`workflow.simulation.sample.SampleResult`.
    """
    import dataclasses

    from workflow import h5io
    from workflow.config import simulation_config
    from workflow.simulation.kernels import read_kernels
    from workflow.simulation.sample import SampleContext, run_sample
    from workflow.simulation.shards import write_shard

    kernels, kattrs = read_kernels(kernels_path)
    ctx = dataclasses.replace(SampleContext.from_config(cfg, kernels, float(kattrs["dt_ms"])), seed=int(network_root))
    res = run_sample(int(draw), np.asarray(params, dtype=np.float64), ctx)
    attrs = h5io.provenance_attrs(
        simulation_config(cfg),
        ppc_draw=int(draw),
        network_root=int(network_root),
        simulator=ctx.simulator,
        n_vp=res.n_vp,
        kernels_file=str(kernels_path),
    )
    write_shard(out, [int(draw)], np.asarray(params)[None, :], [res], ctx, True, attrs)
    return res


def read_draw(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``(params (7,), features (22,), lfp (n,), status)`` of a shard written by :func:`simulate_draw`."""
    with h5py.File(path, "r") as fh:
        return fh["params"][0], fh["features"][0], fh["lfp"][0], int(fh["status"][0])


def psd(windows: np.ndarray, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density of z-scored traces (W, n): ``(frequencies (Hz), (W, n_freq) 1/Hz)``."""
    w = np.atleast_2d(np.asarray(windows, dtype=np.float64))
    z = (w - w.mean(1, keepdims=True)) / w.std(1, keepdims=True)
    return signal.welch(z, fs=fs_hz, nperseg=min(256, w.shape[1]), axis=1)


def compare(recording: str, observed: np.ndarray, simulated: np.ndarray) -> pd.DataFrame:
    """The verdict per feature: the recording's value inside the draws' 5-95 % band or not.

    Args:
        recording: its name.
        observed: (22,) the recording's features (median over its windows).
        simulated: (K, 22) the draws' features (NaN for a draw whose features are not finite).

    Returns:
        One row per feature (:data:`VERDICT_COLUMNS`); ``inside`` is False when no draw has
        finite features.
    """
    finite = np.all(np.isfinite(simulated), axis=1)
    ok = simulated[finite]
    rows = []
    for j, name in enumerate(FEATURE_NAMES):
        if len(ok):
            q5, q50, q95 = np.quantile(ok[:, j], (BAND[0], 0.5, BAND[1]))
        else:
            q5 = q50 = q95 = np.nan
        rows.append({
            "recording": recording,
            "feature": name,
            "observed": float(observed[j]),
            "q5": float(q5),
            "median": float(q50),
            "q95": float(q95),
            "inside": bool(len(ok) and q5 <= observed[j] <= q95),
            "n_draws": int(len(simulated)),
            "n_finite": int(finite.sum()),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=list(VERDICT_COLUMNS))


def plot_ppc(
    recording: str,
    verdict: pd.DataFrame,
    feature_scale: tuple[np.ndarray, np.ndarray],
    observed_windows: np.ndarray,
    simulated_traces: Sequence[np.ndarray],
    fs_hz: float,
    path: str | Path,
) -> None:
    """The check's figure: features (left) and power spectra (right).

    Args:
        recording: its name (title).
        verdict: :func:`compare`'s table.
        feature_scale: (mean, SD) of the campaign's training features: the left panel shows
            every feature in those units, so all 22 share one axis.
        observed_windows: (W, n) the recording's windows at the campaign's rate.
        simulated_traces: the draws' post-transient LFP traces with finite features.
        fs_hz: the campaign's LFP rate (Hz).
        path: the PNG written.
    """
    mean, sd = feature_scale
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 6.5), gridspec_kw={"width_ratios": [1.1, 1]})
    y = np.arange(len(FEATURE_NAMES))[::-1]
    z = lambda col: (verdict[col].to_numpy() - mean) / sd  # noqa: E731
    ax.hlines(y, z("q5"), z("q95"), color="tab:gray", lw=5, alpha=0.6, label="draws: 5-95 %")
    ax.plot(z("median"), y, "|", color="k", ms=10, label="draws: median")
    inside = verdict["inside"].to_numpy(bool)
    ax.plot(z("observed")[inside], y[inside], "o", color="tab:green", ms=5, label="recording: inside")
    ax.plot(z("observed")[~inside], y[~inside], "o", color="tab:red", ms=6, label="recording: outside")
    ax.set_yticks(y, [short(n) for n in FEATURE_NAMES], fontsize=7)
    ax.set_xlabel("feature, in SDs of the campaign's training features from their mean")
    n_in = int(inside.sum())
    n_fin = int(verdict["n_finite"].iloc[0])
    ax.set_title(f"catch22: {n_in} of {len(inside)} features inside the band ({n_fin} draws)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    f, p_obs = psd(observed_windows, fs_hz)
    if len(simulated_traces):
        _, p_sim = psd(np.stack(simulated_traces), fs_hz)
        lo, med, hi = np.quantile(p_sim, (BAND[0], 0.5, BAND[1]), axis=0)
        bx.fill_between(f[1:], lo[1:], hi[1:], color="tab:gray", alpha=0.4, label="draws: 5-95 %")
        bx.loglog(f[1:], med[1:], color="k", lw=1, label="draws: median")
    bx.loglog(f[1:], p_obs.mean(0)[1:], color="tab:red", lw=1.5, label="recording")
    bx.set_xlabel("frequency (Hz)")
    bx.set_ylabel("PSD of the z-scored trace (1/Hz)")
    bx.set_title("power spectrum (Welch)", fontsize=9)
    bx.legend(fontsize=7)
    fig.suptitle(f"{recording}: posterior predictive check", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
