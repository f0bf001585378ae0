"""The misspecification score (workflow.infer.misspecification): white noise and a pure sine,
brought to the campaign's form by workflow.infer.traces, are flagged against features of
simulated LFP proxies; held-out rows drawn like the training rows are flagged at about the
configured false-positive rate; the model is plain arrays in JSON and its inputs are checked.

The "campaign features" here are a stand-in, not the campaign's: a few hundred LFP proxies made
by workflow.simulation.lfp.lfp_proxy from Poisson spike counts of E and I populations (rates
drawn at random, modulated by an Ornstein-Uhlenbeck process and, for half the traces, an
oscillation of random frequency) convolved with the synthetic exponential kernels of
tests/helpers.py (write_exp_kernels), with the tiny campaign's timing (dt 0.0625 ms, 700 ms,
200 ms transient, decimate 10: 800 points at 1600 Hz), then catch22. Running
``python -m workflow simulate`` for them would take minutes.
"""

import json

import h5py
import numpy as np
import pytest
from helpers import write_exp_kernels
from scipy import signal

from workflow.contract import FEATURE_NAMES, PATHWAYS, pathway_name
from workflow.infer import misspecification as ms
from workflow.infer.traces import campaign_timing, prepare_traces
from workflow.simulation.features import catch22
from workflow.simulation.lfp import count_kernels, lfp_proxy

CFG = {"simulation": {"dt_ms": 0.0625, "tstop_ms": 700.0, "transient_ms": 200.0}, "lfp": {"decimate": 10}}
TIMING = campaign_timing(CFG)
N_TRAIN, N_HELD_OUT = 500, 300
FPR = 0.05


def _proxy(i: int, kernels_by_pre: dict, root: int = 2024) -> np.ndarray:
    """One stand-in LFP proxy (module docstring); trace i has its own stream SeedSequence(root, (i,))."""
    sim = CFG["simulation"]
    dt = sim["dt_ms"]
    rng = np.random.default_rng(np.random.SeedSequence(root, spawn_key=(i,)))
    n = int(round(sim["tstop_ms"] / dt))
    a = np.exp(-dt / rng.uniform(5.0, 100.0))  # OU time constant 5-100 ms
    m = signal.lfilter([np.sqrt(1 - a * a)], [1, -a], rng.normal(size=n)) * rng.uniform(0.0, 0.8)
    if rng.random() < 0.5:
        t_s = np.arange(n) * dt / 1000.0
        m += rng.uniform(0.0, 0.6) * np.sin(2 * np.pi * rng.uniform(5.0, 80.0) * t_s + rng.uniform(0, 2 * np.pi))
    gain = np.maximum(0.0, 1.0 + m)
    counts = {
        "E": rng.poisson(rng.uniform(1.0, 30.0) * 400 * dt / 1000.0 * gain),  # 400 E neurons at 1-30 Hz
        "I": rng.poisson(rng.uniform(2.0, 60.0) * 100 * dt / 1000.0 * gain),  # 100 I neurons at 2-60 Hz
    }
    return lfp_proxy(counts, kernels_by_pre, {"E": 1.0, "I": 1.0}, dt, sim["transient_ms"], CFG["lfp"]["decimate"])


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    """(train, held_out) stand-in campaign features: 500 and 300 independent proxies."""
    path = write_exp_kernels(tmp_path_factory.mktemp("kernels") / "kernels.h5", dt_ms=CFG["simulation"]["dt_ms"])
    with h5py.File(path) as f:
        kernels = {pathway_name(a, b): f[pathway_name(a, b)][()] for a, b in PATHWAYS}
    kb = count_kernels(kernels, "correct")
    rows = []
    for i in range(N_TRAIN + N_HELD_OUT):
        trace = _proxy(i, kb)
        assert trace.size == TIMING.n_points
        x, why = catch22(trace)
        assert not why
        rows.append(x)
    x = np.array(rows)
    return x[:N_TRAIN], x[N_TRAIN:]


@pytest.fixture(scope="module")
def model(features):
    return ms.fit(features[0], seed=7, fpr=FPR)


def _recording_features(tmp_path, name, x, fs_hz=1000.0):
    np.save(tmp_path / f"{name}.npy", x)
    (p,) = prepare_traces([tmp_path / f"{name}.npy"], TIMING, fs_hz=fs_hz)
    return p.features


def test_white_noise_and_a_sine_are_flagged(features, model, tmp_path):
    """5 s recordings at 1 kHz through the campaign's preprocessing: 10 windows each, all flagged."""
    t = np.arange(5000) / 1000.0
    cases = {
        "white noise": np.random.default_rng(11).normal(size=t.size),
        "sine 10 Hz": np.sin(2 * np.pi * 10.0 * t),
        "sine 40 Hz": 50.0 * np.sin(2 * np.pi * 40.0 * t) + 3.0,
    }
    for name, x in cases.items():
        f = _recording_features(tmp_path, name.replace(" ", "_"), x)
        assert f.shape == (10, len(FEATURE_NAMES))
        out = [ms.score(model, row) for row in f]
        s = np.array([o[0] for o in out])
        print(f"{name}: scores {s.min():.1f}-{s.max():.1f} (threshold {model.threshold:.2f})")
        assert all(flag for _, flag in out), name
        assert np.all(ms.p_value(model, f) <= FPR)


def test_held_out_rows_are_flagged_at_the_configured_rate(features, model):
    """Held-out proxies are drawn like the training ones, so conformal calibration flags them with
    probability at most FPR = 0.05 and at least FPR - 1/(n_cal + 1) = 0.042, over the draw of the
    training rows. One training set's rate varies around that by about 0.02 (its 125 calibration
    rows and its reference rows), so the rate is measured over ten random 500/300 partitions of
    the 800 proxies. Over seven independent sets of 800 proxies (roots 1-6 and this one) that mean
    was 0.045 with a standard deviation of 0.009 (this set: 0.032); it must lie within 0.025 of FPR."""
    x = np.vstack(features)
    rates = []
    for i in range(10):
        perm = np.random.default_rng(i).permutation(len(x))
        m = model if i == 0 else ms.fit(x[perm[:N_TRAIN]], seed=i, fpr=FPR)
        held_out = x[perm[N_TRAIN:]] if i else features[1]
        rates.append(float(np.mean([ms.score(m, row)[1] for row in held_out])))
    s = ms.scores(model, features[1])
    print(f"held-out false-positive rate per partition {np.round(rates, 3).tolist()}, mean {np.mean(rates):.3f}")
    print(
        f"held-out scores: median {np.median(s):.2f}, 95% {np.quantile(s, 0.95):.2f}, threshold {model.threshold:.2f}"
    )
    assert abs(np.mean(rates) - FPR) < 0.025
    assert max(rates) <= 0.15


def test_conformal_rate_on_a_large_synthetic_sample():
    """The calibration itself, on cheap correlated two-cluster Gaussian rows with feature scales
    over five decades: 3000 training rows (750 for calibration), 5000 new ones; over five splits
    the mean flagged fraction lies within 0.02 of FPR (its standard deviation is about 0.006)."""
    rng = np.random.default_rng(3)
    d = len(FEATURE_NAMES)
    mix = rng.normal(size=(d, d))

    def draw(n):
        centre = np.where(rng.random(n)[:, None] < 0.3, 4.0, 0.0)
        return (rng.normal(size=(n, d)) + centre) @ mix * np.logspace(-3, 2, d)

    train, new = draw(3000), draw(5000)
    for fpr in (0.05, 0.2):
        rates = []
        for seed in range(5):
            m = ms.fit(train, seed=seed, fpr=fpr)
            assert m.calibration_scores.size == 750
            rates.append(np.mean(ms.scores(m, new) > m.threshold))
        assert abs(np.mean(rates) - fpr) < 0.02, (fpr, rates)


def test_p_value_and_flag_agree(features, model):
    train, held_out = features
    x = np.vstack([held_out, train[:50] * 1.5])
    s = ms.scores(model, x)
    np.testing.assert_array_equal(ms.p_value(model, x) <= FPR, s > model.threshold)
    # a row's score does not depend on the rows scored with it
    assert all(ms.score(model, row) == (si, si > model.threshold) for row, si in zip(x, s, strict=True))


def test_model_is_plain_json_and_round_trips(features, model, tmp_path):
    text = json.dumps(model.to_dict())  # plain lists and numbers, no pickles
    again = ms.MisspecificationModel.from_dict(json.loads(text))
    path = model.save(tmp_path / "misspecification.json")
    loaded = ms.MisspecificationModel.load(path)
    held_out = features[1]
    for m in (again, loaded):
        np.testing.assert_array_equal(ms.scores(m, held_out), ms.scores(model, held_out))
        assert (m.threshold, m.k, m.fpr, m.seed, m.feature_names) == (
            model.threshold,
            model.k,
            model.fpr,
            model.seed,
            FEATURE_NAMES,
        )
    d = model.to_dict()
    with pytest.raises(ValueError, match="format"):
        ms.MisspecificationModel.from_dict({**d, "format": "pickle"})
    with pytest.raises(ValueError, match="threshold"):
        ms.MisspecificationModel.from_dict({**d, "threshold": d["threshold"] * 2})
    with pytest.raises(ValueError, match=r"lacks the keys \['reference'\]"):
        ms.MisspecificationModel.from_dict({k: v for k, v in d.items() if k != "reference"})


def test_fit_is_reproducible_from_its_seed(features):
    train = features[0]
    a, b, c = ms.fit(train, 1, FPR), ms.fit(train, 1, FPR), ms.fit(train, 2, FPR)
    np.testing.assert_array_equal(a.reference, b.reference)
    assert a.threshold == b.threshold
    assert not np.array_equal(a.calibration_scores, c.calibration_scores)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"train_features": np.ones((100, 21))}, r"train_features must have shape \(n, 22\)"),
        ({"fpr": 0.0}, r"fpr must lie in \(0, 1\)"),
        ({"fpr": 1.5}, r"fpr must lie in \(0, 1\)"),
        ({"fpr": 0.001}, r"500 rows: 125 calibration rows .* fpr=0.001 needs >= 999 calibration rows"),
        ({"fpr": 0.002, "max_calibration": 100}, r"max_calibration must be >= 499 for fpr=0.002"),
        ({"k": 0}, r"k must be >= 1"),
        ({"calibration_fraction": 1.0}, r"calibration_fraction must lie in \(0, 1\)"),
        ({"max_reference": 3}, r"max_reference must be >= k=10"),
        ({"seed": -1}, r"seed must be non-negative"),
    ],
)
def test_fit_rejects_bad_arguments_naming_them(features, kwargs, message):
    args = {"train_features": features[0], "seed": 0, "fpr": FPR, **kwargs}
    with pytest.raises(ValueError, match=message):
        ms.fit(**args)


def test_fit_rejects_non_finite_rows(features):
    x = features[0].copy()
    x[[3, 9], 4] = np.nan
    with pytest.raises(ValueError, match=r"2 rows with NaN or inf \(first: row 3\)"):
        ms.fit(x, 0, FPR)


def test_score_checks_x(model):
    with pytest.raises(ValueError, match=r"x must have shape \(22,\)"):
        ms.score(model, np.ones(21))
    with pytest.raises(ValueError, match=r"x must be one feature vector"):
        ms.score(model, np.ones((2, 22)))
    with pytest.raises(ValueError, match="NaN or inf"):
        ms.score(model, np.full(22, np.nan))
