"""The QIF network in Brian2 (workflow.models.qif) against the MPR mean field it underlies."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from workflow.models import mpr, qif

#: A protocol of 6 s, stimulus 2-4 s, where the MF switches from the low to the high state
#: with a large transient (peak r ~ 2.5 at t ~ 3.4 s) and stays there: Delta = 2, eta = -5, J = 15.
SWITCH = {"Delta": 2.0, "eta": -5.0, "J": 15.0}
SHORT = qif.QIFSettings(n_neurons=2000, duration=6.0, t_on=2.0, t_off=4.0)

#: A tiny run for bookkeeping.
TINY = qif.QIFSettings(n_neurons=200, duration=1.0, t_on=0.3, t_off=0.6)


def mf_solution(theta: dict[str, float], settings: qif.QIFSettings) -> mpr.MPRTraces:
    """The noise-free MF on the network's grid."""
    row = np.array([[theta[p] for p in mpr.PARAM_NAMES]])
    return mpr.simulate_batch(row, [0], 1, settings.mf_settings(sigma=0.0))


@pytest.fixture(scope="module")
def switch_run() -> qif.QIFResult:
    return qif.simulate(SWITCH, 1, SHORT)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_neurons": 1}, "n_neurons"),
        ({"dt": 0.0}, "dt"),
        ({"t_on": 70.0}, "t_on"),
        ({"record_dt": 1.5e-4}, "record_dt"),
        ({"v_peak": 1e4}, "v_peak"),
        ({"excitabilities": "gaussian"}, "excitabilities"),
        ({"target": "cpp_standalone"}, "target"),
        ({"r0": -1.0}, "r0"),
    ],
)
def test_settings_name_the_bad_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        qif.QIFSettings(**kwargs)


def test_theta_is_checked():
    with pytest.raises(KeyError, match="J"):
        qif.simulate({"Delta": 1.0, "eta": -5.0}, 1, TINY)
    with pytest.raises(ValueError, match="Delta"):
        qif.simulate({"Delta": -1.0, "eta": -5.0, "J": 15.0}, 1, TINY)


@pytest.mark.parametrize("kind", qif.EXCITABILITIES)
def test_excitabilities_are_lorentzian(kind):
    """Median eta and quartiles eta -+ Delta (exact for the quantiles, within sampling error if drawn)."""
    s = qif.QIFSettings(n_neurons=20_000, excitabilities=kind)
    eta = qif.excitabilities({"Delta": 0.7, "eta": -4.6, "J": 0.0}, s, np.random.default_rng(0))
    q = np.percentile(eta, [25, 50, 75])
    # the quartiles of N draws scatter by about 1.6 Delta / sqrt(N) (Cauchy: pi Delta / (2 sqrt(N)) at the median)
    tol = 0.002 if kind == "quantiles" else 0.06
    np.testing.assert_allclose(q, -4.6 + 0.7 * np.array([-1.0, 0.0, 1.0]), atol=tol)


def test_initial_potentials_follow_the_mf_initial_state():
    """Lorentzian potentials: median v0, half-width pi r0, clipped at -+ v_p."""
    s = qif.QIFSettings(n_neurons=20_000)
    v = qif.initial_potentials(s, np.random.default_rng(0))
    q25, q50, q75 = np.percentile(v, [25, 50, 75])
    assert q50 == pytest.approx(s.v0, abs=0.05)
    assert (q75 - q25) / 2 == pytest.approx(np.pi * s.r0, rel=0.05)
    assert v.min() >= -s.v_peak and v.max() <= s.v_peak
    assert 0 < (np.abs(v) >= s.v_peak).mean() < 0.02  # the clipped tails: about 2 r0 / v_p


def test_sliding_rate_counts_the_window():
    s = qif.QIFSettings(n_neurons=10, duration=1.0, t_on=0.3, t_off=0.6, record_dt=1e-3, rate_window=1e-2)
    spikes = np.arange(0.0005, 1.0, 1e-3)  # one spike per ms (none on a window's edge): 100 per neuron and s
    r = qif.sliding_rate(spikes, 10, s)
    np.testing.assert_allclose(r, 100.0)  # also at the edges, where the window is cut to [0, duration)
    one = qif.sliding_rate(np.array([0.5]), 10, s)
    assert one.sum() * s.record_dt * 10 == pytest.approx(1.0)  # one spike, counted over one window


def test_same_seed_same_network_other_seed_other_network():
    a = qif.simulate(SWITCH, 3, TINY)
    b = qif.simulate(SWITCH, 3, TINY)
    np.testing.assert_array_equal(a.spike_t, b.spike_t)
    np.testing.assert_array_equal(a.r, b.r)
    np.testing.assert_array_equal(a.v, b.v)
    c = qif.simulate(SWITCH, 4, TINY)
    assert not np.array_equal(a.v, c.v)
    assert a.t.shape == a.r.shape == a.v.shape == (TINY.n_points,) and np.isfinite(a.v).all()
    assert a.target == "cython" and a.brian2_version


def test_numpy_and_cython_targets_agree():
    """Brian2's two runtime targets run the same network: same spikes, up to rounding."""
    a = qif.simulate(SWITCH, 3, TINY)
    b = qif.simulate(SWITCH, 3, dataclasses.replace(TINY, target="numpy"))
    assert b.target == "numpy"
    assert abs(a.spike_t.size - b.spike_t.size) <= max(2, 0.01 * a.spike_t.size)
    np.testing.assert_allclose(a.v, b.v, atol=0.05)


def test_stationary_network_sits_at_the_mf_fixed_point():
    """Started on the Lorentzian of the MF's fixed point (a single stable focus, from the
    quartic of :func:`workflow.models.mpr.fixed_points`), the network stays there: its mean
    rate and potential over 0.5-3 s equal the fixed point's, an analytic value independent of
    the MF integrator.

    With N = 2000 the rate averages about 1300 spikes per second; the finite network also lacks
    the Lorentzian's far tail of fast-firing neurons (eta beyond about Delta N / pi), which
    lowers r by a few per cent (measured: -4.6 % at N = 2000, -1.5 % at N = 10^4). Tolerances:
    8 % on r, 0.05 on v.
    """
    theta = {"Delta": 2.0, "eta": -2.0, "J": 5.0}
    (fp,) = mpr.fixed_points(theta["Delta"], theta["eta"], theta["J"])
    s = qif.QIFSettings(n_neurons=2000, duration=3.0, t_on=2.0, t_off=2.5, current=0.0, r0=fp.r, v0=fp.v)
    res = qif.simulate(theta, 2, s)
    late = res.t >= 0.5
    assert res.r[late].mean() == pytest.approx(fp.r, rel=0.08)
    assert res.v[late].mean() == pytest.approx(fp.v, abs=0.05)


def test_network_tracks_the_mf_through_the_switch(switch_run):
    """N = 2000, 6 s: the network's r(t) and v(t) follow the MF solution through the stimulus.

    Finite size delays the big transient by a few tens of ms (about 60 ms at N = 2000, 30 ms at
    N = 10^4), which costs the point-wise agreement most; the tolerances: window means of r
    within 10 %, of v within 0.05, Pearson correlation of the traces above 0.85.
    """
    mf = mf_solution(SWITCH, SHORT)
    s = SHORT.mf_settings()
    for a, b in ((0, s.i_on), (s.i_on, s.i_off), (s.i_off, s.n_points)):
        assert switch_run.r[a:b].mean() == pytest.approx(mf.r[0, a:b].mean(), rel=0.10)
        assert switch_run.v[a:b].mean() == pytest.approx(mf.v[0, a:b].mean(), abs=0.05)
    skip = 10  # the first 10 ms: the rate window is still filling
    for var in mpr.VARIABLES:
        net, ref = getattr(switch_run, var)[skip:], getattr(mf, var)[0, skip:].astype(float)
        assert np.corrcoef(net, ref)[0, 1] > 0.85, var
    # the network does switch: the high state after the stimulus, the low one before
    assert switch_run.r[s.i_off :].mean() > 3 * switch_run.r[: s.i_on].mean()


def test_network_features_are_baldys(switch_run):
    """The network's r and v give the MF's 34 features; the stimulus window holds peaks."""
    f = switch_run.features()
    assert f.shape == (1, len(mpr.FEATURE_NAMES)) and np.isfinite(f).all()
    assert f[0, mpr.FEATURE_NAMES.index("r_n_peaks")] >= 1
    s10 = SHORT.mf_settings(record_every=10)
    sub = mpr.MPRTraces(t=switch_run.t[::10], r=switch_run.traces().r[:, ::10], v=switch_run.traces().v[:, ::10])
    np.testing.assert_array_equal(switch_run.features(s10), mpr.features(sub, s10))
    with pytest.raises(ValueError, match="grid"):
        switch_run.features(mpr.MPRSettings(dt=1.5e-3, duration=6.0, t_on=2.1, t_off=3.9))


@pytest.mark.slow
def test_network_converges_to_the_mf_as_it_grows(switch_run):
    """Finite-size error shrinks with N: the RMSE against the MF at N = 8000 is below N = 2000's."""
    big = qif.simulate(SWITCH, 1, dataclasses.replace(SHORT, n_neurons=8000))
    mf = mf_solution(SWITCH, SHORT)
    for var in mpr.VARIABLES:
        ref = getattr(mf, var)[0, 10:].astype(float)
        err = [np.sqrt(np.mean((getattr(run, var)[10:] - ref) ** 2)) for run in (switch_run, big)]
        assert err[1] < 0.8 * err[0], (var, err)
