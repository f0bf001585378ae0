"""Rule observations_infer: one recording's posterior, misspecification check, explanation and
the parameter sets of its predictive check (workflow/infer/run.py), as `python -m workflow infer`."""

import json
import logging
from pathlib import Path

import torch

from workflow.infer.campaign import load_campaign
from workflow.infer.run import Engine, InferError
from workflow.infer.traces import TraceError, prepare_traces
from workflow.scripting import rule_logging

smk = snakemake  # noqa: F821
log = rule_logging(smk)
logging.captureWarnings(True)
torch.set_num_threads(smk.threads)
entry = dict(smk.params.observation)
models = Path(smk.input.models[0]).parent.parent
try:
    campaign = load_campaign(models, config=dict(smk.params.campaign))
    (trace,) = prepare_traces([smk.input.trace], campaign.timing, entry["fs_hz"], entry["dataset"])
    engine = Engine(campaign)
    result = engine.infer_one(entry["name"], trace, entry["draws"], entry["ppc"])
except (TraceError, InferError, ValueError) as exc:
    log.error("%s", exc)
    raise SystemExit(f"observations_infer: {exc}") from None
engine.write([result], Path(smk.output.posterior).parent, entry["draws"], entry["ppc"])
log.info(
    "%s: %d window(s), misspecification score %.4g, p = %.3g (flagged at p <= %.3g): %s; seconds %s",
    entry["name"],
    len(result.features),
    result.score,
    result.p_value,
    engine.misspecification.fpr,
    "MISSPECIFIED" if result.misspecified else "ok",
    json.dumps({k: round(v, 3) for k, v in result.seconds.items()}),
)
