"""Config loading and validation, shared by Snakemake (rules/common.smk) and the CLI.

The JSON schema (``workflow/schemas/config.schema.yaml``) checks types and ranges and fills
defaults; :func:`check_config` adds the rules that span keys. Both raise :class:`ConfigError`
naming the offending key, before any job starts.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import jsonschema
import yaml

from workflow.contract import PARAM_NAMES

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


def validate_schema(cfg: dict) -> dict:
    """Fill defaults into ``cfg`` (in place) and validate it against the schema."""
    schema = load_schema()
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    # Fill nested defaults: a first pass creates the sections, a second fills them.
    for _ in range(2):
        errors = sorted(validator.iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        key = ".".join(str(p) for p in err.absolute_path) or "<top level>"
        raise ConfigError(f"config key {key!r}: {err.message}")
    return cfg


def check_config(cfg: Mapping) -> None:
    """Checks that span several keys; raise :class:`ConfigError` naming the key."""
    prior = cfg["prior"]
    for name in PARAM_NAMES:
        low, high = prior[name]
        if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
            raise ConfigError(f"config key 'prior.{name}': low bound {low} must be below high bound {high}")
    for name in ("J_EE", "J_IE", "J_ext", "tau_syn_E", "tau_syn_I"):
        if prior[name][0] <= 0:
            raise ConfigError(f"config key 'prior.{name}': bounds must be positive, got {prior[name]}")
    for name in ("J_EI", "J_II"):
        if prior[name][1] >= 0:
            raise ConfigError(f"config key 'prior.{name}': inhibitory bounds must be negative, got {prior[name]}")
    sim = cfg["simulation"]
    if sim["transient_ms"] >= sim["tstop_ms"]:
        raise ConfigError(
            f"config key 'simulation.transient_ms': {sim['transient_ms']} must be below "
            f"simulation.tstop_ms ({sim['tstop_ms']})"
        )
    steps = sim["tstop_ms"] / sim["dt_ms"]
    if abs(steps - round(steps)) > 1e-6:
        raise ConfigError(f"config key 'simulation.tstop_ms': {sim['tstop_ms']} is not a multiple of dt_ms")
    if sim["min_rate_hz"] >= sim["max_rate_hz"]:
        raise ConfigError("config key 'simulation.min_rate_hz': must be below simulation.max_rate_hz")
    analysed = (sim["tstop_ms"] - sim["transient_ms"]) / (sim["dt_ms"] * cfg["lfp"]["decimate"])
    if analysed < 100:
        raise ConfigError(
            f"config key 'simulation.tstop_ms': only {analysed:.0f} LFP points after the transient "
            "and decimation; catch22 needs at least 100"
        )
    if cfg["campaign"]["shard_size"] > cfg["campaign"]["n_samples"]:
        # harmless, but almost always a typo
        pass
    if cfg["kernels"]["tau_ms"] < sim["dt_ms"]:
        raise ConfigError("config key 'kernels.tau_ms': must be at least simulation.dt_ms")


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
    validate_schema(cfg)
    check_config(cfg)
    return cfg


def n_shards(cfg: Mapping) -> int:
    """Number of shards of the campaign."""
    return -(-cfg["campaign"]["n_samples"] // cfg["campaign"]["shard_size"])


def shard_sample_ids(cfg: Mapping, shard: int) -> range:
    """Sample ids of shard ``shard``: [shard * size, min((shard + 1) * size, n))."""
    size, n = cfg["campaign"]["shard_size"], cfg["campaign"]["n_samples"]
    if not 0 <= shard < n_shards(cfg):
        raise ValueError(f"shard {shard} out of range [0, {n_shards(cfg)})")
    return range(shard * size, min((shard + 1) * size, n))


def simulation_config(cfg: Mapping) -> dict:
    """The config sections that determine a sample's simulation result (hashed in provenance)."""
    keys = ("campaign", "prior", "simulation", "network", "kernels", "lfp")
    out = {k: copy.deepcopy(cfg[k]) for k in keys}
    out["simulation"].pop("mpi_ranks", None)  # the task farm gives the same result
    return out
