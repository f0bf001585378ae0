"""The Hodgkin–Huxley neuron of Gonçalves et al. 2020 (workflow.models.hh)."""

from __future__ import annotations

import numpy as np
import pytest

from workflow.models import hh, noise
from workflow.seeds import SampleStream

GT = np.array([[hh.GROUND_TRUTH[k] for k in hh.PARAM_NAMES]])

#: A short protocol (30 ms, stimulus 5-25 ms) for tests of bookkeeping, not of dynamics.
SHORT = hh.HHSettings(duration=30.0, t_on=5.0, t_off=25.0)


def prior_draws(n: int, seed: int = 0) -> np.ndarray:
    lo, hi = (np.array([hh.PRIOR_BOUNDS[k][j] for k in hh.PARAM_NAMES]) for j in (0, 1))
    return lo + (hi - lo) * np.random.default_rng(seed).random((n, len(hh.PARAM_NAMES)))


def reference_spike_count(v: np.ndarray, t: np.ndarray, t_on: float, t_off: float) -> int:
    """Gonçalves code (HodgkinHuxleyStatsMoments.calc), transcribed as the oracle."""
    v = np.array(v, dtype=np.float64)
    v[np.where(v < -10)] = -10
    v[np.where(np.diff(v) < 0)] = -10
    spike_times = np.array(t)[np.where(np.diff(v) < 0)]
    stim = spike_times[(spike_times > t_on) & (spike_times < t_off)]
    if stim.shape[0] > 0:
        stim = stim[np.append(1, np.diff(stim)) > 0.5]
    return int(stim.shape[0])


def test_vocabulary():
    assert tuple(hh.PRIOR_BOUNDS) == hh.PARAM_NAMES == tuple(hh.GROUND_TRUTH)
    assert len(hh.PARAM_UNITS) == 8 and len(hh.FEATURE_NAMES) == len(hh.FEATURE_UNITS) == 7
    for name, (lo, hi) in hh.PRIOR_BOUNDS.items():
        assert lo < hh.GROUND_TRUTH[name] < hi
    assert hh.FEATURE_SETS[1] == ("n_spikes",)
    assert hh.FEATURE_SETS[4] == ("n_spikes", "rest_mean", "rest_sd", "stim_mean")
    assert noise.NOISE_STREAM == SampleStream.NETWORK


def test_stimulus_is_the_papers():
    s = hh.HHSettings()
    assert s.current_density == pytest.approx(5e-4 / (np.pi * (70e-4) ** 2))  # code: curr_level / A_soma
    assert (s.n_points, s.i_on, s.i_off, s.rest_sd_window_start) == (12001, 1000, 11000, 900)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"dt": -0.01}, "dt"),
        ({"t_off": 130.0}, "t_off"),
        ({"t_on": 10.005}, "t_on"),
        ({"C_m": 0.0}, "C_m"),
        ({"rest_sd_fraction": 0.0}, "rest_sd_fraction"),
        ({"min_isi": -1.0}, "min_isi"),
        ({"E_Na": float("inf")}, "E_Na"),
    ],
)
def test_settings_name_the_bad_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        hh.HHSettings(**kwargs)


@pytest.mark.parametrize(("column", "value"), [("g_leak", 0.0), ("tau_max", -1.0), ("sigma", -0.1), ("V_T", np.nan)])
def test_theta_names_the_bad_parameter(column, value):
    theta = GT.copy()
    theta[0, hh.PARAM_NAMES.index(column)] = value
    with pytest.raises(ValueError, match=column):
        hh.simulate_batch(theta, [0], 1, SHORT)


def test_ground_truth_spikes_like_fig_4a():
    """The observation of Gonçalves 2020 Fig. 4a fires 5 spikes from a resting potential near -70 mV."""
    tr = hh.simulate_batch(np.repeat(GT, 3, axis=0), [0, 1, 2], 1)
    f = hh.features(tr)
    assert np.isfinite(f).all()
    assert np.all((f[:, 0] >= 4) & (f[:, 0] <= 6))
    np.testing.assert_allclose(f[:, 1], -70.0, atol=1.0)  # rest_mean
    assert np.all(f[:, 2] < 0.5)  # rest_sd: only the noise
    assert np.all(f[:, 6] > 3.0)  # spikes make the stimulus window's V heavy-tailed
    assert tr.v.max() > 20.0  # action potentials overshoot


def test_no_current_no_spikes():
    s = hh.HHSettings(current=0.0)
    f = hh.features(hh.simulate_batch(np.repeat(GT, 2, axis=0), [0, 1], 1, s), s)
    assert np.all(f[:, 0] == 0)
    np.testing.assert_allclose(f[:, 3], -70.0, atol=1.5)  # stays at rest


def test_features_finite_over_the_prior_and_spikes_match_the_code():
    theta = prior_draws(16)
    tr = hh.simulate_batch(theta, np.arange(16), 1)
    f = hh.features(tr)
    assert np.isfinite(f).all()
    s = hh.HHSettings()
    want = [reference_spike_count(tr.v[i], tr.t, s.t_on, s.t_off) for i in range(16)]
    np.testing.assert_array_equal(f[:, 0], want)
    assert f[:, 0].max() > 0  # some draws spike


def test_spike_detection_on_a_synthetic_trace():
    s = hh.HHSettings()
    t = s.t
    v = np.full(t.size, -70.0)
    for t_peak in (5.0, 20.0, 20.3, 50.0, 109.5, 115.0):  # 20.3 ms is within 0.5 ms: one spike
        v += 110.0 * np.exp(-(((t - t_peak) / 0.2) ** 2))
    counts = hh.spike_counts(v[None, :], s)
    assert counts[0] == reference_spike_count(v, t, s.t_on, s.t_off) == 3


def test_a_sample_does_not_depend_on_its_batch():
    theta = prior_draws(4, seed=1)
    theta[:, hh.PARAM_NAMES.index("sigma")] = 0.1
    ids = [8, 2, 30, 31]
    batch = hh.simulate_batch(theta, ids, 4, SHORT)
    alone = hh.simulate_batch(theta[1:2], [2], 4, SHORT, chunk_steps=333)
    np.testing.assert_array_equal(alone.v[0], batch.v[1])
    reordered = hh.simulate_batch(theta[::-1], ids[::-1], 4, SHORT, chunk_steps=10_000)
    np.testing.assert_array_equal(reordered.v[::-1], batch.v)
    np.testing.assert_array_equal(hh.features(alone, SHORT)[0], hh.features(batch, SHORT)[1])
    assert not np.array_equal(hh.simulate_batch(theta[1:2], [2], 5, SHORT).v[0], batch.v[1])
    with pytest.raises(ValueError, match="settings"):
        hh.features(batch)
