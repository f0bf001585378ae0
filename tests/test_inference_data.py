"""Inference half: dataset checks, targets and folds (fast; real files, no mocks)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from workflow.contract import PARAM_NAMES, TARGET_NAMES
from workflow.h5io import OutputError, config_hash
from workflow.inference.dataset import (
    DatasetError,
    compute_targets,
    load_dataset,
    read_prepared,
    write_prepared,
)
from workflow.inference.explain import ShapResult, read_shap, write_shap
from workflow.inference.folds import assign_folds, split
from workflow.inference.synthetic import write_synthetic_dataset

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.h5"
    write_synthetic_dataset(path, 200, seed=1, invalid_fraction=0.1)
    return path


def _edit(path: Path, fn) -> Path:
    with h5py.File(path, "r+") as fh:
        fn(fh)
    return path


def test_good_dataset_loads_valid_rows_only(good: Path):
    data = load_dataset(good)
    with h5py.File(good) as fh:
        valid = fh["valid"][()]
        params = fh["params"][()]
    assert len(data.sample_id) == valid.sum() < 200
    assert data.features.shape == (valid.sum(), 22)
    assert np.isfinite(data.features).all()  # invalid rows carry NaN features and are dropped
    np.testing.assert_allclose(data.targets, compute_targets(params[valid], PARAM_NAMES))
    assert data.target_names == TARGET_NAMES


def test_ei_net_formula():
    p = np.array([[2.0, 4.0, -10.0, -20.0, 0.5, 3.0, 30.0]])  # J_EE, J_IE, J_EI, J_II, ...
    t = compute_targets(p, PARAM_NAMES)
    assert t[0, 0] == pytest.approx((2.0 / -10.0) / (4.0 / -20.0))  # (J_EE/J_EI)/(J_IE/J_II) = 1
    np.testing.assert_array_equal(t[0, 1:], [0.5, 3.0, 30.0])


def test_params_are_found_by_name_not_position(good: Path):
    ref = load_dataset(good)

    def permute(fh):
        p = fh["params"][()]
        names = [str(n) for n in fh["params"].attrs["names"]]
        del fh["params"]
        fh.create_dataset("params", data=p[:, ::-1]).attrs["names"] = names[::-1]

    np.testing.assert_allclose(load_dataset(_edit(good, permute)).targets, ref.targets)


def _drop(key):
    return lambda fh: fh.__delitem__(key)


def _drop_names(key):
    return lambda fh: fh[key].attrs.__delitem__("names")


def _truncate(key):
    def fn(fh):
        arr, attrs = fh[key][()], dict(fh[key].attrs)
        del fh[key]
        d = fh.create_dataset(key, data=arr[:-3])
        for k, v in attrs.items():
            d.attrs[k] = v

    return fn


def _nan_in_valid(key, col=0):
    def fn(fh):
        arr = fh[key][()]
        row = int(np.flatnonzero(fh["valid"][()])[5])
        arr[row, col] = np.nan if key != "params" else np.inf
        fh[key][...] = arr

    return fn


def _short_names(fh):
    fh["features"].attrs["names"] = [str(n) for n in fh["features"].attrs["names"]][:-1]


def _missing_param(fh):
    names = [str(n) for n in fh["params"].attrs["names"]]
    fh["params"].attrs["names"] = ["X" if n == "J_II" else n for n in names]


def _dup_ids(fh):
    ids = fh["sample_id"][()]
    ids[1] = ids[0]
    fh["sample_id"][...] = ids


BAD_CASES = {
    "missing params": (_drop("params"), "missing dataset"),
    "missing features": (_drop("features"), "missing dataset"),
    "missing rates": (_drop("rates"), "missing dataset"),
    "missing valid": (_drop("valid"), "missing dataset"),
    "missing sample_id": (_drop("sample_id"), "missing dataset"),
    "params without names": (_drop_names("params"), "'params' has no 'names'"),
    "features without names": (_drop_names("features"), "'features' has no 'names'"),
    "rates without names": (_drop_names("rates"), "'rates' has no 'names'"),
    "names shorter than columns": (_short_names, "columns but its 'names'"),
    "short features": (_truncate("features"), "mismatched lengths"),
    "short valid": (_truncate("valid"), "mismatched lengths"),
    "short sample_id": (_truncate("sample_id"), "mismatched lengths"),
    "NaN feature in valid row": (_nan_in_valid("features", 3), "non-finite values"),
    "inf param in valid row": (_nan_in_valid("params", 2), "non-finite values"),
    "NaN rate in valid row": (_nan_in_valid("rates", 1), "non-finite values"),
    "param column missing": (_missing_param, "lack ['J_II']"),
    "duplicate sample ids": (_dup_ids, "duplicate"),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_dataset_fails_naming_file_and_problem(good: Path, case: str):
    edit, expected = BAD_CASES[case]
    _edit(good, edit)
    with pytest.raises(DatasetError) as err:
        load_dataset(good)
    msg = str(err.value)
    assert str(good) in msg
    assert expected in msg


def test_missing_and_unreadable_files(tmp_path: Path):
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "nope.h5")
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    with pytest.raises(DatasetError, match="not a readable HDF5"):
        load_dataset(junk)


def test_too_few_valid_rows(good: Path):
    with pytest.raises(DatasetError, match="valid row"):
        load_dataset(good, min_valid_rows=10_000)


def test_nan_in_invalid_rows_is_fine(good: Path):
    with h5py.File(good) as fh:
        assert np.isnan(fh["features"][()][~fh["valid"][()]]).all()
    load_dataset(good)


def test_zero_weight_gives_nonfinite_target(good: Path):
    def zero(fh):
        p = fh["params"][()]
        p[np.flatnonzero(fh["valid"][()])[0], PARAM_NAMES.index("J_EI")] = 0.0
        fh["params"][...] = p

    with pytest.raises(DatasetError, match="EI_net"):
        load_dataset(_edit(good, zero))


@pytest.mark.parametrize("n,k", [(100, 10), (101, 10), (37, 3), (10, 10)])
def test_folds_disjoint_cover_balanced(n: int, k: int):
    ids = np.arange(1000, 1000 + n)
    fold = assign_folds(ids, k, seed=7)
    tests = [split(fold, i)[1] for i in range(k)]
    allidx = np.concatenate(tests)
    assert len(allidx) == n and len(np.unique(allidx)) == n  # disjoint and covering
    sizes = [len(t) for t in tests]
    assert max(sizes) - min(sizes) <= 1
    for i in range(k):
        train, test = split(fold, i)
        assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == n


def test_folds_deterministic_from_seed_and_order_free():
    ids = np.arange(500)
    a = assign_folds(ids, 10, seed=3)
    np.testing.assert_array_equal(a, assign_folds(ids, 10, seed=3))
    assert (a != assign_folds(ids, 10, seed=4)).any()
    perm = np.random.default_rng(0).permutation(500)
    np.testing.assert_array_equal(assign_folds(ids[perm], 10, seed=3), a[perm])


def test_folds_reject_bad_k():
    with pytest.raises(ValueError, match="k must be"):
        assign_folds(np.arange(10), 1, seed=0)
    with pytest.raises(ValueError, match="cannot be split"):
        assign_folds(np.arange(5), 10, seed=0)


def test_prepared_roundtrip(good: Path, tmp_path: Path):
    data = load_dataset(good)
    fold = assign_folds(data.sample_id, 5, seed=1)
    write_prepared(tmp_path / "p.h5", data, fold, {"k_folds": 5, "seed": 1}, source=str(good))
    back, fold2 = read_prepared(tmp_path / "p.h5")
    np.testing.assert_array_equal(back.features, data.features)
    np.testing.assert_array_equal(back.targets, data.targets)
    np.testing.assert_array_equal(fold2, fold)
    assert back.feature_names == data.feature_names


def _shap_result(n: int = 3, n_feat: int = 22) -> ShapResult:
    rng = np.random.default_rng(0)
    return ShapResult(
        values=rng.normal(size=(n, n_feat, 4, 2)),
        base_values=rng.normal(size=(n, 4, 2)),
        outputs=rng.normal(size=(n, 4, 2)),
        rows=rng.normal(size=(n, n_feat)),
        sample_id=np.arange(n, dtype=np.int64),
        accepted_fraction=rng.uniform(size=n),
        truncation_weight=np.ones(n),
        meta={"n_rows": n},
    )


def _write_prepared(good: Path):
    data = load_dataset(good)
    fold = assign_folds(data.sample_id, 5, seed=1)
    return lambda path, config, **kw: write_prepared(path, data, fold, config, **kw)


def _write_shap(good: Path):
    names = [f"f{i}" for i in range(22)]
    return lambda path, config, **kw: write_shap(path, _shap_result(), names, list(TARGET_NAMES), config, **kw)


WRITERS = {"prepared": _write_prepared, "shap": _write_shap}


@pytest.mark.parametrize("kind", list(WRITERS))
def test_inference_outputs_carry_provenance(good: Path, tmp_path: Path, kind: str):
    config = {"k_folds": 5, "seed": 1}
    path = tmp_path / f"{kind}.h5"
    WRITERS[kind](good)(path, config, source="x.h5", seed=1)
    with h5py.File(path) as fh:
        attrs = dict(fh.attrs)
    assert attrs["config_hash"] == config_hash(config)
    assert attrs["git_commit"] and attrs["package_versions"] and attrs["schema_version"]
    assert attrs["source"] == "x.h5" and attrs["seed"] == 1
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]  # no temporary file left


class _Unstorable:
    """An attribute value that h5py cannot store: the write fails inside the writer."""


@pytest.mark.parametrize("kind", list(WRITERS))
def test_failed_inference_write_leaves_no_file_and_keeps_the_old_one(good: Path, tmp_path: Path, kind: str):
    write = WRITERS[kind](good)
    fresh = tmp_path / f"fresh-{kind}.h5"
    with pytest.raises(TypeError):
        write(fresh, {"seed": 1}, bad=_Unstorable())
    assert not fresh.exists()

    old = tmp_path / f"old-{kind}.h5"
    write(old, {"seed": 1})
    before = old.read_bytes()
    with pytest.raises(TypeError):
        write(old, {"seed": 2}, bad=_Unstorable())
    assert old.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if kind in p.name) == [old.name]  # no temporary file left

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with pytest.raises(OutputError, match="nothing was replaced"):
        write(blocked / f"{kind}.h5", {"seed": 1})  # its folder cannot be created


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
@pytest.mark.parametrize("kind", list(WRITERS))
def test_inference_write_into_read_only_folder_is_a_clear_error(good: Path, tmp_path: Path, kind: str):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="permission denied"):
            WRITERS[kind](good)(folder / f"{kind}.h5", {"seed": 1})
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_shap_file_roundtrip(tmp_path: Path):
    res = _shap_result()
    names = [f"f{i}" for i in range(22)]
    write_shap(tmp_path / "s.h5", res, names, list(TARGET_NAMES), {"shap": {}}, fold=0)
    back = read_shap(tmp_path / "s.h5")
    np.testing.assert_array_equal(back["values"], res.values)
    assert back["feature_names"] == names and back["target_names"] == list(TARGET_NAMES)
    assert back["meta"] == res.meta


SNAKEFILE = """
configfile: "{repo}/config/config.yaml"
include: "{repo}/rules/common.smk"
include: "{repo}/rules/inference.smk"
"""


@pytest.mark.slow
def test_bad_dataset_fails_in_first_rule(tmp_path: Path):
    bad = tmp_path / "bad.h5"
    write_synthetic_dataset(bad, 60, seed=2)
    _edit(bad, _drop_names("features"))
    (tmp_path / "Snakefile").write_text(SNAKEFILE.format(repo=REPO))
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "results/inference/data.h5",
            "--cores",
            "1",
            "--config",
            f"dataset={bad}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "inference_prepare" in out
    log = (tmp_path / "logs/inference_prepare/prepare.log").read_text()
    assert str(bad) in log and "'features' has no 'names'" in log
    assert not (tmp_path / "results/inference/data.h5").exists()
