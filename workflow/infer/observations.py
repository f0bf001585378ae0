"""The config's ``observations`` entries, checked for the Snakemake stage (rules/observations.smk).

:func:`observation_entries` runs when the workflow is parsed, so a bad entry fails the
dry-run, naming the entry: its name (the file's stem unless given) must be unique and usable
as a folder name, its recording must load and pass every check of
:func:`workflow.infer.traces.load_trace` and be at least one campaign trace long
(:func:`workflow.infer.traces.check_length`), and a predictive check needs the campaign's own
simulator (no ``dataset:`` bank) and at most ``draws`` draws.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workflow.config import ConfigError
from workflow.infer.traces import TraceError, campaign_timing, check_length, load_trace

#: what a name may look like (the schema's pattern)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ObservationError(ValueError):
    """An ``observations`` entry is bad; the message names the entry and the problem."""


def observation_entries(cfg: Mapping[str, Any], workdir: str | Path = ".") -> dict[str, dict[str, Any]]:
    """``{name: entry}`` of the validated config's ``observations``, every entry checked.

    Args:
        cfg: the validated config (the schema filled each entry's defaults).
        workdir: what relative recording paths are relative to.

    Returns:
        Each entry with ``name`` filled in, in config order.

    Raises:
        ObservationError: naming the entry (``observations[i]`` and its name) and the problem.
    """
    entries = cfg.get("observations") or []
    if not entries:
        return {}
    timing = campaign_timing(cfg)
    out: dict[str, dict[str, Any]] = {}
    for i, raw in enumerate(entries):
        entry = dict(raw)
        name = entry.get("name") or Path(entry["path"]).stem
        where = f"config key 'observations[{i}]' ({name})"
        if not NAME.match(name):
            raise ObservationError(
                f"{where}: name {name!r} must start with a letter or digit and hold only letters, digits, '.', "
                "'_' and '-'; set 'name'"
            )
        if name in out:
            raise ObservationError(f"{where}: the name {name!r} is taken by an earlier entry; set 'name'")
        if entry["ppc"] > entry["draws"]:
            raise ObservationError(f"{where}: ppc ({entry['ppc']}) must not exceed draws ({entry['draws']})")
        if entry["ppc"] and cfg.get("dataset") is not None:
            raise ObservationError(
                f"{where}: ppc needs the campaign's simulator, but config 'dataset' is set (a bank simulated "
                "elsewhere, whose simulation settings this config need not describe); set ppc: 0"
            )
        path = Path(entry["path"])
        full = path if path.is_absolute() else Path(workdir) / path
        try:
            trace = load_trace(full, entry["fs_hz"], entry["dataset"])
            check_length(trace, timing)
        except (TraceError, ConfigError) as exc:
            raise ObservationError(f"{where}: {exc}") from None
        entry["name"] = name
        out[name] = entry
    return out
