import numpy as np
import pytest

from workflow.simulation.network import NetworkParams, make_theta
from workflow.simulation.simulators import SimSettings, rates_from_counts, simulate

SHORT = SimSettings(tstop_ms=400.0, transient_ms=100.0, dt_ms=0.0625, threads=1, brian2_target="cpp_standalone")


def test_tiny_network_has_plausible_rates():
    net = NetworkParams(scale=0.02)
    res = simulate(make_theta(), net, SHORT, seed=3)
    assert set(res.counts) == {"E", "I"}
    assert res.counts["E"].shape == (SHORT.n_bins,)
    assert 1.0 < res.rates_hz["E"] < 30.0 and 1.0 < res.rates_hz["I"] < 40.0
    assert res.rates_hz == rates_from_counts(res.counts, net.N, SHORT)
    assert res.n_vp == 1 and res.simulator == "nest" and not res.aborted


def test_same_seed_same_spikes_other_seed_differs():
    net = NetworkParams(scale=0.02)
    a = simulate(make_theta(), net, SHORT, seed=5)
    b = simulate(make_theta(), net, SHORT, seed=5)
    c = simulate(make_theta(), net, SHORT, seed=6)
    assert all(np.array_equal(a.counts[p], b.counts[p]) for p in "EI")
    assert not np.array_equal(a.counts["E"], c.counts["E"])


def test_runaway_is_stopped_early():
    net = NetworkParams(scale=0.02)
    theta = make_theta({"J_EE": 40.0, "J_IE": 40.0, "J_EI": -0.5, "J_II": -0.5, "J_ext": 80.0})
    settings = SimSettings(
        tstop_ms=1000.0,
        transient_ms=100.0,
        dt_ms=0.0625,
        threads=1,
        brian2_target="cpp_standalone",
        abort_rate_hz=150.0,
        chunk_ms=50.0,
    )
    res = simulate(theta, net, settings, seed=1)
    assert res.aborted and res.t_done_ms < 1000.0


def test_silent_without_drive():
    res = simulate(make_theta({"J_ext": 1.0}), NetworkParams(scale=0.02), SHORT, seed=1)
    assert res.rates_hz["E"] == 0.0 and res.rates_hz["I"] == 0.0


def test_unknown_parameter_is_named():
    with pytest.raises(KeyError, match="J_XX"):
        make_theta({"J_XX": 1.0})


@pytest.mark.slow
def test_scaled_best_fit_rates_within_25_percent_of_full_network():
    """The default local scale keeps the best fit's E and I rates within 25% of the full network."""
    settings = SimSettings(tstop_ms=1500.0, transient_ms=500.0, dt_ms=0.0625, threads=2, brian2_target="cpp_standalone")
    full = simulate(make_theta(), NetworkParams(scale=1.0), settings, seed=1)
    for scale in (0.05, 0.1):
        scaled = simulate(make_theta(), NetworkParams(scale=scale), settings, seed=1)
        for pop in "EI":
            rel = abs(scaled.rates_hz[pop] - full.rates_hz[pop]) / full.rates_hz[pop]
            assert rel < 0.25, (scale, pop, scaled.rates_hz, full.rates_hz)
