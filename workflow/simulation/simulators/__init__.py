"""Spiking-network simulators behind one interface.

Every backend exposes ``simulate(theta, net, settings, seed) -> SimResult``. A backend returns
the population spike-count histograms at ``settings.dt_ms`` over the whole run, from which the
rates and the LFP proxy are computed identically for every simulator.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from workflow.contract import BRIAN2_TARGETS, SIMULATORS
from workflow.simulation.network import NetworkParams


@dataclasses.dataclass(frozen=True)
class SimSettings:
    """Run settings shared by all simulators (times in ms).

    The fields named like ``simulation.*`` config keys take their values from the validated
    config (:meth:`from_config`), where their defaults live. ``abort_rate_hz``: a run is stopped
    early (and flagged runaway) once a population fires above this rate over a ``chunk_ms``
    window; ``None`` never stops early.
    """

    tstop_ms: float
    transient_ms: float
    dt_ms: float
    threads: int
    brian2_target: str
    chunk_ms: float = 100.0
    abort_rate_hz: float | None = None

    @classmethod
    def from_config(cls, cfg: Mapping) -> SimSettings:
        """Settings of a campaign sample from a validated config: its ``simulation`` section and
        the early stop of the selected ``gates`` preset (:func:`~workflow.simulation.gates.abort_rate_hz`)."""
        from workflow.simulation.gates import abort_rate_hz

        sim = cfg["simulation"]
        return cls(
            tstop_ms=float(sim["tstop_ms"]),
            transient_ms=float(sim["transient_ms"]),
            dt_ms=float(sim["dt_ms"]),
            threads=int(sim["threads"]),
            brian2_target=str(sim["brian2_target"]),
            abort_rate_hz=abort_rate_hz(cfg["gates"]),
        )

    def __post_init__(self) -> None:
        if self.tstop_ms <= 0:
            raise ValueError(f"simulation.tstop_ms must be positive, got {self.tstop_ms}")
        if not 0 <= self.transient_ms < self.tstop_ms:
            raise ValueError(f"simulation.transient_ms ({self.transient_ms}) must lie in [0, tstop_ms={self.tstop_ms})")
        if self.dt_ms <= 0:
            raise ValueError(f"simulation.dt_ms must be positive, got {self.dt_ms}")
        steps = self.tstop_ms / self.dt_ms
        if abs(steps - round(steps)) > 1e-9 * steps:
            raise ValueError(f"simulation.tstop_ms ({self.tstop_ms}) must be a multiple of dt_ms ({self.dt_ms})")
        if self.threads < 1:
            raise ValueError(f"simulation.threads must be >= 1, got {self.threads}")
        if self.brian2_target not in BRIAN2_TARGETS:
            raise ValueError(f"simulation.brian2_target must be one of {BRIAN2_TARGETS}, got {self.brian2_target!r}")

    @property
    def n_bins(self) -> int:
        """Number of histogram bins of width dt over [0, tstop)."""
        return int(round(self.tstop_ms / self.dt_ms))


@dataclasses.dataclass
class SimResult:
    """Output of one simulation.

    ``counts``: spikes per dt bin of each simulated population over [0, tstop), shape (n_bins,).
    ``rates_hz``: post-transient mean rate per neuron. ``aborted``: stopped early (runaway).
    """

    counts: dict[str, np.ndarray]
    rates_hz: dict[str, float]
    n_vp: int
    simulator: str
    aborted: bool = False
    wall_s: float = 0.0
    t_done_ms: float | None = None

    @classmethod
    def from_counts(
        cls,
        counts: dict[str, np.ndarray],
        net: NetworkParams,
        settings: SimSettings,
        n_vp: int,
        simulator: str,
        t_done_ms: float,
        wall_s: float,
    ) -> SimResult:
        """A backend's result: rates from the counts, aborted if the run stopped before tstop."""
        return cls(
            counts=counts,
            rates_hz=rates_from_counts(counts, net.N, settings),
            n_vp=n_vp,
            simulator=simulator,
            aborted=t_done_ms < settings.tstop_ms - 1e-9,
            wall_s=wall_s,
            t_done_ms=t_done_ms,
        )


def rates_from_counts(
    counts: Mapping[str, np.ndarray], n: Mapping[str, int], settings: SimSettings
) -> dict[str, float]:
    """Post-transient mean firing rate per neuron (Hz) from histogram counts."""
    first = int(round(settings.transient_ms / settings.dt_ms))
    duration_s = (settings.tstop_ms - settings.transient_ms) / 1000.0
    return {p: float(c[first:].sum()) / (n[p] * duration_s) for p, c in counts.items()}


def simulate(
    theta: Mapping[str, float], net: NetworkParams, settings: SimSettings, seed: int, simulator: str = "nest"
) -> SimResult:
    """Simulate one parameter set with the named simulator (imported lazily)."""
    if simulator == "nest":
        from workflow.simulation.simulators.nest_sim import simulate as run
    elif simulator == "brian2":
        from workflow.simulation.simulators.brian2_sim import simulate as run
    else:
        raise ValueError(f"simulation.simulator must be one of {SIMULATORS}, got {simulator!r}")
    return run(theta, net, settings, seed)
