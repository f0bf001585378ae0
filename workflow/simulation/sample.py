"""One sample of the campaign: simulate, LFP proxy, catch22, and its status under the gates."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping

import numpy as np

from workflow.contract import FEATURE_NAMES, POPULATIONS, Status
from workflow.seeds import network_seed
from workflow.simulation.features import catch22
from workflow.simulation.gates import Gates, SampleMeasures, status_of
from workflow.simulation.lfp import count_kernels, lfp_proxy
from workflow.simulation.network import NetworkParams
from workflow.simulation.prior import theta_dict
from workflow.simulation.simulators import SimSettings, simulate

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SampleContext:
    """Everything a sample needs besides its parameters: network, run settings, kernels, gates."""

    net: NetworkParams
    settings: SimSettings
    simulator: str
    seed: int
    kernels_by_pre: Mapping[str, np.ndarray]
    decimate: int
    gates: Gates

    @classmethod
    def from_config(cls, cfg: Mapping, kernels: Mapping[str, np.ndarray], kernel_dt_ms: float) -> SampleContext:
        sim = cfg["simulation"]
        if abs(kernel_dt_ms - sim["dt_ms"]) > 1e-12:
            raise ValueError(
                f"kernels were computed at dt={kernel_dt_ms} ms but simulation.dt_ms is {sim['dt_ms']}; "
                "recompute results/kernels.h5"
            )
        return cls(
            net=NetworkParams.from_config(cfg),
            settings=SimSettings.from_config(cfg),
            simulator=sim["simulator"],
            seed=int(cfg["campaign"]["seed"]),
            kernels_by_pre=count_kernels(kernels, cfg["lfp"]["kernel_pairing"]),
            decimate=int(cfg["lfp"]["decimate"]),
            gates=Gates.from_config(cfg["gates"]),
        )

    @property
    def fs_hz(self) -> float:
        """Sampling rate of the LFP proxy (Hz)."""
        return 1000.0 / (self.settings.dt_ms * self.decimate)

    @property
    def lfp_len(self) -> int:
        """Length of the stored LFP trace (decimated, transient dropped)."""
        n = -(-self.settings.n_bins // self.decimate)
        return n - int(round(self.settings.transient_ms / (self.settings.dt_ms * self.decimate)))


@dataclasses.dataclass
class SampleResult:
    """Outcome of one sample."""

    sample_id: int
    rates: np.ndarray  # (2,) Hz
    features: np.ndarray  # (22,)
    status: Status
    reason: str
    lfp: np.ndarray | None
    n_vp: int
    wall_s: float


def run_sample(sample_id: int, theta_row: np.ndarray, ctx: SampleContext) -> SampleResult:
    """Simulate one sample and derive its rates, LFP proxy, features and status; never raises on bad dynamics.

    A run stopped early is RUNAWAY with NaN features; otherwise :meth:`Gates.classify` decides
    the status from the rates, the LFP proxy and its features (computed for every sample that
    ran to the end, valid or not).
    """
    t0 = time.perf_counter()
    nan_feat = np.full(len(FEATURE_NAMES), np.nan)
    seed = network_seed(ctx.seed, sample_id)
    try:
        res = simulate(theta_dict(theta_row), ctx.net, ctx.settings, seed, ctx.simulator)
    except Exception as exc:  # a simulator error marks the sample, not the shard
        log.warning("sample %d: simulator error: %s", sample_id, exc)
        status, reason = status_of([("simulator_error", f"{type(exc).__name__}: {exc}")])
        return SampleResult(sample_id, np.full(2, np.nan), nan_feat, status, reason, None, 0, time.perf_counter() - t0)
    if res.aborted:
        t_done = res.t_done_ms or ctx.settings.tstop_ms
        rates = np.array([res.counts[p].sum() / (ctx.net.N[p] * t_done / 1000.0) for p in POPULATIONS])
        status, reason = status_of([(
            "runaway",
            f"stopped at {t_done:.0f} ms, a chunk above {ctx.settings.abort_rate_hz:g} Hz, rates so far "
            f"{np.round(rates, 1).tolist()} Hz",
        )])  # fmt: skip
        return SampleResult(sample_id, rates, nan_feat, status, reason, None, res.n_vp, time.perf_counter() - t0)
    rates = np.array([res.rates_hz[p] for p in POPULATIONS])
    trace = lfp_proxy(
        res.counts,
        ctx.kernels_by_pre,
        {p: ctx.net.count_factor(p) for p in POPULATIONS},
        ctx.settings.dt_ms,
        ctx.settings.transient_ms,
        ctx.decimate,
    )
    features, why = catch22(trace)
    run_s = ctx.settings.tstop_ms / 1000.0
    run_rates = np.array([res.counts[p].sum() / (ctx.net.N[p] * run_s) for p in POPULATIONS])
    status, reason = ctx.gates.classify(SampleMeasures(rates, run_rates, trace, ctx.fs_hz, features, why))
    return SampleResult(sample_id, rates, features, status, reason, trace, res.n_vp, time.perf_counter() - t0)
