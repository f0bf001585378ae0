"""The campaign of a registered model (config ``model:`` other than ``hagen2022``): draws and shards.

A model of :mod:`workflow.models` brings its own prior, targets, simulator and features
(:class:`workflow.models.base.Model`), so its campaign needs no kernels, gates or cross-check:
``draws`` (the model's prior, sample i from ``SeedSequence(seed, spawn_key=(i, PRIOR))``) ->
``simulate`` (one shard of :meth:`Model.simulate`) -> ``aggregate`` -> inference.

Shard layout (the dataset contract of :mod:`workflow.contract`, generalised; every column dataset
carries ``names`` and ``units``):

``params``     float64 (n, P), the model's parameters
``features``   float64 (n, F), the model's features
``targets``    float64 (n, T), :meth:`Model.targets` of ``params`` (the inference reads them and
               their names from the file, :func:`workflow.inference.dataset.load_dataset`)
``<output>``   float64 (n, k) per extra output of the model (``rates`` for mpr and hh)
``valid``      bool (n,): every feature finite
``status``     int8 (n,): ``OK`` or ``NAN_FEATURES`` (:class:`workflow.contract.Status`)
``sample_id``  int64 (n,)
``status_reason`` str (n,): the non-finite features of an invalid row

Root attributes: the provenance of :func:`workflow.config.shard_config`, ``model`` (its name) and
``model_json`` (:meth:`Model.describe` with the settings used). No timings, so a rerun gives the
same bytes.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import sys
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from workflow import h5io, table
from workflow.contract import HAGEN_MODEL, Status
from workflow.models.base import Model, get_model

#: Column datasets of a model shard before its extra outputs, in file order.
MODEL_COLUMNS: tuple[str, ...] = ("params", "features", "targets")
#: One-dimensional datasets of a model shard.
MODEL_ROWS: tuple[str, ...] = ("valid", "status", "sample_id")
#: Rows of the draws file written per block.
BLOCK = 65_536


def import_model_module(name: str | None) -> None:
    """Import the config's ``model_module`` (whose import registers a model); None does nothing.

    The working directory is put on ``sys.path`` first, so a module next to the Snakefile is
    found by Snakemake and by every job alike.

    Raises:
        ValueError: naming ``model_module`` if the import fails.
    """
    if not name:
        return
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 (any failure of the user's module is reported, naming the key)
        raise ValueError(f"config key 'model_module': importing {name!r} failed: {type(exc).__name__}: {exc}") from exc


def campaign_model(cfg: Mapping) -> Model | None:
    """The campaign's :class:`Model` (after importing ``model_module``), or None for hagen2022.

    Raises:
        ValueError: naming ``model`` for an unknown name (listing the known ones).
    """
    if cfg["model"] == HAGEN_MODEL:
        return None
    import_model_module(cfg.get("model_module"))
    try:
        return get_model(cfg["model"])
    except ValueError as exc:
        raise ValueError(f"config key 'model': {exc.args[0].removeprefix('model: ')} or {HAGEN_MODEL!r}") from None


def _typed(value: Any, field: dataclasses.Field, hints: Mapping[str, Any]) -> Any:
    """A ``--config`` string parsed as YAML when the field's default is not a string."""
    if not isinstance(value, str) or isinstance(field.default, str) or hints.get(field.name) is str:
        return value
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def model_settings(model: Model, overrides: Mapping[str, Any]) -> Any:
    """The model's settings with the config's ``model_settings`` applied.

    ``snakemake --config`` passes nested values as strings; a string is parsed as YAML for a
    field whose default is not a string.

    Raises:
        ValueError: naming ``model_settings.<field>`` for an unknown field or a bad value.
    """
    fields = {f.name: f for f in dataclasses.fields(model.settings_type)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(
            f"config key 'model_settings.{unknown[0]}': unknown setting of model {model.name!r} "
            f"(known: {', '.join(sorted(fields))})"
        )
    try:
        hints = typing.get_type_hints(model.settings_type)
    except Exception:  # noqa: BLE001 (unresolvable annotations: no hints, strings stay strings)
        hints = {}
    typed = {k: _typed(v, fields[k], hints) for k, v in overrides.items()}
    try:
        return model.settings(**typed)
    except (TypeError, ValueError) as exc:
        keys = ", ".join(f"model_settings.{k}" for k in sorted(typed)) or "model_settings"
        raise ValueError(f"config key {keys!r}: {exc}") from None


def settings_overrides(cfg: Mapping) -> dict[str, Any]:
    """The ``model_settings`` of a validated config as typed values (JSON-ready)."""
    model = campaign_model(cfg)
    if model is None:
        return {}
    s = model_settings(model, cfg["model_settings"])
    return {k: getattr(s, k) for k in cfg["model_settings"]}


def write_model_draws(model: Model, n: int, seed: int, out_path: str | Path, cfg: Mapping) -> None:
    """Draw ``n`` parameter sets from the model's prior into ``out_path`` (``params``, ``sample_id``)."""
    with h5io.atomic_h5(out_path) as f:
        params = f.create_dataset("params", (n, len(model.param_names)), dtype="f8", track_times=False)
        table.write_names(params, model.param_names, model.param_units)
        f.create_dataset("sample_id", data=np.arange(n, dtype=np.int64), track_times=False)
        for start in range(0, n, BLOCK):
            stop = min(start + BLOCK, n)
            params[start:stop] = model.draw_prior(seed, np.arange(start, stop))
        f.attrs.update(
            h5io.provenance_attrs(dict(cfg), seed=seed, model=model.name, prior_low=model.low, prior_high=model.high)
        )


def shard_reserve_bytes(model: Model, n: int) -> int:
    """A generous bound of a model shard's size (for :func:`workflow.h5io.atomic_h5`)."""
    cols = len(model.param_names) + len(model.feature_names) + len(model.target_names)
    cols += sum(len(c) for c in model.outputs.values())
    return 2 * n * (8 * cols + 1 + 1 + 8 + 64) + (1 << 20)


def write_model_shard(
    path: str | Path,
    model: Model,
    sample_ids: Sequence[int],
    params: np.ndarray,
    batch: Any,
    attrs: Mapping[str, object],
) -> None:
    """Write one model shard (module docstring) atomically, with Fletcher-32 checksums."""
    n = len(sample_ids)
    feats = np.asarray(batch.features, dtype=np.float64)
    valid = np.isfinite(feats).all(axis=1)
    reasons = [
        "" if ok else "non-finite feature(s): " + ", ".join(np.asarray(model.feature_names)[~np.isfinite(row)])
        for ok, row in zip(valid, feats, strict=True)
    ]
    columns: list[tuple[str, np.ndarray, Sequence[str], Sequence[str] | str]] = [
        ("params", params, model.param_names, model.param_units),
        ("features", feats, model.feature_names, model.feature_units),
        ("targets", model.targets(params), model.target_names, model.target_units),
        *((k, np.asarray(v, np.float64), model.outputs[k], model.output_units[k]) for k, v in batch.outputs.items()),
    ]
    opts: dict[str, Any] = {"track_times": False}
    extra = {"fletcher32": True} if n else {}
    with h5io.atomic_h5(path, shard_reserve_bytes(model, n) + sum(len(r) + 16 for r in reasons)) as f:
        for name, data, names, units in columns:
            ds = f.create_dataset(name, data=data, chunks=data.shape if n else None, **extra, **opts)
            table.write_names(ds, names, units)
        status = np.where(valid, Status.OK, Status.NAN_FEATURES).astype(np.int8)
        for name, data in (("valid", valid), ("status", status), ("sample_id", np.asarray(sample_ids, np.int64))):
            ds = f.create_dataset(name, data=data, chunks=data.shape if n else None, **extra, **opts)
        table.write_names(f["status"], [f"{s.value}={s.name}" for s in Status])
        f.create_dataset("status_reason", data=np.array(reasons, dtype=h5py.string_dtype()), **opts)
        f.attrs.update(dict(attrs))


def run_model_shard(
    cfg: Mapping, shard: int, out_path: str | Path, sample_ids: Sequence[int] | None = None
) -> tuple[int, int]:
    """Simulate shard ``shard`` of a model campaign into ``out_path``; return its valid and total rows.

    A sample's parameters come from its own prior stream (the same rows as ``draws.h5``) and its
    noise from its own simulator stream, so the shard depends on its sample ids, the model, its
    settings and the seed only.
    """
    from workflow.config import shard_config, shard_sample_ids

    model = campaign_model(cfg)
    if model is None:
        raise ValueError(f"run_model_shard: the campaign's model is {HAGEN_MODEL!r}; use run_shard")
    ids = np.asarray(shard_sample_ids(cfg, shard) if sample_ids is None else sample_ids, dtype=np.int64)
    h5io.check_writable(out_path)
    seed = int(cfg["campaign"]["seed"])
    settings = model_settings(model, cfg["model_settings"])
    params = model.draw_prior(seed, ids)
    batch = model.simulate(params, ids, seed, settings)
    attrs = h5io.provenance_attrs(
        shard_config(cfg),
        shard=shard,
        seed=seed,
        simulator=model.name,
        model=model.name,
        model_json=json.dumps(model.describe(settings), sort_keys=True, default=float),
    )
    write_model_shard(out_path, model, ids.tolist(), params, batch, attrs)
    return int(np.isfinite(batch.features).all(axis=1).sum()), int(ids.size)
