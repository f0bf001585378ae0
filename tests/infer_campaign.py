"""Trained campaigns for the tests of ``python -m workflow infer`` (real files, real NEST, real sbi).

* :func:`simulated_campaign`: the tiny config through Snakemake (NEST, the shards, the aggregate,
  the prepared rows, the fold models), grown to 192 samples so that the misspecification check
  has a hundred-odd valid rows to calibrate on (the 24 of tests/config/tiny.yaml leave 18).
  Built once per test session, whichever module asks first, and shared
  (``INFER_TEST_CAMPAIGN=<dir>`` reuses one built before, when debugging the tests).
* :func:`synthetic_campaign`: fold models trained on the planted synthetic dataset
  (workflow/inference/synthetic.py), written in the campaign's layout (the dataset records the
  tiny config as the aggregate would), where the posteriors are informative: for the
  calibration test, and, trained for two epochs, as a quick real models folder for the
  bad-input tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
from workdir import make_workdir

from workflow.config import load_config, simulation_config
from workflow.h5io import provenance_attrs
from workflow.inference.dataset import load_dataset, write_prepared
from workflow.inference.folds import assign_folds, split
from workflow.inference.npe import NPEConfig, save_model, train_fold
from workflow.inference.synthetic import write_synthetic_dataset
from workflow.inference.targetprior import TargetPrior

TINY = "tests/config/tiny.yaml"

#: the simulated campaign: the tiny config with more samples and without the cross-check
GROW = """campaign:
  n_samples: 192
  shard_size: 48
crosscheck:
  enabled: false
"""
CONFIGFILES = (TINY, "infer.yaml")
K_FOLDS = 3

_CACHE: dict[str, Path] = {}


def simulated_campaign(tmp_path_factory) -> Path:
    """The working copy of the simulated tiny campaign with its trained folds (built once per session)."""
    if "simulated" not in _CACHE and os.environ.get("INFER_TEST_CAMPAIGN"):
        _CACHE["simulated"] = Path(os.environ["INFER_TEST_CAMPAIGN"])  # one built before (debugging the tests)
    if "simulated" not in _CACHE:
        work = make_workdir(tmp_path_factory.mktemp("infer_campaign"), kernels=True, extra_config={"infer.yaml": GROW})
        targets = [f"results/folds/fold-{k}/model.json" for k in range(K_FOLDS)]
        cmd = [sys.executable, "-m", "snakemake", *targets, "--cores", "2", "--configfile", *CONFIGFILES]
        res = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=3600)
        assert res.returncode == 0, res.stderr[-4000:]
        _CACHE["simulated"] = work
    return _CACHE["simulated"]


def campaign_config(work: Path) -> dict:
    """The simulated campaign's validated config."""
    return load_config([work / f for f in CONFIGFILES])


def synthetic_campaign(
    root: Path, n: int, *, k_folds: int = 3, epochs: int = 2, seed: int = 5, n_held_out: int = 0
) -> tuple[Path, np.ndarray, np.ndarray]:
    """Fold models trained on the planted synthetic dataset, in the campaign's layout under ``root``.

    The last ``n_held_out`` valid rows of the dataset are kept out of training (the synthetic
    features of one dataset are scaled together, so held-out rows must come from the same one).

    Returns:
        ``(models folder, held-out features (m, 22), held-out targets (m, 4))``.
    """
    root.mkdir(parents=True, exist_ok=True)
    write_synthetic_dataset(root / "syn.h5", n + n_held_out, seed=seed, invalid_fraction=0.0)
    cfg = load_config([Path(__file__).resolve().parent / "config" / "tiny.yaml"])
    with h5py.File(root / "syn.h5", "a") as fh:  # as the aggregate records it: the config of its traces
        fh.attrs.update(provenance_attrs(simulation_config(cfg)))
    data = load_dataset(root / "syn.h5")
    keep = len(data.sample_id) - n_held_out
    held_x, held_t = data.features[keep:], data.targets[keep:]
    import dataclasses

    data = dataclasses.replace(
        data, features=data.features[:keep], targets=data.targets[:keep], sample_id=data.sample_id[:keep]
    )
    fold = assign_folds(data.sample_id, k_folds, seed)
    write_prepared(
        root / "results" / "inference" / "data.h5", data, fold, {"k_folds": k_folds, "seed": seed},
        source="syn.h5", seed=seed, k_folds=k_folds,
    )  # fmt: skip
    npe = NPEConfig.from_config({**cfg["inference"]["npe"], "max_num_epochs": epochs})
    target_prior = TargetPrior.from_config(cfg["prior"])
    names = {"features": list(data.feature_names), "targets": list(data.target_names)}
    for k in range(k_folds):
        train, _ = split(fold, k)
        model = train_fold(
            data.features[train], data.targets[train], npe, seed=seed, fold=k, target_prior=target_prior,
            log_targets=cfg["inference"]["log_targets"], threads=1, names=names,
        )  # fmt: skip
        d = root / "results" / "folds" / f"fold-{k}"
        d.mkdir(parents=True, exist_ok=True)
        save_model(model, d / "model.pt", d / "model.json")
    return root / "results" / "folds", held_x, held_t
