"""Dry-run of the paper campaign: the job plan, its planning time and the cost estimate."""

from __future__ import annotations

import re
import time

import pytest
from workdir import job_counts, make_workdir, snakemake

from workflow.config import load_config
from workflow.simulation.cost import campaign_core_hours

pytestmark = pytest.mark.slow

#: rule names of the per-fold jobs, as rules/inference.smk names them (older drafts in front)
TRAIN_RULES = ("train_fold", "inference_train")
SHAP_RULES = ("shap_fold", "inference_shap")


@pytest.fixture(scope="module")
def paper_dry_run(tmp_path_factory):
    work = make_workdir(tmp_path_factory.mktemp("paper"), kernels=False)
    t0 = time.perf_counter()
    res = snakemake(work, "-n", configfiles=("config/paper.yaml",))
    elapsed = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr[-3000:]
    return work, res.stdout + res.stderr, elapsed


def test_paper_plan_has_1000_shards_and_10_folds(paper_dry_run):
    work, out, _ = paper_dry_run
    counts = job_counts(out)
    assert counts["simulate"] == 1000, counts
    assert counts["draws"] == counts["kernels"] == counts["aggregate"] == 1, counts
    if "rules/inference.smk" in (work / "Snakefile").read_text():
        train = [counts[r] for r in TRAIN_RULES if r in counts]
        shap = [counts[r] for r in SHAP_RULES if r in counts]
        assert train == [10], f"expected 10 training jobs (one per fold) in {counts}"
        assert shap == [10], f"expected 10 SHAP jobs (one per fold) in {counts}"


def test_paper_dry_run_under_a_minute(paper_dry_run):
    _, _, elapsed = paper_dry_run
    assert elapsed < 60.0, f"dry-run of the paper campaign took {elapsed:.1f} s"


def test_paper_dry_run_prints_the_cost_estimate(paper_dry_run):
    work, out, _ = paper_dry_run
    pattern = r"campaign: (\d+) samples in (\d+) shards; estimated simulation cost ([\d,.]+) core-hours"
    m = re.search(pattern, out)
    assert m, "no cost estimate in the dry-run output"
    assert (int(m.group(1)), int(m.group(2))) == (1_000_000, 1000)
    printed = float(m.group(3).replace(",", ""))
    cfg = load_config([work / "config/config.yaml", work / "config/paper.yaml"])
    assert printed == pytest.approx(campaign_core_hours(cfg), abs=0.1)
    # 10^6 samples of 12 s of the full network: tens of thousands of core-hours, not minutes or millions
    assert 1e4 < printed < 1e6
