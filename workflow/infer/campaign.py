"""A trained campaign, as ``python -m workflow infer`` needs it: fold models, training rows, config.

``--models DIR`` is the campaign's ``results/folds``. Next to it the campaign keeps what the
folds were trained on; :func:`load_campaign` reads, and checks, before anything is computed:

* ``DIR/fold-<k>/model.pt`` and ``model.json`` of every fold ``k`` (state dict plus JSON,
  :func:`workflow.inference.npe.load_model`): every fold of ``k_folds`` must be there, with the
  same targets, features, support and target scale;
* ``DIR/../inference/data.h5``: the valid rows the folds were trained on (their features are
  the misspecification check's reference and the explanation's background) and the inference
  seed;
* the campaign's config, which says how its traces were made (LFP rate, trace length; catch22
  z-scores every trace itself): the workflow's own config (the Snakemake stage), else
  ``--configfile`` (YAML files merged in order, as Snakemake does), else the provenance of the
  dataset the folds were trained on (the ``config_json`` root attribute of the ``source`` that
  ``data.h5`` names, i.e. the ``results/dataset.h5`` the aggregate wrote), with the campaign's
  ``inference.shap`` settings read from its folds' ``shap.h5`` when they are there (the dataset
  records only the simulation's sections). Whichever it is, it must agree with the models (the
  prior they were trained under) and with the dataset's own trace timing when that is known.

Every problem raises :class:`CampaignError` naming the file or folder and the problem.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from workflow.config import ConfigError, load_config, simulation_config, validate_config
from workflow.contract import FEATURE_NAMES, HAGEN_MODEL, PARAM_NAMES, TARGET_NAMES
from workflow.h5io import config_hash
from workflow.infer.traces import CampaignTiming, campaign_timing
from workflow.inference.npe import FoldModel, load_model
from workflow.inference.scales import TargetScale

#: where the prepared training rows live, relative to the models folder
DATA_RELATIVE = Path("..") / "inference" / "data.h5"

#: the config keys that decide a campaign trace's rate and length (:func:`campaign_timing`)
TIMING_KEYS: tuple[tuple[str, str], ...] = (
    ("simulation", "dt_ms"),
    ("simulation", "tstop_ms"),
    ("simulation", "transient_ms"),
    ("lfp", "decimate"),
)

_FOLD_DIR = re.compile(r"^fold-(\d+)$")


class CampaignError(ValueError):
    """The trained campaign cannot be used; the message names the file or folder and the problem."""


@dataclasses.dataclass(frozen=True, eq=False)
class Campaign:
    """The fold models of a campaign with what they were trained on.

    Attributes:
        models_dir: the folds folder (``results/folds``).
        folds: the trained fold models, in fold order.
        fold_ids: their fold indices.
        config: the campaign's validated config.
        config_source: where the config came from.
        timing: the LFP rate and trace length of the campaign's features.
        seed: the inference seed (``data.h5``'s ``seed``).
        features: (n, 22) catch22 features of the campaign's valid rows (every fold's training
            rows together), columns in :data:`~workflow.contract.FEATURE_NAMES` order.
        row_fold: (n,) the fold whose test rows each row belongs to.
        low, high: (T,) the posterior's support in target units (the prior's bounds).
        scale: the targets' learned scale.
        provenance: what identifies the models and the campaign (hashes, commits, paths).
    """

    models_dir: Path
    folds: tuple[FoldModel, ...]
    fold_ids: tuple[int, ...]
    config: dict[str, Any]
    config_source: str
    timing: CampaignTiming
    seed: int
    features: np.ndarray
    row_fold: np.ndarray
    low: np.ndarray
    high: np.ndarray
    scale: TargetScale
    provenance: dict[str, str]


def fold_files(models_dir: str | Path) -> dict[int, tuple[Path, Path]]:
    """``{fold: (model.pt, model.json)}`` of every trained fold in ``models_dir``.

    Raises:
        CampaignError: if the folder is missing, holds no trained fold, or a fold folder has
            one of the two files without the other.
    """
    d = Path(models_dir)
    if not d.is_dir():
        raise CampaignError(f"{d}: no such models folder (give --models the campaign's results/folds)")
    found: dict[int, tuple[Path, Path]] = {}
    for sub in sorted(d.iterdir()):
        m = _FOLD_DIR.match(sub.name)
        if not (m and sub.is_dir()):
            continue
        pt, js = sub / "model.pt", sub / "model.json"
        if pt.is_file() != js.is_file():
            have, lack = (pt, js) if pt.is_file() else (js, pt)
            raise CampaignError(f"{sub}: has {have.name} but no {lack.name}; the fold's training did not finish")
        if pt.is_file():
            found[int(m.group(1))] = (pt, js)
    if not found:
        raise CampaignError(
            f"{d}: no trained folds (expected fold-<k>/model.pt and fold-<k>/model.json, as the campaign's "
            "inference_train jobs write them to results/folds); run `snakemake` first"
        )
    return dict(sorted(found.items()))


def _sha256(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _attr_str(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _read_data(path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Features, fold ids and root attributes of ``data.h5``."""
    if not path.is_file():
        raise CampaignError(
            f"{path}: missing; the campaign's prepared training rows (results/inference/data.h5, next to the "
            "folds) hold the misspecification check's reference features and the explanation's background"
        )
    try:
        with h5py.File(path, "r") as fh:
            names = tuple(_attr_str(n) for n in fh["features"].attrs["names"])
            features = np.asarray(fh["features"][()], dtype=np.float64)
            fold = np.asarray(fh["fold"][()], dtype=np.int64)
            attrs = {k: fh.attrs[k] for k in fh.attrs}
    except (OSError, KeyError) as exc:
        raise CampaignError(f"{path}: not the campaign's prepared training rows ({exc})") from exc
    if names != FEATURE_NAMES:
        raise CampaignError(f"{path}: features are not the 22 catch22 features in the campaign's order")
    if "seed" not in attrs:
        raise CampaignError(f"{path}: has no 'seed' attribute (the inference seed)")
    if features.ndim != 2 or len(features) != len(fold) or not np.all(np.isfinite(features)):
        raise CampaignError(f"{path}: features must be finite (n, 22) rows with one fold id each")
    return features, fold, attrs


def _dataset_config(data_path: Path, attrs: dict[str, Any]) -> tuple[dict | None, Path | None, str]:
    """The config in the provenance of the dataset ``data.h5`` was prepared from, if it can be found.

    Returns:
        ``(config with its provenance under "_provenance", the dataset's path, why not)``.
    """
    source = attrs.get("source")
    if source is None:
        return None, None, f"{data_path} names no source dataset"
    src = Path(_attr_str(source))
    candidates = [src] if src.is_absolute() else [data_path.parent.parent.parent / src, Path.cwd() / src]
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        return None, None, f"its source dataset {src} is not there"
    try:
        with h5py.File(path, "r") as fh:
            raw = fh.attrs.get("config_json")
            commit = fh.attrs.get("git_commit", "unknown")
            chash = fh.attrs.get("config_hash", "unknown")
    except OSError as exc:
        return None, path, f"its source dataset {path} cannot be read ({exc})"
    if raw is None:
        return None, path, f"its source dataset {path} records no config (no 'config_json' attribute)"
    cfg = json.loads(_attr_str(raw))
    cfg["_provenance"] = {"git_commit": _attr_str(commit), "config_hash": _attr_str(chash)}
    return cfg, path, ""


def _fold_shap_config(files: Mapping[int, tuple[Path, Path]]) -> dict[str, Any] | None:
    """The campaign's ``inference.shap`` as its first fold's ``shap.h5`` recorded it, if there is one."""
    for pt, _ in files.values():
        path = pt.parent / "shap.h5"
        if path.is_file():
            try:
                with h5py.File(path, "r") as fh:
                    return dict(json.loads(_attr_str(fh.attrs["config_json"]))["shap"])
            except (OSError, KeyError, ValueError, TypeError):
                return None
    return None


def _timing_of(cfg: Mapping[str, Any]) -> dict[str, float]:
    return {f"{s}.{k}": float(cfg[s][k]) for s, k in TIMING_KEYS}


def _validated(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return validate_config(json.loads(json.dumps(dict(cfg))))


def _check_hagen_campaign(files: Mapping[int, tuple[Path, Path]]) -> None:
    """Refuse, naming the model, the folds of a registered model's campaign (config ``model``).

    A recording becomes features through the Hagen network's LFP pipeline (resampling, windows,
    catch22: :mod:`workflow.infer.traces`); a registered model's features (``mpr``: of r(t) and
    v(t); ``hh``: of a membrane potential) have no such pipeline here.
    """
    for _, js in files.values():
        try:
            model = (json.loads(Path(js).read_text()).get("prior") or {}).get("model")
        except (OSError, ValueError):
            continue  # load_model reports an unreadable description
        if model is not None:
            raise CampaignError(
                f"{js}: a campaign of model {model!r}; infer turns LFP recordings into catch22 features, "
                f"which only campaigns of model {HAGEN_MODEL!r} learn from (model {model!r}'s posteriors "
                "are its results/folds)"
            )


def load_campaign(
    models_dir: str | Path,
    configfiles: Sequence[str | Path] | None = None,
    config: Mapping[str, Any] | None = None,
) -> Campaign:
    """Read and check a trained campaign (module docstring); compute nothing from recordings.

    Args:
        models_dir: the campaign's ``results/folds``.
        configfiles: the campaign's config YAML files (merged in order over the schema's
            defaults); None or empty: the config recorded by the dataset the folds were trained on.
        config: the campaign's config itself (Snakemake's; validated again here); it takes
            precedence over ``configfiles``.

    Raises:
        CampaignError: naming the file or folder and the problem.
    """
    models_dir = Path(models_dir)
    files = fold_files(models_dir)
    _check_hagen_campaign(files)
    data_path = (models_dir / DATA_RELATIVE).resolve()
    features, row_fold, attrs = _read_data(data_path)
    k_folds = int(attrs.get("k_folds", len(set(row_fold.tolist()))))
    missing = [k for k in range(k_folds) if k not in files]
    if missing:
        raise CampaignError(
            f"{models_dir}: {len(files)} of the campaign's {k_folds} folds are trained; missing: "
            + ", ".join(f"fold-{k}" for k in missing)
        )
    folds = []
    for k, (pt, js) in files.items():
        if k >= k_folds:
            raise CampaignError(f"{pt.parent}: fold {k} is not one of {data_path}'s {k_folds} folds")
        try:
            folds.append(load_model(pt, js))
        except (ValueError, KeyError, RuntimeError, OSError) as exc:
            raise CampaignError(f"{pt.parent}: cannot load the fold model ({exc})") from exc
    first = folds[0]
    for k, m in zip(files, folds, strict=True):
        desc, where = m.description, files[k][1]
        if tuple(desc.get("feature_names") or ()) != FEATURE_NAMES:
            raise CampaignError(f"{where}: the model's features are not the 22 catch22 features in order")
        if tuple(desc.get("target_names") or ()) != TARGET_NAMES:
            raise CampaignError(
                f"{where}: the model's targets are {desc.get('target_names')}, not {list(TARGET_NAMES)}"
            )
        if m.scale != first.scale or not (np.array_equal(m.low, first.low) and np.array_equal(m.high, first.high)):
            raise CampaignError(f"{where}: its support or target scale differs from fold {next(iter(files))}'s")

    dataset_cfg, dataset_path, why_not = _dataset_config(data_path, attrs)
    dataset_prov = dataset_cfg.pop("_provenance") if dataset_cfg else {}
    if config is not None:
        source = "the workflow's config"
        try:
            cfg = _validated(config)
        except ConfigError as exc:
            raise CampaignError(f"{source}: {exc}") from None
    elif configfiles:
        source = "--configfile " + " ".join(map(str, configfiles))
        try:
            cfg = load_config(configfiles)
        except ConfigError as exc:
            raise CampaignError(f"{source}: {exc}") from None
    elif dataset_cfg is not None:
        source = f"{dataset_path} (its config_json)"
        shap = _fold_shap_config(files)
        if shap is not None:
            source += f" and {files[next(iter(files))][0].parent / 'shap.h5'} (inference.shap)"
        try:
            cfg = _validated({**dataset_cfg, "inference": {"shap": shap}} if shap is not None else dataset_cfg)
        except ConfigError as exc:
            raise CampaignError(f"{dataset_path}: its recorded config is not valid here ({exc})") from None
    else:
        raise CampaignError(
            f"{models_dir}: cannot tell how the campaign's traces were made: {why_not}; "
            "give the campaign's config with --configfile"
        )
    if dataset_cfg is not None:
        try:
            theirs = _timing_of(_validated(dataset_cfg))
        except ConfigError:
            theirs = None
        ours = _timing_of(cfg)
        if theirs is not None and theirs != ours:
            diff = ", ".join(
                f"{k}: {ours[k]:g} here, {theirs[k]:g} in the dataset" for k in ours if ours[k] != theirs[k]
            )
            raise CampaignError(f"{source}: the campaign's dataset {dataset_path} was simulated otherwise ({diff})")
    prior = first.description.get("prior", {})
    bounds = {n: [float(v) for v in cfg["prior"][n]] for n in PARAM_NAMES}
    trained = {n: [float(v) for v in prior.get("bounds", {}).get(n, [])] for n in PARAM_NAMES}
    if trained != bounds or bool(prior.get("constraints")) != bool(cfg["prior"]["constraints"]):
        raise CampaignError(
            f"{source}: its prior ({bounds}, constraints {cfg['prior']['constraints']}) is not the one the "
            f"models in {models_dir} were trained under ({trained}, constraints {prior.get('constraints')})"
        )
    try:
        timing = campaign_timing(cfg)
    except ConfigError as exc:
        raise CampaignError(f"{source}: {exc}") from None
    provenance = {
        "models_dir": str(models_dir.resolve()),
        "models_sha256": _sha256([p for pair in files.values() for p in pair]),
        "models_config_hash": config_hash(
            {
                "npe": first.description["npe"],
                "log_targets": list(first.scale.log_targets),
                "prior": prior,
                "seed": int(attrs["seed"]),
                "k_folds": k_folds,
            }
        ),  # fmt: skip
        "models_git_commit": _attr_str(attrs.get("git_commit", "unknown")),
        "training_data": str(data_path),
        "training_data_config_hash": _attr_str(attrs.get("config_hash", "unknown")),
        "campaign_config_hash": dataset_prov.get("config_hash", config_hash(simulation_config(cfg))),
        "campaign_git_commit": dataset_prov.get("git_commit", "unknown"),
        "campaign_config_source": source,
    }
    return Campaign(
        models_dir=models_dir,
        folds=tuple(folds),
        fold_ids=tuple(files),
        config=cfg,
        config_source=source,
        timing=timing,
        seed=int(attrs["seed"]),
        features=features,
        row_fold=row_fold,
        low=np.asarray(first.low, dtype=np.float64),
        high=np.asarray(first.high, dtype=np.float64),
        scale=first.scale,
        provenance=provenance,
    )
