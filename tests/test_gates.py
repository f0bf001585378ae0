"""Validity gates: every preset classifies constructed rate/trace cases as its schema documents;
the paper's preset never stops a run early; the ``gates`` config section is validated; the
aggregate counts samples per status and per gate; the dataset figures are drawn."""

import json

import h5py
import numpy as np
import pytest
from helpers import write_exp_kernels

from workflow.config import ConfigError, load_config, validate_config
from workflow.contract import FEATURE_NAMES, PARAM_NAMES, Status
from workflow.simulation.cost import NO_EARLY_STOP_FACTOR, sample_core_seconds
from workflow.simulation.gates import (
    GATE_ORDER,
    Gates,
    SampleMeasures,
    reason_gates,
    spectral_gates,
    status_of,
    too_many_strong_peaks,
)
from workflow.simulation.simulators import SimSettings

FS = 1600.0


def _noise(power, n=16000, seed=0):
    """A trace whose spectrum is ``power(f)`` (exact amplitudes, random phases), at FS."""
    rng = np.random.default_rng(seed)
    f = np.fft.rfftfreq(n, 1 / FS)
    x = np.sqrt(power(np.maximum(f, f[1]))) * np.exp(2j * np.pi * rng.random(f.size))
    x[0] = 0.0
    return np.fft.irfft(x, n) * 100.0


TRACE = _noise(lambda f: f**-2.0)  # LFP-like: 1/f^2


def _gates(preset, **thresholds):
    cfg = load_config(overrides={"gates": {"preset": preset, preset: thresholds}})
    return Gates.from_config(cfg["gates"])


def _m(e, i, run=None, trace=TRACE, features=None, why=""):
    feats = np.zeros(len(FEATURE_NAMES)) if features is None else features
    run = np.array([e, i]) if run is None else np.asarray(run, dtype=float)
    return SampleMeasures(np.array([e, i], dtype=float), run, trace, FS, feats, why)


NAN22 = np.full(len(FEATURE_NAMES), np.nan)


@pytest.mark.parametrize(
    "preset, measures, status, gates",
    [
        # paper_2024: no rate gate; only a constant dipole moment and NaN features are dropped
        ("paper_2024", _m(5.0, 10.0), Status.OK, []),
        ("paper_2024", _m(450.0, 480.0), Status.OK, []),
        ("paper_2024", _m(0.01, 0.0), Status.OK, []),
        ("paper_2024", _m(0.0, 0.0), Status.FLAT_LFP, ["flat_lfp"]),
        ("paper_2024", _m(5.0, 10.0, trace=np.full(1280, 3.0)), Status.FLAT_LFP, ["flat_lfp"]),
        ("paper_2024", _m(5.0, 10.0, trace=1e-11 * (np.arange(1280) % 2)), Status.FLAT_LFP,
         ["flat_lfp"]),
        ("paper_2024", _m(5.0, 10.0, features=NAN22, why="catch22 returned non-finite features"),
         Status.NAN_FEATURES, ["nan_features"]),
        # rate_window: [0.1, 200] Hz
        ("rate_window", _m(5.0, 10.0), Status.OK, []),
        ("rate_window", _m(0.1, 200.0), Status.OK, []),
        ("rate_window", _m(0.05, 5.0), Status.SILENT, ["silent"]),
        ("rate_window", _m(150.0, 250.0), Status.HIGH_RATE, ["high_rate"]),
        ("rate_window", _m(0.05, 250.0), Status.SILENT, ["high_rate", "silent"]),
        ("rate_window", _m(5.0, 10.0, features=NAN22, why="x"), Status.NAN_FEATURES, ["nan_features"]),
        # ncpi_2026 rate gates: E <= 20, I <= 40, 1.5 E <= I <= 10 E, whole-run rate <= 50 Hz
        ("ncpi_2026", _m(5.0, 10.0), Status.OK, []),
        ("ncpi_2026", _m(20.0, 40.0), Status.OK, []),
        ("ncpi_2026", _m(4.0, 6.0), Status.OK, []),
        ("ncpi_2026", _m(4.0, 40.0), Status.OK, []),
        ("ncpi_2026", _m(25.0, 39.0), Status.HIGH_RATE, ["E_rate_above_max"]),
        ("ncpi_2026", _m(10.0, 45.0), Status.HIGH_RATE, ["I_rate_above_max"]),
        ("ncpi_2026", _m(10.0, 14.0), Status.EI_RATIO, ["I_below_min_ratio_E"]),
        ("ncpi_2026", _m(2.0, 25.0), Status.EI_RATIO, ["I_above_max_ratio_E"]),
        ("ncpi_2026", _m(30.0, 20.0), Status.HIGH_RATE, ["E_rate_above_max", "I_below_min_ratio_E"]),
        ("ncpi_2026", _m(10.0, 20.0, run=[12.0, 60.0]), Status.HIGH_RATE, ["run_rate_above_max"]),
        ("ncpi_2026", _m(0.0, 0.0), Status.FLAT_LFP, ["flat_lfp"]),
        ("ncpi_2026", _m(0.0, 0.5), Status.EI_RATIO, ["I_above_max_ratio_E"]),
    ],
)  # fmt: skip
def test_preset_classifies_as_documented(preset, measures, status, gates):
    g = _gates(preset, spectrum={"enabled": False}) if preset == "ncpi_2026" else _gates(preset)
    got, reason = g.classify(measures)
    assert got == status, reason
    assert reason_gates(reason) == gates
    assert (reason == "") == (status == Status.OK)


def test_paper_preset_keeps_any_rate():
    """Only a network silent after the transient fails paper_2024 on rates (its dipole moment is constant)."""
    g = _gates("paper_2024")
    for e in (0.0, 1e-3, 0.5, 20.0, 199.0, 201.0, 499.0):
        for i in (0.0, 1e-3, 40.0, 450.0):
            status, _ = g.classify(_m(e, i))
            assert status == (Status.FLAT_LFP if e == i == 0 else Status.OK), (e, i)


def test_ncpi_spectral_gates_on_constructed_traces():
    pytest.importorskip("specparam")
    g = _gates("ncpi_2026")
    assert g.classify(_m(5.0, 10.0))[0] == Status.OK  # 1/f^2: exponent ~2, R^2 ~0.99
    rising = _noise(lambda f: f**1.0)
    status, reason = g.classify(_m(5.0, 10.0, trace=rising))
    assert status == Status.SPECTRUM and reason_gates(reason) == ["negative_exponent"]
    white = np.random.default_rng(1).normal(size=16000)  # no aperiodic component: R^2 ~0.3
    status, reason = g.classify(_m(5.0, 10.0, trace=white))
    assert status == Status.SPECTRUM
    assert reason_gates(reason) == ["specparam_fit_rejected", "non_finite_exponent"]
    # the rate gates come first, the spectral ones are still listed
    status, reason = g.classify(_m(25.0, 40.0, trace=rising))
    assert status == Status.HIGH_RATE and reason_gates(reason) == ["E_rate_above_max", "negative_exponent"]


def test_strong_peak_rule():
    spec = load_config()["gates"]["ncpi_2026"]["spectrum"]
    assert too_many_strong_peaks(np.array([1.0, 0.95, 0.92]), spec)  # 3 within 90 % of 1.0 > 0.4
    assert not too_many_strong_peaks(np.array([1.0, 0.95, 0.85]), spec)  # 0.85 < 0.9
    assert not too_many_strong_peaks(np.array([0.35, 0.34, 0.33]), spec)  # strongest below 0.4
    assert not too_many_strong_peaks(np.array([1.0, 0.95]), spec)
    assert not too_many_strong_peaks(np.empty(0), spec)


def test_spectral_gates_name_a_failed_fit():
    pytest.importorskip("specparam")
    spec = load_config()["gates"]["ncpi_2026"]["spectrum"]
    names = [n for n, _ in spectral_gates(np.zeros(3), FS, spec)]  # too short to fit
    assert names == ["specparam_fit_rejected", "non_finite_exponent"]


def test_status_is_the_first_gate_in_order_and_reason_names_all():
    status, reason = status_of([("too_many_strong_peaks", "a"), ("silent", "b: c"), ("flat_lfp", "d")])
    assert status == Status.SILENT
    assert reason == "too_many_strong_peaks: a; silent: b: c; flat_lfp: d"
    assert reason_gates(reason) == ["too_many_strong_peaks", "silent", "flat_lfp"]
    assert status_of([]) == (Status.OK, "")
    assert {s for _, s in GATE_ORDER} == set(Status) - {Status.OK, Status.NOT_RUN}


# -- early stop -------------------------------------------------------------------------------


def test_early_stop_belongs_to_the_preset():
    assert SimSettings.from_config(load_config()).abort_rate_hz is None  # paper_2024, the default
    assert SimSettings.from_config(load_config(overrides={"gates": {"preset": "rate_window"}})).abort_rate_hz == 200.0
    ncpi = {"preset": "ncpi_2026", "ncpi_2026": {"spectrum": {"enabled": False}}}
    assert SimSettings.from_config(load_config(overrides={"gates": ncpi})).abort_rate_hz == 50.0
    cfg = load_config(overrides={"gates": {"preset": "rate_window", "rate_window": {"abort_rate_hz": None}}})
    assert SimSettings.from_config(cfg).abort_rate_hz is None


def test_paper_preset_runs_a_runaway_network_to_the_end_and_keeps_it(tmp_path):
    """A network far above every rate gate: rate_window stops it, paper_2024 runs it to tstop and keeps it."""
    from workflow.simulation.kernels import read_kernels
    from workflow.simulation.network import make_theta
    from workflow.simulation.sample import SampleContext, run_sample

    theta = make_theta({"J_EE": 4.0, "J_IE": 4.0, "J_EI": -1.0, "J_II": -1.0, "J_ext": 50.0})
    row = np.array([theta[k] for k in PARAM_NAMES])
    kernels, attrs = read_kernels(write_exp_kernels(tmp_path / "k.h5"))
    base = {"simulation": {"tstop_ms": 300.0, "transient_ms": 100.0}, "network": {"scale": 0.02}}
    out = {}
    for preset in ("paper_2024", "rate_window"):
        cfg = load_config(overrides={**base, "gates": {"preset": preset}})
        ctx = SampleContext.from_config(cfg, kernels, float(attrs["dt_ms"]))
        out[preset] = run_sample(0, row, ctx)
    stopped = out["rate_window"]
    assert stopped.status == Status.RUNAWAY and reason_gates(stopped.reason) == ["runaway"]
    kept = out["paper_2024"]
    assert kept.status == Status.OK, kept.reason
    assert kept.rates.max() > 200.0 and np.all(np.isfinite(kept.features))
    assert kept.lfp is not None and kept.lfp.size == ctx.lfp_len  # ran to tstop


def test_cost_model_charges_the_runs_without_early_stop():
    paper = load_config()
    window = load_config(overrides={"gates": {"preset": "rate_window"}})
    assert NO_EARLY_STOP_FACTOR > 1.0
    assert sample_core_seconds(paper) > sample_core_seconds(window)


# -- config ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "gates, key",
    [
        ({"preset": "ncpi_2025"}, "gates.preset"),
        ({"paper_2024": {"abort_rate_hz": 300.0}}, "gates.paper_2024.abort_rate_hz"),
        ({"preset": "rate_window", "rate_window": {"min_rate_hz": 300.0}}, "gates.rate_window.min_rate_hz"),
        ({"rate_window": {"max_rate_hz": 0.0}}, "gates.rate_window.max_rate_hz"),
        ({"ncpi_2026": {"max_rate_E": 20.0}}, "gates.ncpi_2026.max_rate_E"),
        ({"preset": "ncpi_2026", "ncpi_2026": {"min_ratio_I_E": 12.0}}, "gates.ncpi_2026.min_ratio_I_E"),
        ({"ncpi_2026": {"spectrum": {"freq_range_hz": [5.0]}}}, "gates.ncpi_2026.spectrum.freq_range_hz"),
        ({"preset": "ncpi_2026", "ncpi_2026": {"spectrum": {"freq_range_hz": [200.0, 5.0]}}},
         "gates.ncpi_2026.spectrum.freq_range_hz"),
        ({"lfp_min_std": -1.0}, "gates.lfp_min_std"),
    ],
)  # fmt: skip
def test_bad_gates_config_names_the_key(gates, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate_config({"gates": gates})


def test_rates_moved_out_of_simulation():
    with pytest.raises(ConfigError, match=r"simulation\.max_rate_hz.*unknown key"):
        validate_config({"simulation": {"max_rate_hz": 200.0}})


def test_string_overrides_are_coerced():
    """``snakemake --config gates='{...}'`` passes strings; the schema's types are restored."""
    cfg = validate_config(
        {"gates": {"preset": "rate_window", "rate_window": {"max_rate_hz": "150", "abort_rate_hz": "null"}}}
    )
    assert cfg["gates"]["rate_window"]["max_rate_hz"] == 150.0 and cfg["gates"]["rate_window"]["abort_rate_hz"] is None


# -- aggregate and figures ---------------------------------------------------------------------


def test_aggregate_counts_status_and_gates_and_figures_draw(tmp_path):
    from workflow.config import simulation_config
    from workflow.h5io import provenance_attrs
    from workflow.simulation.aggregate import aggregate
    from workflow.simulation.kernels import read_kernels
    from workflow.simulation.sample import SampleContext, SampleResult
    from workflow.simulation.shards import write_shard
    from workflow.simulation.summary import plot_dataset_summary, plot_features_vs_rate

    cfg = load_config(overrides={"gates": {"preset": "ncpi_2026", "ncpi_2026": {"spectrum": {"enabled": False}}}})
    kernels, attrs = read_kernels(write_exp_kernels(tmp_path / "k.h5"))
    ctx = SampleContext.from_config(cfg, kernels, float(attrs["dt_ms"]))
    rng = np.random.default_rng(0)
    cases = [_m(5.0, 10.0), _m(25.0, 39.0), _m(30.0, 20.0), _m(10.0, 14.0), _m(0.0, 0.0), _m(6.0, 12.0)]
    results = []
    for k, m in enumerate(cases):
        status, reason = ctx.gates.classify(m)
        feats = rng.normal(size=len(FEATURE_NAMES)) if status != Status.FLAT_LFP else NAN22
        results.append(SampleResult(k, m.rates_hz, feats, status, reason, None, 1, 0.0))
    results.append(SampleResult(6, np.array([300.0, 250.0]), NAN22, *status_of([("runaway", "stopped")]), None, 1, 0.0))
    n = len(results)
    shard, dataset = tmp_path / "shard-00000.h5", tmp_path / "dataset.h5"
    params = rng.uniform(size=(n, len(PARAM_NAMES)))
    write_shard(shard, list(range(n)), params, results, ctx, False, provenance_attrs(simulation_config(cfg)))
    summary = aggregate([shard], dataset, simulation_config(cfg))
    assert summary["n_valid"] == 2
    counts = {k: v for k, v in summary["status_counts"].items() if v}
    assert counts == {"OK": 2, "HIGH_RATE": 2, "EI_RATIO": 1, "FLAT_LFP": 1, "RUNAWAY": 1}
    assert summary["gate_counts"] == {
        "E_rate_above_max": 2, "I_below_min_ratio_E": 2, "flat_lfp": 1, "runaway": 1,
    }  # fmt: skip
    with h5py.File(dataset, "r") as d:
        assert json.loads(d.attrs["summary"])["gate_counts"] == summary["gate_counts"]
    plot_dataset_summary(dataset, None, tmp_path / "summary.png")
    plot_features_vs_rate(dataset, tmp_path / "features.png")
    assert (tmp_path / "summary.png").stat().st_size > 10_000 and (tmp_path / "features.png").stat().st_size > 10_000
