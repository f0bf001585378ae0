"""The MPR mean-field model of Baldy et al. 2024 (workflow.models.mpr)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from workflow.models import mpr, noise
from workflow.seeds import SampleStream

GT = np.array([[mpr.GROUND_TRUTH[k] for k in mpr.PARAM_NAMES]])

#: A short protocol (6 s, stimulus 2-4 s) for tests of bookkeeping, not of dynamics.
SHORT = mpr.MPRSettings(duration=6.0, t_on=2.0, t_off=4.0)


def prior_draws(n: int, seed: int = 0) -> np.ndarray:
    lo, hi = (np.array([mpr.PRIOR_BOUNDS[k][j] for k in mpr.PARAM_NAMES]) for j in (0, 1))
    return lo + (hi - lo) * np.random.default_rng(seed).random((n, len(mpr.PARAM_NAMES)))


def test_vocabulary():
    assert set(mpr.PRIOR_BOUNDS) == set(mpr.PARAM_NAMES) == set(mpr.GROUND_TRUTH)
    for name, (lo, hi) in mpr.PRIOR_BOUNDS.items():
        assert lo < mpr.GROUND_TRUTH[name] < hi
    assert len(mpr.FEATURE_NAMES) == len(set(mpr.FEATURE_NAMES)) == 34
    assert mpr.FEATURE_NAMES[:3] == ("v_pre_mean", "v_pre_sd", "v_pre_median")
    assert mpr.FEATURE_NAMES[15:17] == ("v_n_peaks", "v_t_first_peak")
    assert mpr.FEATURE_NAMES[-1] == "r_t_first_peak"
    assert noise.NOISE_STREAM == SampleStream.NETWORK


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"dt": 0.0}, "dt"),
        ({"t_on": 70.0}, "t_on"),
        ({"t_on": 30.0005}, "t_on"),
        ({"sigma": -0.1}, "sigma"),
        ({"r0": -1.0}, "r0"),
        ({"r_boundary": "absorb"}, "r_boundary"),
        ({"record_every": 0}, "record_every"),
        ({"peak_distance": 0.0}, "peak_distance"),
        ({"current": float("nan")}, "current"),
    ],
)
def test_settings_name_the_bad_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        mpr.MPRSettings(**kwargs)


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="shape"):
        mpr.simulate_batch(np.zeros((2, 2)), [0, 1], 1, SHORT)
    with pytest.raises(ValueError, match="Delta"):
        mpr.simulate_batch(np.array([[-0.1, -4.0, 10.0]]), [0], 1, SHORT)
    with pytest.raises(ValueError, match="eta"):
        mpr.simulate_batch(np.array([[0.5, np.nan, 10.0]]), [0], 1, SHORT)
    with pytest.raises(ValueError, match="sample_ids"):
        mpr.simulate_batch(GT, [0, 1], 1, SHORT)
    with pytest.raises(ValueError, match="seed"):
        mpr.simulate_batch(GT, [0], -1, SHORT)


def test_ground_truth_is_bistable_and_the_stimulus_leaves_one_state():
    """Baldy 2024 Sec. 2.7 / Fig. S1: eta = -4.6, J = 14.5, Delta = 0.7 is bistable."""
    points = mpr.fixed_points(**mpr.GROUND_TRUTH)
    assert [p.kind for p in points] == ["stable node", "saddle", "stable focus"]
    low, _, high = points
    assert low.r < 0.1 < 0.9 < high.r
    # under the stimulus (I = 3) only the high-activity focus is left: the low state must switch
    (only,) = mpr.fixed_points(**mpr.GROUND_TRUTH, current=3.0)
    assert only.kind == "stable focus" and only.r > high.r


def test_fixed_points_are_equilibria():
    for delta, eta, J in prior_draws(20, seed=3):
        for p in mpr.fixed_points(delta, eta, J):
            dr = delta / np.pi + 2 * p.r * p.v
            dv = p.v**2 - np.pi**2 * p.r**2 + J * p.r + eta
            assert abs(dr) < 1e-9 and abs(dv) < 1e-9


def test_deterministic_ground_truth_switches_from_low_to_high_and_stays():
    """Without noise the trace sits at the low node before 30 s and at the high focus after 60 s."""
    s = mpr.MPRSettings(sigma=0.0)
    tr = mpr.simulate_batch(GT, [0], 1, s)
    low, _, high = mpr.fixed_points(**mpr.GROUND_TRUTH)
    i_before, i_end = s.i_on - 1, s.n_points - 1
    assert tr.r[0, i_before] == pytest.approx(low.r, abs=1e-4)
    assert tr.v[0, i_before] == pytest.approx(low.v, abs=1e-4)
    assert tr.r[0, i_end] == pytest.approx(high.r, abs=1e-3)
    assert tr.v[0, i_end] == pytest.approx(high.v, abs=1e-3)


def test_noisy_ground_truth_switches_and_features_are_finite():
    """With sigma = 0.1 (the paper's data): low state before, high state after, peaks during."""
    tr = mpr.simulate_batch(np.repeat(GT, 3, axis=0), [0, 1, 2], 7)
    f = mpr.features(tr)
    assert f.shape == (3, 34) and np.isfinite(f).all()
    col = {name: f[:, i] for i, name in enumerate(mpr.FEATURE_NAMES)}
    low, _, high = mpr.fixed_points(**mpr.GROUND_TRUTH)
    np.testing.assert_allclose(col["v_pre_mean"], low.v, atol=0.1)
    np.testing.assert_allclose(col["r_post_mean"], high.r, atol=0.15)
    assert np.all(col["v_n_peaks"] >= 5)
    # Fig. S2: the first peak comes a few seconds after the onset at 30 s
    assert np.all((col["v_t_first_peak"] > 30) & (col["v_t_first_peak"] < 40))
    assert tr.r.min() >= 0


def test_features_finite_over_the_prior():
    theta = prior_draws(24)
    f = mpr.features(mpr.simulate_batch(theta, np.arange(24), 1))
    assert np.isfinite(f).all()
    n_peaks = f[:, mpr.FEATURE_NAMES.index("v_n_peaks")]
    t_first = f[:, mpr.FEATURE_NAMES.index("v_t_first_peak")]
    assert np.all(n_peaks >= 0) and np.all((t_first == 0) == (n_peaks == 0))


def test_window_statistics_match_scipy():
    """Moments as Baldy's code: np.mean, np.std, np.median, scipy skew and (excess) kurtosis."""
    x = np.random.default_rng(0).gamma(2.0, size=(3, 500))
    got = mpr._window_stats(x)
    want = np.stack([x.mean(1), x.std(1), np.median(x, 1), stats.skew(x, axis=1), stats.kurtosis(x, axis=1)], 1)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_peak_features_follow_find_peaks():
    """Peak count and first-peak time as scipy's find_peaks(height=0.2, distance=1 s) on the window."""
    from scipy.signal import find_peaks

    tr = mpr.simulate_batch(prior_draws(6, seed=5), np.arange(6), 2, SHORT)
    f = mpr.features(tr, SHORT)
    stim = slice(SHORT.i_on, SHORT.i_off)
    for var in mpr.VARIABLES:
        x = getattr(tr, var).astype(np.float64)
        for i in range(6):
            peaks, _ = find_peaks(x[i, stim], height=0.2, distance=1000)
            assert f[i, mpr.FEATURE_NAMES.index(f"{var}_n_peaks")] == peaks.size
            t_first = SHORT.t_on + peaks[0] * SHORT.dt if peaks.size else 0.0
            assert f[i, mpr.FEATURE_NAMES.index(f"{var}_t_first_peak")] == pytest.approx(t_first)


def test_a_sample_does_not_depend_on_its_batch():
    theta = prior_draws(4, seed=1)
    ids = [3, 11, 12, 40]
    batch = mpr.simulate_batch(theta, ids, 5, SHORT)
    alone = mpr.simulate_batch(theta[2:3], [12], 5, SHORT, chunk_steps=777)
    np.testing.assert_array_equal(alone.r[0], batch.r[2])
    np.testing.assert_array_equal(alone.v[0], batch.v[2])
    reordered = mpr.simulate_batch(theta[::-1], ids[::-1], 5, SHORT, chunk_steps=5000)
    np.testing.assert_array_equal(reordered.v[::-1], batch.v)
    np.testing.assert_array_equal(mpr.features(alone, SHORT)[0], mpr.features(batch, SHORT)[2])
    other_seed = mpr.simulate_batch(theta[2:3], [12], 6, SHORT)
    assert not np.array_equal(other_seed.v[0], batch.v[2])
    other_id = mpr.simulate_batch(theta[2:3], [13], 5, SHORT)
    assert not np.array_equal(other_id.v[0], batch.v[2])


def test_recording_every_kth_point_subsamples_the_same_trajectory():
    theta = prior_draws(3, seed=2)
    full = mpr.simulate_batch(theta, [0, 1, 2], 3, SHORT)
    s10 = mpr.MPRSettings(duration=6.0, t_on=2.0, t_off=4.0, record_every=10)
    every10 = mpr.simulate_batch(theta, [0, 1, 2], 3, s10)
    np.testing.assert_array_equal(every10.v, full.v[:, ::10])
    np.testing.assert_array_equal(every10.t, full.t[::10])
    assert np.isfinite(mpr.features(every10, s10)).all()
    with pytest.raises(ValueError, match="settings"):
        mpr.features(every10, SHORT)


def test_rate_boundary():
    """Low Delta puts the low state near r = 0: reflection keeps r >= 0, Baldy's code does not."""
    theta = np.array([[0.1, -10.0, 5.0]])
    kwargs = dict(duration=6.0, t_on=2.0, t_off=4.0, sigma=0.3)
    r = {b: mpr.simulate_batch(theta, [0], 1, mpr.MPRSettings(r_boundary=b, **kwargs)).r[0] for b in mpr.R_BOUNDARIES}
    assert r["reflect"].min() >= 0 and r["clip"].min() >= 0
    assert r["none"].min() < 0
