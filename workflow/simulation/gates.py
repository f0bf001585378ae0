"""Validity gates: which simulated samples are valid (enter inference) and which runs stop early.

The config's ``gates.preset`` names one preset; its thresholds are the keys of
``gates.<preset>``, each documented with its reason and source in the config schema (where
its default lives). Every preset also applies two gates that no feature can do without:
``flat_lfp`` (no spike after the transient, or the LFP proxy's standard deviation at or below
``gates.lfp_min_std``) and ``nan_features`` (a catch22 feature not finite). ncpi computed the
dipole moment from post-transient spikes only (``analysis.py``, ``get_spike_rate`` bins from
the transient on), so a network silent after the transient had a constant one; this project's
proxy also carries the kernels' tail of transient spikes, hence the first test.

``paper_2024``
    The paper's dataset (Sandron et al. 2024), made with the 2024 ``ncpi`` code
    (necolab-ugr/ncpi on GitHub): ``examples/Hagen_model/simulation/preprocessing.py``
    (commit 4cf6fcd, 2024-08-26) drops a sample whose summed current dipole moment is constant
    (``np.std(cdm_sum) > 10 ** (-10)`` keeps it) and ``examples/Hagen_model/figures/sim_features.py``
    drops rows with a NaN feature. Nothing else: no rate gate and so no early stop, since any
    rate cap below the refractory limit would cut short samples that the paper kept.
``rate_window``
    This project's gates before issue 9: every population rate in
    [``min_rate_hz``, ``max_rate_hz``] (0.1 and 200 Hz), runs stopped above ``abort_rate_hz``.
``ncpi_2026``
    The gates of ``ncpi``'s later 10^6-sample script,
    ``examples/simulation/Hagen_model/simulation/massive_model_simulation.py`` (commit f5bcff6,
    2026-04-08; ``evaluate_validity`` and its constants), that a sample's rates and LFP proxy
    decide: E <= 20 Hz, I <= 40 Hz, 1.5 E <= I <= 10 E, a whole-run population rate <= 50 Hz
    (its ``python/simulation.py`` check before writing spikes), and specparam's fit of the
    proxy's Welch spectrum (R^2 >= 0.9, aperiodic exponent finite and >= 0, not more than two
    peaks within 90 % of the strongest when that one exceeds 0.4). Left out: the pairwise
    spike-train correlation and ISI gates (they need per-neuron spike times, which neither
    simulator backend records) and the 60 s wall-clock timeout (machine-dependent).

A sample failing several gates gets the :class:`~workflow.contract.Status` of the first in
:data:`GATE_ORDER`; its reason lists every failing gate as ``"name: detail"``, joined by ``"; "``
(:func:`reason_gates` parses it back).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from workflow.contract import POPULATIONS, Status

#: the presets (config ``gates.preset``)
PRESETS: tuple[str, ...] = ("paper_2024", "rate_window", "ncpi_2026")

#: every gate's name and the status it gives, in the order that decides a sample's status
GATE_ORDER: tuple[tuple[str, Status], ...] = (
    ("simulator_error", Status.SIMULATOR_ERROR),
    ("runaway", Status.RUNAWAY),
    ("silent", Status.SILENT),
    ("high_rate", Status.HIGH_RATE),
    ("run_rate_above_max", Status.HIGH_RATE),
    ("E_rate_above_max", Status.HIGH_RATE),
    ("I_rate_above_max", Status.HIGH_RATE),
    ("I_below_min_ratio_E", Status.EI_RATIO),
    ("I_above_max_ratio_E", Status.EI_RATIO),
    ("flat_lfp", Status.FLAT_LFP),
    ("nan_features", Status.NAN_FEATURES),
    ("specparam_fit_rejected", Status.SPECTRUM),
    ("non_finite_exponent", Status.SPECTRUM),
    ("negative_exponent", Status.SPECTRUM),
    ("too_many_strong_peaks", Status.SPECTRUM),
)
GATE_STATUS: dict[str, Status] = dict(GATE_ORDER)


@dataclasses.dataclass(frozen=True)
class SampleMeasures:
    """What the gates of a sample that ran to the end look at.

    ``rates_hz``: post-transient mean rate per neuron, :data:`~workflow.contract.POPULATIONS`
    order. ``run_rates_hz``: the same over the whole run, transient included. ``trace``: the
    LFP proxy (nA um) after the transient, sampled at ``fs_hz``. ``features``: its catch22
    values and ``features_reason`` catch22's reason (``""`` when all are finite).
    """

    rates_hz: np.ndarray
    run_rates_hz: np.ndarray
    trace: np.ndarray
    fs_hz: float
    features: np.ndarray
    features_reason: str = ""


def _fmt(rates: np.ndarray, digits: int = 2) -> str:
    return ", ".join(f"{p}={r:.{digits}f}" for p, r in zip(POPULATIONS, rates, strict=True)) + " Hz"


@dataclasses.dataclass(frozen=True)
class Gates:
    """One preset's gates, built from the validated config's ``gates`` section."""

    preset: str
    thresholds: Mapping[str, Any]
    lfp_min_std: float

    @classmethod
    def from_config(cls, gates_cfg: Mapping) -> Gates:
        """The preset named by ``gates_cfg["preset"]`` with its thresholds."""
        preset = gates_cfg["preset"]
        if preset not in PRESETS:
            raise ValueError(f"config key 'gates.preset': must be one of {PRESETS}, got {preset!r}")
        return cls(preset=preset, thresholds=dict(gates_cfg[preset]), lfp_min_std=float(gates_cfg["lfp_min_std"]))

    def __post_init__(self) -> None:
        t, key = self.thresholds, f"gates.{self.preset}"
        if self.lfp_min_std < 0:
            raise ValueError(f"config key 'gates.lfp_min_std': must be >= 0, got {self.lfp_min_std}")
        if self.preset == "paper_2024" and t["abort_rate_hz"] is not None:
            raise ValueError(f"config key '{key}.abort_rate_hz': the paper's dataset had no early stop; must be null")
        if self.preset == "rate_window" and not t["min_rate_hz"] < t["max_rate_hz"]:
            raise ValueError(f"config key '{key}.min_rate_hz': must be below {key}.max_rate_hz")
        if self.preset == "ncpi_2026":
            if not t["min_ratio_I_E"] <= t["max_ratio_I_E"]:
                raise ValueError(f"config key '{key}.min_ratio_I_E': must not exceed {key}.max_ratio_I_E")
            spec = t["spectrum"]
            if spec["enabled"]:
                lo, hi = spec["freq_range_hz"]
                if not lo < hi:
                    raise ValueError(f"config key '{key}.spectrum.freq_range_hz': must be [low, high] with low < high")
                w_lo, w_hi = spec["peak_width_limits_hz"]
                if not w_lo < w_hi:
                    raise ValueError(
                        f"config key '{key}.spectrum.peak_width_limits_hz': must be [low, high], low < high"
                    )
                try:
                    import specparam  # noqa: F401
                except ImportError:
                    raise ValueError(
                        f"config key '{key}.spectrum.enabled': the spectral gates need the specparam package "
                        "(pip install specparam==2.0.0rc7), or set it to false"
                    ) from None

    @property
    def abort_rate_hz(self) -> float | None:
        """Rate (Hz) above which a run is stopped early (RUNAWAY) within one chunk; None: never."""
        value = self.thresholds["abort_rate_hz"]
        return None if value is None else float(value)

    def classify(self, m: SampleMeasures) -> tuple[Status, str]:
        """Status and reason of a sample that ran to the end (``Status.OK, ""`` if it passes)."""
        failed = self._rate_gates(m)
        trace = np.asarray(m.trace, dtype=np.float64)
        sd = float(np.std(trace)) if trace.size and np.all(np.isfinite(trace)) else float("nan")
        if not np.any(np.asarray(m.rates_hz) > 0):
            # ncpi bins only post-transient spikes into the dipole moment: with none it is constant
            failed.append(("flat_lfp", "no spike after the transient"))
        elif trace.size and np.isfinite(sd) and sd <= self.lfp_min_std:
            failed.append(("flat_lfp", f"LFP proxy SD {sd:.3g} nA um <= {self.lfp_min_std:g}"))
        else:
            if m.features_reason or not np.all(np.isfinite(m.features)):
                failed.append(("nan_features", m.features_reason or "non-finite catch22 features"))
            if self.preset == "ncpi_2026" and self.thresholds["spectrum"]["enabled"]:
                failed += spectral_gates(trace, m.fs_hz, self.thresholds["spectrum"])
        return status_of(failed)

    def _rate_gates(self, m: SampleMeasures) -> list[tuple[str, str]]:
        t, rates = self.thresholds, np.asarray(m.rates_hz, dtype=np.float64)
        failed: list[tuple[str, str]] = []
        if self.preset == "rate_window":
            if rates.max() > t["max_rate_hz"]:
                failed.append(("high_rate", f"rates {_fmt(rates, 1)} above {t['max_rate_hz']:g} Hz"))
            if rates.min() < t["min_rate_hz"]:
                failed.append(("silent", f"rates {_fmt(rates, 3)} below {t['min_rate_hz']:g} Hz"))
        elif self.preset == "ncpi_2026":
            e, i = (float(rates[POPULATIONS.index(p)]) for p in ("E", "I"))
            run = np.asarray(m.run_rates_hz, dtype=np.float64)
            if run.max() > t["max_run_rate_hz"]:
                failed.append(("run_rate_above_max", f"whole-run rates {_fmt(run, 1)} > {t['max_run_rate_hz']:g} Hz"))
            if e > t["max_rate_E_hz"]:
                failed.append(("E_rate_above_max", f"E {e:.2f} Hz > {t['max_rate_E_hz']:g} Hz"))
            if i > t["max_rate_I_hz"]:
                failed.append(("I_rate_above_max", f"I {i:.2f} Hz > {t['max_rate_I_hz']:g} Hz"))
            if i < t["min_ratio_I_E"] * e:
                failed.append(("I_below_min_ratio_E", f"I {i:.2f} Hz < {t['min_ratio_I_E']:g} x E {e:.2f} Hz"))
            if i > t["max_ratio_I_E"] * e:
                failed.append(("I_above_max_ratio_E", f"I {i:.2f} Hz > {t['max_ratio_I_E']:g} x E {e:.2f} Hz"))
        return failed


def status_of(failed: Sequence[tuple[str, str]]) -> tuple[Status, str]:
    """The status of the first failing gate in :data:`GATE_ORDER` and the reason naming them all."""
    if not failed:
        return Status.OK, ""
    rank = {name: k for k, (name, _) in enumerate(GATE_ORDER)}
    first = min(failed, key=lambda f: rank[f[0]])[0]
    return GATE_STATUS[first], "; ".join(f"{name}: {detail.replace('; ', ', ')}" for name, detail in failed)


def reason_gates(reason: str) -> list[str]:
    """The gate names in a ``status_reason`` (the part before the first colon of each item)."""
    return [part.split(":", 1)[0].strip() for part in reason.split("; ") if part.strip()] if reason else []


def welch_spectrum(trace: np.ndarray, fs_hz: float, window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectrum as ncpi's ``Features.specparam`` makes it: segments of ``window_s``
    (at most the trace), scipy's other defaults (Hann, 50 % overlap, constant detrend)."""
    from scipy import signal

    x = np.asarray(trace, dtype=np.float64)
    nperseg = max(1, min(int(window_s * fs_hz), x.size))
    return signal.welch(x, fs=fs_hz, nperseg=nperseg)


def fit_spectrum(trace: np.ndarray, fs_hz: float, spec: Mapping) -> dict[str, Any]:
    """specparam fit of the trace's Welch spectrum with the preset's settings, as ncpi's
    ``Features.specparam`` with ``metric_policy="reject"``: a fit whose R^2 is below
    ``min_r_squared`` (or that fails) gives a NaN exponent and no peaks.

    Returns ``exponent`` (aperiodic, 'fixed' mode: power ~ f^-exponent), ``peaks`` (n, 3) rows
    of [centre Hz, power above the aperiodic fit in log10 units, bandwidth Hz], ``r_squared``
    and ``fit_valid``.
    """
    from specparam import SpectralModel

    out: dict[str, Any] = {"exponent": np.nan, "peaks": np.empty((0, 3)), "r_squared": np.nan, "fit_valid": False}
    try:
        freqs, power = welch_spectrum(trace, fs_hz, float(spec["welch_window_s"]))
        keep = np.isfinite(freqs) & np.isfinite(power) & (freqs > 0) & (power > 0)
        freqs, power = freqs[keep], power[keep]
        if freqs.size < 5:
            raise ValueError("not enough frequency points to fit")
        lo = max(float(spec["freq_range_hz"][0]), float(freqs.min()))
        hi = min(float(spec["freq_range_hz"][1]), float(freqs.max()))
        if lo >= hi:
            raise ValueError("freq_range_hz outside the spectrum")
        fm = SpectralModel(
            peak_threshold=float(spec["peak_threshold"]),
            min_peak_height=float(spec["min_peak_height"]),
            max_n_peaks=int(spec["max_n_peaks"]),
            peak_width_limits=tuple(float(w) for w in spec["peak_width_limits_hz"]),
            verbose=False,
        )
        fm.fit(freqs, power, [lo, hi])
        r2 = float(fm.results.metrics.results.get("gof_rsquared", np.nan))
    except Exception:  # ncpi treats a failed fit as rejected
        return out
    out["r_squared"] = r2
    if not (np.isfinite(r2) and r2 >= float(spec["min_r_squared"])):
        return out
    aperiodic = np.atleast_1d(np.asarray(fm.results.params.aperiodic.params, dtype=float))
    peaks = np.asarray(fm.results.params.periodic.params, dtype=float).reshape(-1, 3)
    out.update(exponent=float(aperiodic[1]) if aperiodic.size > 1 else np.nan, peaks=peaks, fit_valid=True)
    return out


def spectral_gates(trace: np.ndarray, fs_hz: float, spec: Mapping) -> list[tuple[str, str]]:
    """The failing spectral gates of ncpi's ``evaluate_validity`` for one trace."""
    fit = fit_spectrum(trace, fs_hz, spec)
    failed: list[tuple[str, str]] = []
    if not fit["fit_valid"]:
        failed.append(("specparam_fit_rejected", f"R^2 {fit['r_squared']:.3f} < {spec['min_r_squared']:g} or no fit"))
    exponent = fit["exponent"]
    if not np.isfinite(exponent):
        failed.append(("non_finite_exponent", "no aperiodic exponent"))
    elif exponent < spec["min_exponent"]:
        failed.append(("negative_exponent", f"aperiodic exponent {exponent:.3f} < {spec['min_exponent']:g}"))
    many = too_many_strong_peaks(fit["peaks"][:, 1], spec)
    if many:
        failed.append(("too_many_strong_peaks", many))
    return failed


def too_many_strong_peaks(powers: np.ndarray, spec: Mapping) -> str:
    """ncpi's many-peaks gate on the fitted peak powers (log10 above the aperiodic fit): a
    description if more than ``max_strong_peaks`` reach ``strong_peak_rel`` of the strongest and
    the strongest exceeds ``strong_peak_min_power``, else ``""``."""
    powers = np.asarray(powers, dtype=np.float64)
    if not (powers.size and np.isfinite(powers).any()):
        return ""
    strongest = float(np.nanmax(powers))
    n_strong = int(np.sum(powers >= spec["strong_peak_rel"] * strongest))
    if n_strong > spec["max_strong_peaks"] and strongest > spec["strong_peak_min_power"]:
        return (
            f"{n_strong} peaks within {spec['strong_peak_rel']:g} of the strongest "
            f"({strongest:.2f} > {spec['strong_peak_min_power']:g})"
        )
    return ""


def early_stop_config(gates_cfg: Mapping) -> dict:
    """The part of ``gates`` that decides how a run is simulated (its early stop), for configs
    that simulate but do not gate (the cross-check): ``{"preset": p, p: {"abort_rate_hz": x}}``."""
    preset = gates_cfg["preset"]
    return {"preset": preset, preset: {"abort_rate_hz": gates_cfg[preset]["abort_rate_hz"]}}


def selected_gates_config(gates_cfg: Mapping) -> dict:
    """``gates`` with only the selected preset's block: what decides a shard's statuses."""
    preset = gates_cfg["preset"]
    return {"preset": preset, "lfp_min_std": gates_cfg["lfp_min_std"], preset: dict(gates_cfg[preset])}


def abort_rate_hz(gates_cfg: Mapping) -> float | None:
    """The selected preset's early-stop rate (Hz), or None; reads only :func:`early_stop_config`'s keys."""
    value = gates_cfg[gates_cfg["preset"]]["abort_rate_hz"]
    return None if value is None else float(value)
