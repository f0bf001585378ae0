"""The LFP proxy: population spike counts convolved with the lfpykernels kernels.

For each presynaptic population X the spike-count histogram (spikes per dt bin, rescaled to
the full-size population) is convolved, by FFT, with the summed kernel of its pathways
X->E + X->I (the kernels are per presynaptic spike, lag 0 at their centre). The pathways are
summed, decimated by ``decimate`` (zero-phase anti-aliasing, :func:`scipy.signal.decimate`) and
the transient is dropped. The operation is linear in the counts.

Pairing (config ``lfp.kernel_pairing``): ``correct`` convolves every kernel X->Y with the
counts of its presynaptic population X, as above. ``paper_2024`` reproduces the paper-era ncpi
code (2024), which convolved the cross-pathway kernels E->I and I->E with the counts of the
*postsynaptic* population (fixed in ncpi in 2026): E's counts then drive E->E + I->E and I's
counts I->I + E->I (:func:`count_kernels`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import signal

from workflow.contract import PATHWAYS, POPULATIONS, pathway_name


def presynaptic_kernels(kernels: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Sum the kernels per presynaptic population: H_X = H_{X->E} + H_{X->I}."""
    missing = [pathway_name(a, b) for a, b in PATHWAYS if pathway_name(a, b) not in kernels]
    if missing:
        raise KeyError(f"kernels lack the pathways {missing}")
    out = {}
    for pre in POPULATIONS:
        h = sum(np.asarray(kernels[pathway_name(pre, post)], dtype=np.float64) for post in POPULATIONS)
        if h.ndim != 1 or h.size % 2 != 1:
            raise ValueError(f"kernel of {pre} must be 1-D with odd length (lag 0 at the centre), got {h.shape}")
        out[pre] = h
    return out


#: values of ``lfp.kernel_pairing``
PAIRINGS: tuple[str, ...] = ("correct", "paper_2024")


def count_kernels(kernels: Mapping[str, np.ndarray], pairing: str) -> dict[str, np.ndarray]:
    """The kernel each population's spike counts are convolved with, under ``pairing``.

    ``correct``: :func:`presynaptic_kernels`. ``paper_2024``: H_X = H_{X->X} + H_{Y->X}, the
    kernels grouped by their postsynaptic population (module docstring).
    """
    if pairing == "correct":
        return presynaptic_kernels(kernels)
    if pairing != "paper_2024":
        raise ValueError(f"lfp.kernel_pairing must be one of {PAIRINGS}, got {pairing!r}")
    swapped = {pathway_name(post, pre): kernels[pathway_name(pre, post)] for pre, post in PATHWAYS}
    return presynaptic_kernels(swapped)


def lfp_proxy(
    counts: Mapping[str, np.ndarray],
    kernels_by_pre: Mapping[str, np.ndarray],
    count_factor: Mapping[str, float],
    dt_ms: float,
    transient_ms: float,
    decimate: int = 10,
) -> np.ndarray:
    """The current-dipole-moment proxy (nA um) after decimation, transient dropped.

    Parameters
    ----------
    counts
        Spikes per dt bin of each simulated population, shape (n_bins,).
    kernels_by_pre
        Summed kernel per presynaptic population (see :func:`presynaptic_kernels`), odd length,
        lag 0 at the centre, sampled at ``dt_ms``.
    count_factor
        N(full)/N(simulated) per population, so a scaled network drives full-size kernels.
    dt_ms, transient_ms
        Bin width and the initial time to drop (ms).
    decimate
        Integer decimation factor (1 = none).
    """
    n_bins = None
    total = None
    for pre in POPULATIONS:
        c = np.asarray(counts[pre], dtype=np.float64) * float(count_factor[pre])
        n_bins = c.size if n_bins is None else n_bins
        if c.size != n_bins:
            raise ValueError("all count histograms must have the same length")
        h = kernels_by_pre[pre]
        centre = h.size // 2
        full = signal.fftconvolve(c, h, mode="full")
        part = full[centre : centre + n_bins]
        total = part if total is None else total + part
    assert total is not None
    if decimate > 1:
        total = signal.decimate(total, decimate, ftype="iir", zero_phase=True)
    first = int(round(transient_ms / (dt_ms * decimate)))
    return np.ascontiguousarray(total[first:])
