"""Each rule reruns only when what decides its output changes (rule params carry exactly that).

The tiny campaign is run to the end once; then one key per config section is changed in a
second config file and the dry-run must plan exactly the jobs that key decides, and what
follows them. A whole-config param anywhere would make every change rerun everything.
"""

from __future__ import annotations

from collections import Counter

import pytest
from workdir import TINY, finished_tiny_campaign, job_counts, snakemake

pytestmark = pytest.mark.slow

SHARDS, FOLDS = 3, 3  # tests/config/tiny.yaml: 24 samples in shards of 8, 3 folds

SHAP = Counter(inference_shap=FOLDS, inference_merge_shap=1)
TRAIN = Counter(inference_train=FOLDS, inference_metrics=1) + SHAP
INFERENCE = Counter(inference_prepare=1, inference_mi=1) + TRAIN
CROSSCHECK = Counter(crosscheck_runs=2, crosscheck=1)
DATASET = Counter(simulate=SHARDS, aggregate=1, dataset_summary=1) + INFERENCE

CASES = {
    "inference.shap.n_rows": ("inference: {shap: {n_rows: 5}}", SHAP),
    "inference.npe.hidden_features": ("inference: {npe: {hidden_features: 40}}", TRAIN),
    "inference.metrics.n_posterior_samples": ("inference: {metrics: {n_posterior_samples: 150}}", TRAIN),
    "inference.shap.min_accepted_fraction": ("inference: {shap: {min_accepted_fraction: 0.2}}", SHAP),
    "inference.log_targets": ("inference: {log_targets: []}", TRAIN),
    # the SHAP merge compares its rankings with MI's
    "inference.mi.n_neighbors": ("inference: {mi: {n_neighbors: 4}}", Counter(inference_mi=1, inference_merge_shap=1)),
    "inference.seed": ("inference: {seed: 99}", INFERENCE),
    "crosscheck.rel_tol": ("crosscheck: {rel_tol: 0.2}", Counter(crosscheck=1)),
    "crosscheck.n_seeds": ("crosscheck: {n_seeds: 3}", CROSSCHECK),
    "simulation.tstop_ms": ("simulation: {tstop_ms: 800.0}", DATASET + CROSSCHECK),
    "network.scale": ("network: {scale: 0.03}", DATASET + CROSSCHECK),
    "lfp.decimate": ("lfp: {decimate: 8}", DATASET + CROSSCHECK),
    "kernels.tau_ms": ("kernels: {tau_ms: 40.0}", Counter(kernels=1) + DATASET + CROSSCHECK),
    "campaign.seed": ("campaign: {seed: 8}", Counter(draws=1) + DATASET + CROSSCHECK),
    "prior.J_ext": ("prior: {J_ext: [12.0, 50.0]}", Counter(draws=1) + DATASET + CROSSCHECK),
    # the selected preset decides statuses and the early stop (and so the cross-check's runs)
    "gates.preset": ("gates: {preset: rate_window}", DATASET + CROSSCHECK),
    "gates.lfp_min_std": ("gates: {lfp_min_std: 1.0e-8}", DATASET),
    # a preset that is not selected decides nothing
    "gates.ncpi_2026.max_rate_E_hz": ("gates: {ncpi_2026: {max_rate_E_hz: 15.0}}", Counter()),
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The tiny campaign run to the end, kernels included (Snakemake must have made every output
    to know the params it was made with)."""
    work = finished_tiny_campaign(tmp_path_factory)
    again = snakemake(work, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    return work


@pytest.mark.parametrize("key", list(CASES))
def test_a_key_reruns_exactly_what_it_decides(finished, key):
    text, expected = CASES[key]
    (finished / "change.yaml").write_text(text + "\n")
    res = snakemake(finished, "-n", configfiles=(TINY, "change.yaml"))
    assert res.returncode == 0, res.stderr[-3000:]
    planned = job_counts(res.stdout + res.stderr)
    planned.pop("all", None)
    assert planned == expected, f"{key}: planned {dict(planned)}, expected {dict(expected)}"
