"""A registered model's shard cost against its cost function (issue 12), printed, not asserted.

Each size n runs one shard exactly as rule ``simulate`` does (``python -m workflow shard``, one
process, interpreter start and imports included; :func:`workflow.simulation.cost.measure_model_shard`)
and prints its CPU
seconds and peak resident memory beside the model's ``cost(settings, n)``
(:class:`workflow.models.base.ShardCost`), with the ratio measured / predicted. CPU time barely
depends on other load; still, time on a quiet machine.

Usage: python benchmarks/bench_model_cost.py [--models mpr hh] [--sizes 250 1000 4000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from workflow.config import validate_config  # noqa: E402
from workflow.simulation.cost import measure_model_shard  # noqa: E402
from workflow.simulation.model_shard import campaign_model, model_settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mpr", "hh"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[250, 1000, 4000])
    args = parser.parse_args()
    print(f"{'model':6} {'n':>6} {'CPU s':>8} {'pred.':>8} {'ratio':>6} {'peak MB':>8} {'pred.':>8} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            cfg = validate_config({"model": name})
            model = campaign_model(cfg)
            settings = model_settings(model, cfg["model_settings"])
            for n in args.sizes:
                cpu, mb = measure_model_shard(name, n, Path(tmp) / f"{name}-{n}.h5")
                pred = model.cost(settings, n)
                print(
                    f"{name:6} {n:6d} {cpu:8.2f} {pred.core_seconds:8.2f} {cpu / pred.core_seconds:6.2f} "
                    f"{mb:8.0f} {pred.peak_mb:8.0f} {mb / pred.peak_mb:6.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
