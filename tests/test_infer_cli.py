"""``python -m workflow infer``: bad input stops before anything is computed, naming the file and the
problem (fast: a real models folder trained for two epochs on synthetic rows); and end to end on the
simulated tiny campaign (slow): recordings simulated at known parameters with
``python -m workflow simulate``, white noise and a sine, through the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from infer_campaign import CONFIGFILES, campaign_config, simulated_campaign, synthetic_campaign

from workflow.__main__ import main
from workflow.config import validate_config
from workflow.contract import FEATURE_NAMES, PARAM_NAMES, TARGET_NAMES, Status
from workflow.infer import crossconformal as cc
from workflow.infer.campaign import load_campaign
from workflow.infer.posterior import SUMMARY_COLUMNS
from workflow.infer.run import MISSPECIFICATION_FPR
from workflow.inference.dataset import compute_targets
from workflow.simulation.prior import Prior

TINY = str(Path(__file__).resolve().parent / "config" / "tiny.yaml")
#: the tiny config's traces: 0.0625 ms steps decimated 10 times, 700 ms with a 200 ms transient
FS, N_POINTS = 1600.0, 800


# -- bad input (fast) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    folds, _, _ = synthetic_campaign(tmp_path_factory.mktemp("synthetic_models"), 300, k_folds=2, epochs=2)
    return folds


def _infer(capsys, *args: str) -> tuple[int, str]:
    code = main(["infer", *args])
    return code, capsys.readouterr().err


def _good(tmp_path: Path) -> Path:
    np.save(tmp_path / "good.npy", np.random.default_rng(0).normal(size=2 * N_POINTS))
    return tmp_path / "good.npy"


def _write_h5_several(path: Path) -> None:
    with h5py.File(path, "w") as f:
        f["a"] = np.random.default_rng(1).normal(size=2 * N_POINTS)
        f["b"] = np.random.default_rng(2).normal(size=2 * N_POINTS)


BAD = {
    "missing file": (lambda d: d / "absent.npy", "no such file"),
    "unknown format": (lambda d: (d / "trace.txt").write_text("1\n2\n") and d / "trace.txt", "unknown trace format"),
    "NaN": (lambda d: np.save(d / "nan.npy", np.r_[np.ones(2000), np.nan]) or d / "nan.npy", "1 NaN"),
    "inf": (lambda d: np.save(d / "inf.npy", np.r_[np.arange(2000.0), np.inf]) or d / "inf.npy", "1 inf"),
    "flat": (lambda d: np.save(d / "flat.npy", np.full(2000, 3.0)) or d / "flat.npy", "flat"),
    "too short": (
        lambda d: np.save(d / "short.npy", np.random.default_rng(3).normal(size=699)) or d / "short.npy",
        "shorter than the campaign's: 699 points at 1400 Hz (0.4993 s); it must last at least 0.5 s "
        "(800 points at the campaign's 1600 Hz, 700 points at 1400 Hz)",
    ),
    "several h5 datasets": (lambda d: _write_h5_several(d / "two.h5") or d / "two.h5", "several 1-D datasets (a, b)"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_stops_before_anything_is_computed_naming_file_and_problem(models, tmp_path, capsys, case):
    make, message = BAD[case]
    bad = make(tmp_path)
    out = tmp_path / "out"
    fs = "1400" if case == "too short" else "1600"
    # the bad trace comes last: every trace is checked before the first one is used
    code, err = _infer(capsys, str(_good(tmp_path)), str(bad), "--fs", fs, "--models", str(models),
                       "--out", str(out))  # fmt: skip
    assert code == 1
    assert err.startswith(f"error: {bad}: ") and message in err, err
    assert not out.exists()


def test_no_sampling_rate(models, tmp_path, capsys):
    good = _good(tmp_path)
    code, err = _infer(capsys, str(good), "--models", str(models), "--out", str(tmp_path / "out"))
    assert code == 1 and err.startswith(f"error: {good}: no sampling rate: give --fs")
    assert not (tmp_path / "out").exists()


def test_models_folder_without_trained_folds(tmp_path, capsys):
    (tmp_path / "folds" / "fold-0").mkdir(parents=True)
    good = _good(tmp_path)
    code, err = _infer(capsys, str(good), "--fs", "1600", "--models", str(tmp_path / "folds"), "--out",
                       str(tmp_path / "out"))  # fmt: skip
    assert code == 1 and f"{tmp_path / 'folds'}: no trained folds" in err
    code, err = _infer(capsys, str(good), "--fs", "1600", "--models", str(tmp_path / "nowhere"), "--out",
                       str(tmp_path / "out"))  # fmt: skip
    assert code == 1 and "no such models folder" in err
    assert not (tmp_path / "out").exists()


def test_partly_trained_campaign_and_missing_config_are_named(models, tmp_path, capsys):
    import shutil

    copy = tmp_path / "campaign"
    shutil.copytree(models.parent.parent, copy)
    shutil.rmtree(copy / "results" / "folds" / "fold-1")
    good = _good(tmp_path)
    code, err = _infer(capsys, str(good), "--fs", "1600", "--models", str(copy / "results" / "folds"), "--out",
                       str(tmp_path / "out"))  # fmt: skip
    assert code == 1 and "1 of the campaign's 2 folds are trained; missing: fold-1" in err
    # a dataset that records no config: the command says to give one
    shutil.copytree(models, copy / "results" / "folds", dirs_exist_ok=True)
    with h5py.File(copy / "syn.h5", "a") as f:
        del f.attrs["config_json"]
    code, err = _infer(capsys, str(good), "--fs", "1600", "--models", str(copy / "results" / "folds"), "--out",
                       str(tmp_path / "out"))  # fmt: skip
    assert code == 1 and "records no config" in err and "give the campaign's config with --configfile" in err
    assert not (tmp_path / "out").exists()


def test_the_campaign_config_comes_from_its_dataset_and_its_shap_settings_from_its_folds(models, tmp_path):
    import shutil

    copy = tmp_path / "campaign"
    shutil.copytree(models.parent.parent, copy)
    c = load_campaign(copy / "results" / "folds")
    assert c.config["simulation"]["tstop_ms"] == 700.0 and c.timing.n_points == N_POINTS
    schema_shap = validate_config({})["inference"]["shap"]
    assert c.config["inference"]["shap"] == schema_shap  # the schema's: no shap.h5 yet
    shap = {**schema_shap, "n_draws": schema_shap["n_draws"] + 3, "n_background": 3}
    with h5py.File(copy / "results" / "folds" / "fold-0" / "shap.h5", "w") as f:
        f.attrs["config_json"] = json.dumps({"shap": shap, "seed": 5})
    c = load_campaign(copy / "results" / "folds")
    assert c.config["inference"]["shap"] == shap and "shap.h5" in c.config_source
    # a config given must describe the same traces and prior as the campaign's
    bad = tmp_path / "other.yaml"
    bad.write_text("simulation:\n  tstop_ms: 900.0\n")
    with pytest.raises(ValueError, match="simulation.tstop_ms: 900 here, 700 in the dataset"):
        load_campaign(copy / "results" / "folds", [bad])
    bad.write_text("simulation:\n  tstop_ms: 700.0\n  transient_ms: 200.0\nprior:\n  J_ext: [10.0, 60.0]\n")
    with pytest.raises(ValueError, match="is not the one the models .* were trained under"):
        load_campaign(copy / "results" / "folds", [bad])


def test_an_h5_named_dataset_and_its_fs_attribute_are_used(models, tmp_path):
    path = tmp_path / "two.h5"
    _write_h5_several(path)
    with h5py.File(path, "a") as f:
        f["b"].attrs["fs_hz"] = FS
    out = tmp_path / "out"
    assert main(["infer", str(path), "--dataset", "b", "--models", str(models), "--out", str(out),
                 "--configfile", TINY, "--draws", "50"]) == 0  # fmt: skip
    with h5py.File(out / "posterior.h5") as f:
        assert f["posterior"].shape == (1, 50, 4) and f["n_windows"][0] == 2


# -- end to end on the simulated tiny campaign (slow) ------------------------------------------


@pytest.fixture(scope="module")
def campaign(tmp_path_factory) -> Path:
    return simulated_campaign(tmp_path_factory)


def _simulate(work: Path, sample_id: int, out: Path) -> tuple[np.ndarray, np.ndarray, bool]:
    """Simulate the prior draw of ``sample_id`` with ``python -m workflow simulate``: (params, lfp, valid)."""
    cfg = campaign_config(work)
    params = Prior.from_config(cfg["prior"]).draw(cfg["campaign"]["seed"], [sample_id])[0]
    cmd = [sys.executable, "-m", "workflow", "simulate", "--kernels", "results/kernels.h5", "--sample-id",
           str(sample_id), "--out", str(out)]  # fmt: skip
    cmd += [a for f in CONFIGFILES for a in ("--configfile", f)]
    cmd += [a for n, v in zip(PARAM_NAMES, params, strict=True) for a in ("--param", f"{n}={float(v)!r}")]
    res = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    with h5py.File(out) as f:
        return f["params"][0], f["lfp"][0], bool(f["status"][0] == Status.OK)


@pytest.fixture(scope="module")
def run(campaign, tmp_path_factory):
    """Two simulated recordings (.npy), white noise (1.5 s) and a 10 Hz sine (2 s), through the command line."""
    d = tmp_path_factory.mktemp("recordings")
    truths, sample_id = {}, 100_000  # beyond the campaign's sample ids: held out
    for name in ("sim_a", "sim_b"):
        valid = False
        while not valid:  # the first valid prior draws from there (a silent or flat run is no recording)
            params, lfp, valid = _simulate(campaign, sample_id, d / f"{name}.h5")
            sample_id += 1
        np.save(d / f"{name}.npy", lfp)
        truths[name] = compute_targets(params[None, :], PARAM_NAMES)[0]
    rng = np.random.default_rng(2024)
    np.save(d / "noise.npy", rng.normal(size=int(1.5 * FS)))
    np.save(d / "sine.npy", np.sin(2 * np.pi * 10.0 * np.arange(int(2 * FS)) / FS))
    out = d / "out"
    names = ["sim_a", "sim_b", "noise", "sine"]
    cmd = [sys.executable, "-m", "workflow", "infer", *(str(d / f"{n}.npy") for n in names), "--fs", str(FS),
           "--models", str(campaign / "results" / "folds"), "--out", str(out)]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr[-4000:]
    return {"dir": d, "out": out, "names": names, "truths": truths, "stdout": res.stdout}


@pytest.mark.slow
def test_posterior_file_shapes_names_and_provenance(run):
    with h5py.File(run["out"] / "posterior.h5") as f:
        post = f["posterior"]
        assert post.shape == (4, 1000, 4)
        assert [str(n) for n in post.attrs["names"]] == list(TARGET_NAMES)
        assert [s.decode() for s in f["recording"][()]] == run["names"]
        assert list(f["n_windows"][()]) == [1, 1, 3, 4]
        assert f["windows/features"].shape == (9, 22)
        assert [str(n) for n in f["windows/features"].attrs["names"]] == list(FEATURE_NAMES)
        assert f["windows/posterior"].shape == (9, 1000, 4)
        assert f["explanation/values"].shape == (1 + 1 + 3 + 4, 22, 4, 2)
        for key in ("config_hash", "git_commit", "models_config_hash", "models_git_commit", "models_sha256",
                    "campaign_config_hash", "campaign_git_commit", "package_versions"):  # fmt: skip
            assert key in f.attrs, key
        low, high = post.attrs["support_low"], post.attrs["support_high"]
        draws = post[()]
        assert np.all((draws >= low) & (draws <= high)) and np.all(np.isfinite(draws))
    table = pd.read_csv(run["out"] / "summary.csv")
    assert list(table.columns) == list(SUMMARY_COLUMNS)
    assert len(table) == 4 * 4
    assert list(table["recording"].unique()) == run["names"] and list(table["target"][:4]) == list(TARGET_NAMES)
    assert table["misspecified"].dtype == bool
    for name in run["names"]:
        assert (run["out"] / f"pairplot_{name}.png").stat().st_size > 10_000
        for target in TARGET_NAMES:
            assert (run["out"] / f"explain_{name}_{target}.png").stat().st_size > 10_000


@pytest.mark.slow
def test_each_truth_lies_in_its_95_percent_interval(run):
    with h5py.File(run["out"] / "posterior.h5") as f:
        draws = f["posterior"][()]
    for i, name in enumerate(run["names"][:2]):
        lo, hi = np.quantile(draws[i], [0.025, 0.975], axis=0)
        truth = run["truths"][name]
        assert np.all((truth >= lo) & (truth <= hi)), (name, truth, lo, hi)


@pytest.mark.slow
def test_white_noise_and_a_sine_are_flagged_and_the_simulations_are_not(run):
    table = pd.read_csv(run["out"] / "summary.csv").drop_duplicates("recording").set_index("recording")
    print(table[["score", "p_value", "misspecified"]])
    assert table.loc["noise", "misspecified"] and table.loc["sine", "misspecified"]
    assert not table.loc["sim_a", "misspecified"] and not table.loc["sim_b", "misspecified"]
    assert (table["fpr"] == MISSPECIFICATION_FPR).all()
    assert "noise: 3 window(s)" in run["stdout"] and "MISSPECIFIED" in run["stdout"]


@pytest.mark.slow
def test_a_recording_gets_the_same_posterior_alone_and_from_an_h5_with_its_rate(run, campaign):
    """The draws depend on the recording only (its digest keys the streams), not on its company or format."""
    d = run["dir"]
    with h5py.File(d / "sim_b_trace.h5", "w") as f:
        f.create_dataset("lfp", data=np.load(d / "sim_b.npy")).attrs["fs_hz"] = FS
    out = d / "alone"
    assert main(["infer", str(d / "sim_b_trace.h5"), "--models", str(campaign / "results" / "folds"),
                 "--out", str(out)]) == 0  # fmt: skip
    with h5py.File(run["out"] / "posterior.h5") as a, h5py.File(out / "posterior.h5") as b:
        np.testing.assert_array_equal(a["posterior"][1], b["posterior"][0])
        np.testing.assert_array_equal(a["explanation/values"][1], b["explanation/values"][0])


@pytest.mark.slow
def test_false_positive_rate_on_held_out_simulations(campaign):
    """Held-out simulations are flagged at about the nominal rate.

    Two measures: (1) cross-fitted on the campaign's own rows, the check of each fold refitted
    without it and applied to its rows; (2) fresh prior draws simulated with the campaign's sample
    machinery (sample ids beyond the campaign), against the check of all its rows.
    """
    from workflow.simulation.kernels import read_kernels
    from workflow.simulation.sample import SampleContext, run_sample

    c = load_campaign(campaign / "results" / "folds")
    flagged = []
    for j in np.unique(c.row_fold):
        rest = c.row_fold != j
        m = cc.fit(c.features[rest], c.row_fold[rest], c.seed, MISSPECIFICATION_FPR)
        flagged.append(m.evaluate(c.features[~rest])[1] <= MISSPECIFICATION_FPR)
    cross_fitted = float(np.concatenate(flagged).mean())

    cfg = c.config
    kernels, attrs = read_kernels(campaign / "results" / "kernels.h5")
    ctx = SampleContext.from_config(cfg, kernels, float(attrs["dt_ms"]))
    ids = list(range(200_000, 200_030))
    params = Prior.from_config(cfg["prior"]).draw(cfg["campaign"]["seed"], ids)
    feats = [r.features for r in (run_sample(i, p, ctx) for i, p in zip(ids, params, strict=True))
             if r.status == Status.OK]  # fmt: skip
    check = cc.fit(c.features, c.row_fold, c.seed, MISSPECIFICATION_FPR)
    fresh = float((check.evaluate(np.array(feats))[1] <= MISSPECIFICATION_FPR).mean())
    print(json.dumps({"cross_fitted_fpr": cross_fitted, "n_rows": len(c.features), "fresh_fpr": fresh,
                      "n_fresh": len(feats), "nominal": MISSPECIFICATION_FPR}))  # fmt: skip
    assert cross_fitted <= 0.12
    assert fresh <= 0.2
