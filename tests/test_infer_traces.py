"""Recorded traces in the campaign's form (workflow.infer.traces): the campaign's LFP rate and
length from its config (checked against lfp_proxy itself), the three formats, every bad input
stopped with a message naming the file and the problem, resampling that keeps a sine's
frequency and removes what would alias, campaign-length windows, catch22 as the campaign computes it."""

import re

import h5py
import numpy as np
import pytest

from workflow.config import ConfigError, load_config
from workflow.contract import FEATURE_NAMES
from workflow.infer import traces as tr
from workflow.infer.traces import (
    CampaignTiming,
    TraceError,
    campaign_timing,
    load_trace,
    prepare_traces,
    resample,
    resample_ratio,
    windows,
)
from workflow.simulation.features import catch22
from workflow.simulation.lfp import lfp_proxy

TINY = {"simulation": {"dt_ms": 0.0625, "tstop_ms": 700.0, "transient_ms": 200.0}, "lfp": {"decimate": 10}}
TIMING = campaign_timing(TINY)  # 1600 Hz, 800 points (0.5 s)


def _cfg(dt_ms, tstop_ms, transient_ms, decimate):
    return {
        "simulation": {"dt_ms": dt_ms, "tstop_ms": tstop_ms, "transient_ms": transient_ms},
        "lfp": {"decimate": decimate},
    }


def _signal(n, fs=1000.0, seed=0):
    """A varying test trace: a 10 Hz sine plus noise (any real recording would do)."""
    t = np.arange(n) / fs
    return np.sin(2 * np.pi * 10 * t) + 0.3 * np.random.default_rng(seed).normal(size=n)


# --- the campaign's rate and length -------------------------------------------------------------


def test_timing_of_the_tiny_campaign():
    assert TIMING == CampaignTiming(fs_hz=1600.0, n_points=800)
    assert TIMING.duration_s == pytest.approx(0.5)
    assert campaign_timing(load_config(["config/config.yaml", "tests/config/tiny.yaml"])) == TIMING


@pytest.mark.parametrize(
    "dt_ms, tstop_ms, transient_ms, decimate",
    [
        (0.0625, 700.0, 200.0, 10),
        (0.0625, 1000.0, 200.0, 10),
        (0.0625, 1500.0, 500.0, 10),
        (0.1, 1000.5, 200.0, 10),  # tstop/dt = 10005 bins, not a multiple of decimate
        (0.1, 300.0, 0.0, 1),
        (0.05, 512.3, 112.35, 7),
    ],
)
def test_timing_matches_lfp_proxy(dt_ms, tstop_ms, transient_ms, decimate):
    """The length is that of lfp_proxy's output for a campaign sample: ceil(n_bins / decimate)
    decimated points minus round(transient / (dt * decimate)); the rate is 1000 / (dt * decimate)."""
    timing = campaign_timing(_cfg(dt_ms, tstop_ms, transient_ms, decimate))
    n_bins = int(round(tstop_ms / dt_ms))
    rng = np.random.default_rng(0)
    counts = {p: rng.poisson(2.0, n_bins) for p in ("E", "I")}
    kernels = {p: np.array([0.0, 1.0, 0.5]) for p in ("E", "I")}
    proxy = lfp_proxy(counts, kernels, {"E": 1.0, "I": 1.0}, dt_ms, transient_ms, decimate)
    assert timing.n_points == proxy.size
    assert timing.fs_hz == pytest.approx(1000.0 / (dt_ms * decimate))
    simple = round((tstop_ms - transient_ms) / (dt_ms * decimate))
    if n_bins % decimate == 0:
        assert timing.n_points == simple
    else:
        assert timing.n_points - simple in (0, 1)


@pytest.mark.parametrize(
    "cfg, key",
    [
        ({"simulation": {"dt_ms": 0.1, "tstop_ms": 500.0}, "lfp": {"decimate": 10}}, "simulation.transient_ms"),
        ({"simulation": {"dt_ms": 0.1, "tstop_ms": 500.0, "transient_ms": 0.0}}, "lfp.decimate"),
        (_cfg(0.1, 500.0, 0.0, 0), "lfp.decimate"),
        (_cfg(0.1, 500.0, 0.0, 2.5), "lfp.decimate"),
        (_cfg(0.0, 500.0, 0.0, 10), "simulation.dt_ms"),
        (_cfg(0.1, 500.0, 500.0, 10), "simulation.transient_ms"),
        (_cfg(0.1, 500.05, 0.0, 10), "simulation.tstop_ms"),
        (_cfg(0.1, "500", 0.0, 10), "simulation.tstop_ms"),
        (_cfg(0.1, 500.0, 450.0, 10), "simulation.tstop_ms"),  # 50 points: too short for catch22
    ],
)
def test_timing_rejects_a_bad_config_naming_the_key(cfg, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        campaign_timing(cfg)


# --- the three formats ---------------------------------------------------------------------------


def test_npy_round_trip(tmp_path):
    x = _signal(2000)
    np.save(tmp_path / "a.npy", x.astype(np.float32))
    t = load_trace(tmp_path / "a.npy", fs_hz=1000.0)
    assert t.values.dtype == np.float64 and t.fs_hz == 1000.0
    np.testing.assert_array_equal(t.values, x.astype(np.float32))
    assert t.duration_s == pytest.approx(2.0)


@pytest.mark.parametrize("header", ["", "lfp_uV\n", "channel 3 (uV)\n"])
def test_csv_round_trip_with_optional_header(tmp_path, header):
    x = _signal(1500)
    (tmp_path / "a.csv").write_text(header + "\n".join(repr(float(v)) for v in x) + "\n\n")
    np.testing.assert_array_equal(load_trace(tmp_path / "a.csv", fs_hz=1000.0).values, x)


def test_h5_round_trip_single_dataset_with_fs_attribute(tmp_path):
    x = _signal(3000)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.create_dataset("rec/lfp", data=x).attrs["fs_hz"] = 2000.0
        f.create_dataset("meta/shape", data=np.ones((2, 3)))  # not a candidate: 2-D
    t = load_trace(tmp_path / "a.h5")
    np.testing.assert_array_equal(t.values, x)
    assert t.fs_hz == 2000.0


def test_h5_named_dataset_among_several_and_file_level_fs(tmp_path):
    x, y = _signal(3000), _signal(3000, seed=1)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.create_dataset("ch0", data=x)
        f.create_dataset("ch1", data=y)
        f.attrs["fs_hz"] = 1000
    t = load_trace(tmp_path / "a.h5", dataset="ch1")
    np.testing.assert_array_equal(t.values, y)
    assert t.fs_hz == 1000.0
    # the argument may repeat the attribute
    assert load_trace(tmp_path / "a.h5", fs_hz=1000.0, dataset="/ch0").fs_hz == 1000.0


# --- every bad input -----------------------------------------------------------------------------


def _h5(path, **datasets):
    with h5py.File(path, "w") as f:
        for name, data in datasets.items():
            f.create_dataset(name, data=data)
    return path


BAD = {
    "missing file": (lambda p: p / "nope.npy", {"fs_hz": 1000.0}, r"no such file"),
    "a directory": (lambda p: (p / "d.npy").mkdir() or p / "d.npy", {"fs_hz": 1000.0}, r"not a file"),
    "unknown format": (
        lambda p: (p / "a.txt").write_text("1\n2\n") and p / "a.txt",
        {"fs_hz": 1000.0},
        r"unknown trace format '\.txt'",
    ),
    "unreadable npy": (
        lambda p: (p / "a.npy").write_text("not numpy") and p / "a.npy",
        {"fs_hz": 1000.0},
        r"cannot be read as a \.npy",
    ),
    "object npy": (
        lambda p: np.save(p / "a.npy", np.array([1, "x"], dtype=object), allow_pickle=True) or p / "a.npy",
        {"fs_hz": 1000.0},
        r"cannot be read as a \.npy",
    ),
    "unreadable h5": (
        lambda p: (p / "a.h5").write_text("not hdf5") and p / "a.h5",
        {"fs_hz": 1000.0},
        r"cannot be read as an HDF5",
    ),
    "NaN": (
        lambda p: np.save(p / "a.npy", np.r_[_signal(900), np.nan, _signal(900)]) or p / "a.npy",
        {"fs_hz": 1000.0},
        r"1 NaN and 0 inf values \(first at index 900\)",
    ),
    "inf": (
        lambda p: np.save(p / "a.npy", np.r_[np.inf, _signal(1900)]) or p / "a.npy",
        {"fs_hz": 1000.0},
        r"0 NaN and 1 inf values \(first at index 0\)",
    ),
    "NaN in csv": (
        lambda p: (p / "a.csv").write_text("v\n1\nnan\n2\n") and p / "a.csv",
        {"fs_hz": 1000.0},
        r"1 NaN and 0 inf",
    ),
    "flat": (
        lambda p: np.save(p / "a.npy", np.full(5000, 3.2)) or p / "a.npy",
        {"fs_hz": 1000.0},
        r"the trace is flat \(constant 3\.2\)",
    ),
    "empty": (lambda p: np.save(p / "a.npy", np.zeros(0)) or p / "a.npy", {"fs_hz": 1000.0}, r"the trace is empty"),
    "not 1-D npy": (
        lambda p: np.save(p / "a.npy", np.ones((2, 1000))) or p / "a.npy",
        {"fs_hz": 1000.0},
        r"must be 1-D, got shape \(2, 1000\)",
    ),
    "not 1-D h5": (
        lambda p: _h5(p / "a.h5", x=np.ones((1000, 2))),
        {"fs_hz": 1000.0, "dataset": "x"},
        r"must be 1-D, got shape \(1000, 2\)",
    ),
    "complex": (
        lambda p: np.save(p / "a.npy", _signal(1000) + 1j) or p / "a.npy",
        {"fs_hz": 1000.0},
        r"must hold real numbers",
    ),
    "two csv columns": (
        lambda p: (p / "a.csv").write_text("t,v\n0,1\n1,2\n") and p / "a.csv",
        {"fs_hz": 1000.0},
        r"line 1 has 2 columns; a \.csv trace holds one numeric column",
    ),
    "non-numeric csv row": (
        lambda p: (p / "a.csv").write_text("v\n1\n2\nabc\n") and p / "a.csv",
        {"fs_hz": 1000.0},
        r"line 4: 'abc' is not a number",
    ),
    "no sampling rate (npy)": (
        lambda p: np.save(p / "a.npy", _signal(2000)) or p / "a.npy",
        {},
        r"no sampling rate: give --fs / fs_hz$",
    ),
    "no sampling rate (h5)": (
        lambda p: _h5(p / "a.h5", lfp=_signal(2000)),
        {},
        r"no sampling rate: give --fs / fs_hz and the file has no 'fs_hz' attribute",
    ),
    "bad sampling rate": (
        lambda p: np.save(p / "a.npy", _signal(2000)) or p / "a.npy",
        {"fs_hz": -5.0},
        r"must be positive and finite \(Hz\), got -5\.0",
    ),
    "sampling rates disagree": (
        lambda p: _h5(p / "a.h5", lfp=_signal(2000)) and _set_fs(p / "a.h5", 2000.0),
        {"fs_hz": 1000.0},
        r"sampling rate given \(1000\.0 Hz\) disagrees with its 'fs_hz' \(2000\.0 Hz\)",
    ),
    "several h5 candidates": (
        lambda p: _h5(p / "a.h5", ch0=_signal(2000), ch1=_signal(2000), ch2=np.ones((3, 3))),
        {"fs_hz": 1000.0},
        r"several 1-D datasets \(ch0, ch1\); name one with --dataset",
    ),
    "no h5 candidate": (
        lambda p: _h5(p / "a.h5", img=np.ones((3, 3))),
        {"fs_hz": 1000.0},
        r"no 1-D numeric dataset \(datasets: img \(3, 3\)\)",
    ),
    "named h5 dataset missing": (
        lambda p: _h5(p / "a.h5", ch0=_signal(2000)),
        {"fs_hz": 1000.0, "dataset": "ch9"},
        r"has no dataset 'ch9' \(datasets: ch0 \(2000,\)\)",
    ),
}


def _set_fs(path, fs):
    with h5py.File(path, "a") as f:
        f["lfp"].attrs["fs_hz"] = fs
    return path


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_names_the_file_and_the_problem(tmp_path, case):
    make, kwargs, message = BAD[case]
    path = make(tmp_path)
    with pytest.raises(TraceError, match=re.escape(str(path)) + ": .*" + message):
        prepare_traces([path], TIMING, **kwargs)


def test_too_short_says_how_long_it_must_be(tmp_path):
    np.save(tmp_path / "a.npy", _signal(400))  # 0.4 s at 1 kHz; the campaign needs 0.5 s
    with pytest.raises(TraceError) as err:
        prepare_traces([tmp_path / "a.npy"], TIMING, fs_hz=1000.0)
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'a.npy'}: the trace is shorter than the campaign's")
    assert "400 points at 1000 Hz (0.4 s)" in msg
    assert "at least 0.5 s (800 points at the campaign's 1600 Hz, 500 points at 1000 Hz)" in msg
    np.save(tmp_path / "b.npy", _signal(500))  # exactly long enough
    assert prepare_traces([tmp_path / "b.npy"], TIMING, fs_hz=1000.0)[0].windows.shape == (1, 800)


def test_every_trace_is_checked_before_any_feature_is_computed(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(tr, "catch22", lambda w: calls.append(w) or catch22(w))
    np.save(tmp_path / "good.npy", _signal(3000))
    np.save(tmp_path / "bad.npy", np.r_[_signal(3000), np.nan])
    with pytest.raises(TraceError, match="bad.npy"):
        prepare_traces([tmp_path / "good.npy", tmp_path / "bad.npy"], TIMING, fs_hz=1000.0)
    # a dropout (zeros) makes a window of a later trace flat, up to the resampling filter's residue
    # (1e-7 of the trace's scale at its end): still nothing computed
    np.save(tmp_path / "gap.npy", np.r_[_signal(1000), np.zeros(1000)])
    with pytest.raises(TraceError, match=r"gap\.npy: window 3 \(points 2400-3199\) is flat"):
        prepare_traces([tmp_path / "good.npy", tmp_path / "gap.npy"], TIMING, fs_hz=1000.0)
    assert calls == []


def test_dataset_is_ignored_for_other_formats(tmp_path):
    np.save(tmp_path / "a.npy", _signal(2000))
    assert load_trace(tmp_path / "a.npy", fs_hz=1000.0, dataset="lfp").values.size == 2000


# --- resampling ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fs_in, fs_out, expected",
    [(16000.0, 1600.0, (1, 10)), (30000.0, 1600.0, (4, 75)), (1600.0, 1600.0, (1, 1)), (1000.0, 1600.0, (8, 5))],
)
def test_resample_ratio(fs_in, fs_out, expected):
    assert resample_ratio(fs_in, fs_out) == expected


def test_resample_ratio_of_an_awkward_rate_is_close():
    up, down = resample_ratio(1017.3, 1600.0)
    assert down <= tr.MAX_DENOMINATOR
    assert abs(up / down - 1600.0 / 1017.3) <= tr.RATIO_RTOL * 1600.0 / 1017.3
    with pytest.raises(ValueError, match="fs_in_hz"):
        resample_ratio(0.0, 1600.0)


def _peak_hz(x, fs):
    f = np.fft.rfftfreq(x.size, 1 / fs)
    return f[np.argmax(np.abs(np.fft.rfft(x * np.hanning(x.size))))]


@pytest.mark.parametrize("fs_in", [500.0, 1000.0, 1017.3, 16000.0, 30000.0])
def test_resampling_keeps_a_sine_frequency_and_amplitude(fs_in):
    n = int(round(8.0 * fs_in))
    x = np.sin(2 * np.pi * 37.0 * np.arange(n) / fs_in)
    y = resample(x, fs_in, TIMING.fs_hz)
    up, down = resample_ratio(fs_in, TIMING.fs_hz)
    assert y.size == tr.resampled_length(n, up, down) == -(-n * up // down)
    assert _peak_hz(y, TIMING.fs_hz) == pytest.approx(37.0, abs=1.6 / 8.0)
    mid = y[y.size // 4 : 3 * y.size // 4]  # away from the edges
    assert np.sqrt(np.mean(mid**2)) == pytest.approx(np.sqrt(0.5), rel=0.01)


def test_downsampling_removes_what_would_alias():
    """A 1000 Hz component of a 20 kHz recording is above the campaign's 800 Hz Nyquist frequency:
    sampling the recording at 1600 Hz without a low-pass folds it to 600 Hz at full amplitude; the
    polyphase low-pass attenuates it by more than 40 dB."""
    fs = 20000.0
    t = np.arange(int(4 * fs)) / fs
    x = np.sin(2 * np.pi * 40 * t) + np.sin(2 * np.pi * 1000 * t)
    f = np.fft.rfftfreq(int(4 * TIMING.fs_hz), 1 / TIMING.fs_hz)

    def alias_ratio(y):
        spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
        return spec[np.argmin(np.abs(f - 600))] / spec[np.argmin(np.abs(f - 40))]

    naive = np.interp(np.arange(f.size * 2 - 2) / TIMING.fs_hz, t, x)
    assert alias_ratio(naive) > 0.5
    assert alias_ratio(resample(x, fs, TIMING.fs_hz)) < 1e-2


# --- windows and features ------------------------------------------------------------------------


def test_windows_count_and_length():
    x = np.arange(3 * 800 + 123, dtype=float)
    w = windows(x, 800)
    assert w.shape == (3, 800)
    np.testing.assert_array_equal(w.ravel(), x[:2400])
    assert not w.flags.writeable
    assert windows(x[:800], 800).shape == (1, 800)
    with pytest.raises(ValueError, match="n_points"):
        windows(x[:799], 800)


def test_prepared_trace_windows_and_features_are_the_campaigns(tmp_path):
    """A 3.3 s recording at 1 kHz: 5280 points at 1600 Hz, six windows of 800 and 480 dropped;
    each window's features are catch22's of that window."""
    x = _signal(3300)
    np.save(tmp_path / "a.npy", x)
    (p,) = prepare_traces([tmp_path / "a.npy"], TIMING, fs_hz=1000.0)
    assert (p.up, p.down, p.fs_in_hz) == (8, 5, 1000.0)
    assert p.windows.shape == (6, 800) and p.n_dropped == 480
    np.testing.assert_array_equal(p.windows.ravel(), resample(x, 1000.0, 1600.0)[:4800])
    assert p.features.shape == (6, len(FEATURE_NAMES))
    for w, f in zip(p.windows, p.features, strict=True):
        np.testing.assert_array_equal(f, catch22(w)[0])


def test_formats_give_the_same_features(tmp_path):
    x = _signal(1200)
    np.save(tmp_path / "a.npy", x)
    (tmp_path / "a.csv").write_text("\n".join(repr(float(v)) for v in x))
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.create_dataset("lfp", data=x).attrs["fs_hz"] = 1000.0
    a, b = prepare_traces([tmp_path / "a.npy", tmp_path / "a.csv"], TIMING, fs_hz=1000.0)
    (c,) = prepare_traces([tmp_path / "a.h5"], TIMING)
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.features, c.features)
