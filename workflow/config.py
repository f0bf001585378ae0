"""Config loading and validation, shared by Snakemake (rules/common.smk) and the CLI.

The JSON schema (``workflow/schemas/config.schema.yaml``) checks types and ranges and fills
defaults; :func:`check_config` adds the rules that span keys. Both raise :class:`ConfigError`
naming the offending key, before any job starts.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "config.yaml"


class ConfigError(ValueError):
    """A config value is invalid; the message names the key."""


def load_schema() -> dict:
    with open(SCHEMA_PATH) as fh:
        return yaml.safe_load(fh)


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                if "default" in sub and prop not in instance:
                    instance[prop] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _resolve(node: Mapping, schema: Mapping) -> Mapping:
    """Follow a local ``$ref`` (``#/$defs/...``), merging the node's own keys over the target."""
    ref = node.get("$ref")
    if not ref:
        return node
    target: Any = schema
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


_TYPE_CHECKS = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "string": lambda v: isinstance(v, str),
}


def coerce_types(value: Any, node: Mapping, schema: Mapping | None = None) -> Any:
    """Convert strings to the types the schema expects, recursively; return the new value.

    ``snakemake --config`` passes nested values as strings (YAML's BaseLoader), e.g.
    ``campaign={"n_samples": 60}`` arrives as ``{"n_samples": "60"}``. A string is parsed as
    YAML and kept in its parsed form only if that has one of the schema's types, so a
    ``string`` key stays a string and a value that is not of the right type is left for the
    validator to reject with its key named.
    """
    schema = node if schema is None else schema
    node = _resolve(node, schema)
    types = node.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    if isinstance(value, str) and types and "string" not in types:
        try:
            parsed = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            return value
        if any(_TYPE_CHECKS[t](parsed) for t in types):
            value = parsed
    if isinstance(value, dict) and "properties" in node:
        props = node["properties"]
        return {k: coerce_types(v, props[k], schema) if k in props else v for k, v in value.items()}
    if isinstance(value, list) and isinstance(node.get("items"), Mapping):
        return [coerce_types(v, node["items"], schema) for v in value]
    return value


def _error_message(err: jsonschema.ValidationError) -> str:
    path = [str(p) for p in err.absolute_path]
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        key = ".".join([*path, extra[0]]) if extra else ".".join(path) or "<top level>"
        return f"config key {key!r}: unknown key (allowed here: {', '.join(allowed)})"
    key = ".".join(path) or "<top level>"
    return f"config key {key!r}: {err.message}"


def validate_schema(cfg: dict) -> dict:
    """Coerce string values to the schema's types, fill defaults and validate, in place.

    Raises:
        ConfigError: naming the first bad or unknown key.
    """
    schema = load_schema()
    coerced = coerce_types(cfg, schema)
    cfg.clear()
    cfg.update(coerced)
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    # Fill nested defaults: a first pass creates the sections, a second fills them.
    for _ in range(2):
        errors = sorted(validator.iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError(_error_message(errors[0]))
    return cfg


def validate_config(cfg: dict) -> dict:
    """The one validation path of every config (Snakemake, the CLI, a shard's JSON): coerce
    types, fill the schema's defaults, validate, then the checks that span keys. In place.

    Raises:
        ConfigError: naming the bad key.
    """
    validate_schema(cfg)
    check_config(cfg)
    return cfg


def check_config(cfg: dict) -> None:
    """Checks that span several keys, made by the constructors that use the keys (so each rule
    is written once); raise :class:`ConfigError` naming the key.

    Also resolves ``inference.log_targets: null`` to the model's default (in place).
    """
    from workflow.contract import HAGEN_MODEL

    if cfg["model"] == HAGEN_MODEL:
        if cfg["model_settings"]:
            key = next(iter(cfg["model_settings"]))
            raise ConfigError(
                f"config key 'model_settings.{key}': model {HAGEN_MODEL!r} takes no model_settings "
                "(its settings are the sections simulation, network, kernels, lfp and gates)"
            )
        _check_hagen(cfg)
    else:
        _check_model(cfg)


def _check_model(cfg: dict) -> None:
    """The checks of a campaign of a registered model (config ``model`` other than hagen2022)."""
    from workflow.simulation.model_shard import campaign_model, model_settings

    try:
        model = campaign_model(cfg)
        model_settings(model, cfg["model_settings"])
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if cfg["observations"]:
        raise ConfigError(
            f"config key 'observations': recordings are LFP traces, which only model 'hagen2022' "
            f"simulates; model {model.name!r} takes none (set observations: [])"
        )
    _resolve_log_targets(cfg, model.target_names, model.log_targets, model.name, logit_default=True)


def _resolve_log_targets(
    cfg: dict, targets: tuple[str, ...], default: tuple[str, ...], name: str, logit_default: bool = False
) -> None:
    """Fill ``inference.log_targets`` and ``inference.logit_targets`` (null) with the model's
    defaults (logit: none, or with ``logit_default`` every target not on the log scale); check
    that every name is a target and no target is on both scales."""
    inf = cfg["inference"]
    if inf["log_targets"] is None:
        inf["log_targets"] = list(default)
    if inf["logit_targets"] is None:
        inf["logit_targets"] = [t for t in targets if t not in inf["log_targets"]] if logit_default else []
    for key in ("log_targets", "logit_targets"):
        unknown = [t for t in inf[key] if t not in targets]
        if unknown:
            raise ConfigError(
                f"config key 'inference.{key}': {unknown} are not targets of model {name!r} "
                f"(its targets: {', '.join(targets)})"
            )
    both = [t for t in inf["logit_targets"] if t in inf["log_targets"]]
    if both:
        raise ConfigError(f"config key 'inference.logit_targets': {both} are also in inference.log_targets")


def _check_hagen(cfg: dict) -> None:
    """The checks of the Hagen et al. 2022 network's campaign (the sections that only it uses)."""
    from workflow.contract import HAGEN_MODEL, LOG_TARGETS, TARGET_NAMES
    from workflow.simulation.crosscheck.run import crosscheck_config
    from workflow.simulation.gates import Gates
    from workflow.simulation.kernels.io import n_lags
    from workflow.simulation.network import NetworkParams
    from workflow.simulation.prior import Prior
    from workflow.simulation.simulators import SimSettings

    def check(what: str, build) -> None:
        try:
            build()
        except (ValueError, KeyError) as exc:
            msg = str(exc.args[0]) if exc.args else str(exc)
            raise ConfigError(msg if msg.startswith(("config key", what)) else f"config key {what!r}: {msg}") from None

    check("prior", lambda: Prior.from_config(cfg["prior"]))
    check("simulation", lambda: SimSettings.from_config(cfg))
    check("network", lambda: NetworkParams.from_config(cfg))
    check("kernels.tau_ms", lambda: n_lags(cfg["simulation"]["dt_ms"], cfg["kernels"]["tau_ms"]))
    check("crosscheck", lambda: SimSettings.from_config(crosscheck_config(cfg)))
    check("gates", lambda: Gates.from_config(cfg["gates"]))
    _resolve_log_targets(cfg, TARGET_NAMES, LOG_TARGETS, HAGEN_MODEL)
    sim = cfg["simulation"]
    analysed = (sim["tstop_ms"] - sim["transient_ms"]) / (sim["dt_ms"] * cfg["lfp"]["decimate"])
    if analysed < 100:
        raise ConfigError(
            f"config key 'simulation.tstop_ms': only {analysed:.0f} LFP points after the transient "
            "and decimation; catch22 needs at least 100"
        )


def deep_update(base: dict, overrides: Mapping) -> dict:
    """Recursively merge ``overrides`` into ``base`` (in place) and return it."""
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def load_config(paths: Iterable[str | Path] = (), overrides: Mapping | None = None) -> dict:
    """Load YAML configs (later ones override earlier), apply overrides, validate.

    With no paths, the repository's ``config/config.yaml`` is used.
    """
    cfg: dict = {}
    paths = list(paths) or [DEFAULT_CONFIG]
    for path in paths:
        try:
            with open(path) as fh:
                loaded = yaml.safe_load(fh) or {}
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping")
        deep_update(cfg, loaded)
    deep_update(cfg, overrides or {})
    return validate_config(cfg)


def n_shards(cfg: Mapping) -> int:
    """Number of shards of the campaign."""
    return -(-cfg["campaign"]["n_samples"] // cfg["campaign"]["shard_size"])


def shard_sample_ids(cfg: Mapping, shard: int) -> range:
    """Sample ids of shard ``shard``: [shard * size, min((shard + 1) * size, n))."""
    size, n = cfg["campaign"]["shard_size"], cfg["campaign"]["n_samples"]
    if not 0 <= shard < n_shards(cfg):
        raise ValueError(f"shard {shard} out of range [0, {n_shards(cfg)})")
    return range(shard * size, min((shard + 1) * size, n))


#: the config sections that determine the simulated dataset
SIMULATION_SECTIONS: tuple[str, ...] = ("campaign", "prior", "simulation", "network", "kernels", "lfp", "gates")


def simulation_config(cfg: Mapping) -> dict:
    """The config that determines the simulated dataset (the aggregate's provenance and params).

    ``simulation.mpi_ranks`` is left out: the task farm gives the same result; of ``gates``
    only the selected preset is kept.
    """
    from workflow.contract import HAGEN_MODEL
    from workflow.simulation.gates import selected_gates_config

    if cfg.get("model", HAGEN_MODEL) != HAGEN_MODEL:
        return model_simulation_config(cfg)
    out = {k: copy.deepcopy(cfg[k]) for k in SIMULATION_SECTIONS}
    out["simulation"].pop("mpi_ranks", None)
    out["gates"] = selected_gates_config(out["gates"])
    return out


def model_simulation_config(cfg: Mapping) -> dict:
    """What determines the dataset of a registered model's campaign: the model (name and module),
    its typed ``model_settings`` and ``campaign``; the sections of the Hagen network do not apply."""
    from workflow.simulation.model_shard import settings_overrides

    return {
        "model": cfg["model"],
        "model_module": cfg["model_module"],
        "model_settings": settings_overrides(cfg),
        "campaign": copy.deepcopy(dict(cfg["campaign"])),
    }


def shard_config(cfg: Mapping) -> dict:
    """The config that determines one shard: :func:`simulation_config` without
    ``campaign.n_samples``, so that growing a campaign keeps its finished shards."""
    out = simulation_config(cfg)
    out["campaign"].pop("n_samples", None)
    return out
