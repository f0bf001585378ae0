"""The draws rule: every sample's parameters, drawn from its own stream, into ``draws.h5``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from workflow import h5io, table
from workflow.contract import HAGEN_MODEL, PARAM_NAMES, PARAM_UNITS
from workflow.simulation.prior import Prior

#: rows drawn and written per block (bounds memory for 10^6+ samples)
BLOCK = 65_536


def write_draws(cfg: Mapping, out_path: str | Path) -> float:
    """Draw ``campaign.n_samples`` parameter sets into ``out_path``; return the prior's acceptance rate.

    ``cfg`` holds ``campaign`` and either ``prior`` (the Hagen network's) or ``model`` (the
    :func:`workflow.config.model_simulation_config` of a registered model, whose own prior is
    drawn: :func:`workflow.simulation.model_shard.write_model_draws`).
    """
    if cfg.get("model", HAGEN_MODEL) != HAGEN_MODEL:
        return _write_model_draws(cfg, out_path)
    prior = Prior.from_config(cfg["prior"])
    n, seed = int(cfg["campaign"]["n_samples"]), int(cfg["campaign"]["seed"])
    with h5io.atomic_h5(out_path) as f:
        params = f.create_dataset("params", (n, len(PARAM_NAMES)), dtype="f8", track_times=False)
        table.write_names(params, PARAM_NAMES, PARAM_UNITS)
        ids = f.create_dataset("sample_id", data=np.arange(n, dtype=np.int64), track_times=False)
        del ids
        for start in range(0, n, BLOCK):
            stop = min(start + BLOCK, n)
            params[start:stop] = prior.draw(seed, range(start, stop))
        f.attrs.update(
            h5io.provenance_attrs(
                {k: cfg[k] for k in ("campaign", "prior")}, seed=seed, prior_low=prior.low, prior_high=prior.high
            )
        )
    return prior.acceptance_rate()


def _write_model_draws(cfg: Mapping, out_path: str | Path) -> float:
    from workflow.simulation.model_shard import campaign_model, write_model_draws

    model = campaign_model(cfg)
    n, seed = int(cfg["campaign"]["n_samples"]), int(cfg["campaign"]["seed"])
    write_model_draws(model, n, seed, out_path, cfg)
    if model.constraints is None:
        return 1.0
    box = np.random.default_rng(0).uniform(model.low, model.high, size=(20_000, model.low.size))
    return float(model.accept(box).mean())
