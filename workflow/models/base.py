"""The model interface: what a simulator declares so that the campaign can run it.

A :class:`Model` declares, as data:

* its parameters (names, units) and their uniform prior (bounds, plus an optional constraints
  callable that rejects draws inside the box);
* its inference targets: names, units and the map from a parameter row to a target row;
* how to simulate a batch: ``simulate(theta, sample_ids, seed, settings)``, where sample ``i``
  draws every random number from its own streams, ``SeedSequence(seed, spawn_key=(sample_id,
  stream))`` (:class:`workflow.seeds.SampleStream`), so a sample's result does not depend on its
  batch, its position in it, or the shard, rank or order that ran it;
* its named features and any extra named outputs (such as rates), each with column names.

Everything a model adds lives in one object; nothing downstream needs the model's module. Two
models are registered: ``"mpr"`` (:data:`workflow.models.mpr.MODEL`, Baldy et al. 2024) and
``"hh"`` (:data:`workflow.models.hh.MODEL`, Gonçalves et al. 2020). :func:`register` adds a
user's own model for the running process.

The Hagen et al. 2022 network (the campaign's default, ``hagen2022``) predates this interface:
its vocabulary lives in :mod:`workflow.contract`, its prior in :mod:`workflow.simulation.prior`
and its simulation in :mod:`workflow.simulation.sample`; it is not registered here (its campaign
has kernels, gates and a cross-check). The campaign of any registered model (config ``model:``)
runs through :mod:`workflow.simulation.model_shard`.

The smallest complete model::

    @dataclasses.dataclass(frozen=True)
    class Settings:
        noise: float = 0.1

    def simulate(theta, sample_ids, seed, settings, keep_traces):
        noise = [sample_rng(seed, i).normal(scale=settings.noise) for i in sample_ids]
        return SimBatch(features=theta[:, :1] + np.array(noise).reshape(-1, 1))

    MODEL = Model(name="toy", description="x = mu + noise", param_names=("mu",), param_units=("1",),
                  prior_bounds={"mu": (-1.0, 1.0)}, feature_names=("x",), feature_units=("1",),
                  settings_type=Settings, simulator=simulate)
    register(MODEL)  # now get_model("toy") returns it

(``tests/test_models_interface.py`` runs this model through the interface.)
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from workflow.seeds import SampleStream, sample_sequence

#: Candidates drawn per block of the prior's rejection sampler (as :mod:`workflow.simulation.prior`).
PRIOR_CANDIDATES = 32

#: Rejection draws tried per sample before giving up.
PRIOR_MAX_TRIES = 100_000


@dataclasses.dataclass(frozen=True)
class SimBatch:
    """What a model's simulator returns for a batch of n samples.

    Attributes:
        features: (n, F) float64, columns :attr:`Model.feature_names`. A row with a non-finite
            value is an invalid sample.
        outputs: Extra named outputs: name -> (n, k) float64, columns ``Model.outputs[name]``.
        traces: Recorded time series (only with ``keep_traces=True``): name -> (n, T).
        t: (T,) times of ``traces``, in the model's time unit (None without traces).
    """

    features: np.ndarray
    outputs: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    traces: Mapping[str, np.ndarray] | None = None
    t: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.features.shape[0])

    @property
    def valid(self) -> np.ndarray:
        """(n,) bool: rows whose features are all finite."""
        return np.isfinite(self.features).all(axis=1)


class Simulator(Protocol):
    """``simulator(theta, sample_ids, seed, settings, keep_traces) -> SimBatch``.

    ``theta`` is (n, P) float64 in the model's parameter order, ``sample_ids`` (n,) int64, ``seed``
    the campaign's root seed, ``settings`` an instance of the model's settings type.
    """

    def __call__(
        self, theta: np.ndarray, sample_ids: np.ndarray, seed: int, settings: Any, keep_traces: bool
    ) -> SimBatch: ...


def sample_rng(seed: int, sample_id: int) -> np.random.Generator:
    """A numpy Generator on sample ``sample_id``'s simulator stream (:attr:`SampleStream.NETWORK`)."""
    return np.random.default_rng(sample_sequence(seed, int(sample_id), SampleStream.NETWORK))


def identity_targets(theta: np.ndarray) -> np.ndarray:
    """The parameters themselves as targets (every parameter is inferred)."""
    return np.array(theta, dtype=np.float64, copy=True)


def _check_names(kind: str, names: Sequence[str]) -> tuple[str, ...]:
    names = tuple(names)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"{kind} must be a non-empty sequence of non-empty strings, got {names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"{kind} has duplicates: {names}")
    return names


@dataclasses.dataclass(frozen=True)
class ShardCost:
    """Estimated cost of one shard in one process.

    Attributes:
        core_seconds: CPU seconds, interpreter start and imports included.
        peak_mb: Peak resident memory, MB.
    """

    core_seconds: float
    peak_mb: float


@dataclasses.dataclass(frozen=True)
class Model:
    """A simulator and its vocabulary (see the module docstring).

    Attributes:
        name: Registry name (the config's ``model:`` value).
        description: One line: the model and its source.
        param_names: Free parameters, in the column order of ``theta``.
        param_units: Unit of each parameter.
        prior_bounds: Uniform prior, ``{name: (low, high)}`` for every parameter.
        feature_names: Columns of :attr:`SimBatch.features`.
        feature_units: Unit of each feature.
        settings_type: Frozen dataclass of the simulation's fixed quantities; its defaults are
            the model's reference protocol.
        simulator: The batch simulator (:class:`Simulator`).
        target_names: Inference targets (default: the parameters).
        target_units: Unit of each target (default: the parameters').
        to_targets: Map (n, P) parameters -> (n, len(target_names)) targets (default: identity).
        constraints: Optional ``(n, P) -> (n,) bool``: which rows of the box prior are kept.
        outputs: Extra outputs of :attr:`SimBatch.outputs`: name -> column names.
        output_units: Unit of each extra output.
        ground_truth: Optional reference parameter set (the paper's observed data).
        time_unit: Unit of :attr:`SimBatch.t`.
        log_targets: Targets the posterior learns on the log scale unless the config's
            ``inference.log_targets`` names others (default: none); each must be positive under
            the prior.
        cost: Optional ``(settings, n) -> ShardCost``: the CPU time and peak memory of one
            shard of n samples in one process (``python -m workflow shard``, imports included).
            SLURM requests and the dry-run's estimate come from it
            (:mod:`workflow.simulation.cost`); without it a shard asks for generous constants.
            ``benchmarks/bench_model_cost.py`` measures a model against its cost function.
    """

    name: str
    description: str
    param_names: tuple[str, ...]
    param_units: tuple[str, ...]
    prior_bounds: Mapping[str, tuple[float, float]]
    feature_names: tuple[str, ...]
    feature_units: tuple[str, ...]
    settings_type: type
    simulator: Simulator
    target_names: tuple[str, ...] | None = None
    target_units: tuple[str, ...] | None = None
    to_targets: Callable[[np.ndarray], np.ndarray] = identity_targets
    constraints: Callable[[np.ndarray], np.ndarray] | None = None
    outputs: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    output_units: Mapping[str, str] = dataclasses.field(default_factory=dict)
    ground_truth: Mapping[str, float] | None = None
    time_unit: str = "s"
    log_targets: tuple[str, ...] = ()
    cost: Callable[[Any, int], ShardCost] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        params = _check_names("param_names", self.param_names)
        object.__setattr__(self, "param_names", params)
        object.__setattr__(self, "feature_names", _check_names("feature_names", self.feature_names))
        if self.target_names is None:
            object.__setattr__(self, "target_names", params)
            if self.target_units is None:
                object.__setattr__(self, "target_units", tuple(self.param_units))
        object.__setattr__(self, "target_names", _check_names("target_names", self.target_names))
        unknown_log = [t for t in self.log_targets if t not in self.target_names]
        if unknown_log:
            raise ValueError(f"log_targets {unknown_log} are not targets {self.target_names}")
        object.__setattr__(self, "log_targets", tuple(self.log_targets))
        for kind, names, units in (
            ("param_units", self.param_names, self.param_units),
            ("feature_units", self.feature_names, self.feature_units),
            ("target_units", self.target_names, self.target_units),
        ):
            if units is None or len(tuple(units)) != len(names):
                raise ValueError(f"{kind} must give one unit per name ({len(names)}), got {units!r}")
            object.__setattr__(self, kind, tuple(units))
        missing = [p for p in params if p not in self.prior_bounds]
        unknown = sorted(set(self.prior_bounds) - set(params))
        if missing or unknown:
            raise ValueError(f"prior_bounds must cover exactly {params}: missing {missing}, unknown {unknown}")
        bounds = {}
        for p in params:
            low, high = (float(b) for b in self.prior_bounds[p])
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError(f"prior_bounds[{p!r}]: low ({low}) must be below high ({high}), both finite")
            bounds[p] = (low, high)
        object.__setattr__(self, "prior_bounds", bounds)
        if not (dataclasses.is_dataclass(self.settings_type) and isinstance(self.settings_type, type)):
            raise TypeError(f"settings_type must be a dataclass type, got {self.settings_type!r}")
        if not callable(self.simulator):
            raise TypeError("simulator must be callable")
        if self.cost is not None and not callable(self.cost):
            raise TypeError("cost must be callable or None")
        outputs = {}
        for key, cols in self.outputs.items():
            outputs[key] = _check_names(f"outputs[{key!r}]", cols)
            if key not in self.output_units:
                raise ValueError(f"output_units lacks the unit of output {key!r}")
        object.__setattr__(self, "outputs", outputs)
        if self.ground_truth is not None:
            if set(self.ground_truth) != set(params):
                raise ValueError(f"ground_truth must give every parameter {params}, got {sorted(self.ground_truth)}")
            row = self.theta_row(self.ground_truth)
            if not self.accept(row)[0]:
                raise ValueError(f"ground_truth {dict(self.ground_truth)} lies outside the prior")

    # -- prior ------------------------------------------------------------------------------

    @property
    def low(self) -> np.ndarray:
        """(P,) lower prior bounds."""
        return np.array([self.prior_bounds[p][0] for p in self.param_names])

    @property
    def high(self) -> np.ndarray:
        """(P,) upper prior bounds."""
        return np.array([self.prior_bounds[p][1] for p in self.param_names])

    def theta_row(self, values: Mapping[str, float]) -> np.ndarray:
        """A (1, P) parameter array from ``{name: value}``; KeyError naming a missing parameter."""
        missing = [p for p in self.param_names if p not in values]
        if missing:
            raise KeyError(f"{self.name}: no value for parameter(s) {missing}")
        return np.array([[float(values[p]) for p in self.param_names]])

    def check_theta(self, theta: np.ndarray) -> np.ndarray:
        """theta as (n, P) float64; ValueError if its shape or values are wrong."""
        th = np.asarray(theta, dtype=np.float64)
        if th.ndim != 2 or th.shape[1] != len(self.param_names):
            raise ValueError(
                f"{self.name}: theta must have shape (n, {len(self.param_names)}) with columns "
                f"{self.param_names}, got {th.shape}"
            )
        bad = ~np.isfinite(th)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(f"{self.name}: theta[{i}] has a non-finite {self.param_names[j]}: {th[i, j]}")
        return th

    def accept(self, theta: np.ndarray) -> np.ndarray:
        """(n,) bool: rows inside the prior box that satisfy the constraints."""
        th = self.check_theta(theta)
        ok = ((th >= self.low) & (th <= self.high)).all(axis=1)
        if self.constraints is not None and th.shape[0]:
            ok &= np.asarray(self.constraints(th), dtype=bool)
        return ok

    def draw_prior(self, seed: int, sample_ids: Sequence[int]) -> np.ndarray:
        """Prior draws of the given samples, (n, P), each from its own stream.

        Sample ``i`` draws uniform candidates in blocks of :data:`PRIOR_CANDIDATES` from
        ``SeedSequence(seed, spawn_key=(i, SampleStream.PRIOR))`` and keeps the first that
        satisfies the constraints, as the Hagen campaign's prior does.
        """
        ids = np.asarray(sample_ids)
        if ids.ndim != 1 or (ids.size and (not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0)):
            raise ValueError(f"sample_ids must be non-negative integers, got {sample_ids!r}")
        low, high = self.low, self.high
        out = np.empty((ids.size, low.size))
        for row, sid in enumerate(ids):
            rng = np.random.default_rng(sample_sequence(seed, int(sid), SampleStream.PRIOR))
            for _ in range(PRIOR_MAX_TRIES // PRIOR_CANDIDATES):
                cand = rng.uniform(low, high, size=(PRIOR_CANDIDATES, low.size))
                ok = np.flatnonzero(self.accept(cand))
                if ok.size:
                    out[row] = cand[ok[0]]
                    break
            else:
                raise RuntimeError(f"{self.name}: no prior draw satisfied the constraints in {PRIOR_MAX_TRIES} tries")
        return out

    # -- targets ----------------------------------------------------------------------------

    def targets(self, theta: np.ndarray) -> np.ndarray:
        """(n, len(target_names)) targets of the parameter rows."""
        th = self.check_theta(theta)
        out = np.asarray(self.to_targets(th), dtype=np.float64)
        if out.shape != (th.shape[0], len(self.target_names)):
            raise ValueError(
                f"{self.name}: to_targets returned {out.shape}, expected {(th.shape[0], len(self.target_names))}"
            )
        return out

    # -- simulation -------------------------------------------------------------------------

    def settings(self, **overrides: Any) -> Any:
        """The settings with the reference protocol's defaults, some fields overridden.

        Raises:
            ValueError: naming an unknown field (or the settings' own validation error).
        """
        fields = {f.name for f in dataclasses.fields(self.settings_type)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ValueError(f"{self.name}: unknown setting(s) {unknown}; known: {sorted(fields)}")
        return self.settings_type(**overrides)

    def simulate(
        self,
        theta: np.ndarray,
        sample_ids: Sequence[int],
        seed: int,
        settings: Any = None,
        *,
        keep_traces: bool = False,
    ) -> SimBatch:
        """Simulate a batch: row ``k`` of ``theta`` is sample ``sample_ids[k]``.

        Args:
            theta: (n, P) parameters in :attr:`param_names` order and units.
            sample_ids: (n,) campaign sample indices; each selects the sample's random streams.
            seed: Root seed of the campaign (non-negative).
            settings: An instance of :attr:`settings_type` (default: the reference protocol).
            keep_traces: Also return the recorded time series.

        Returns:
            The features, extra outputs and (optionally) traces, checked against the declared
            names.
        """
        th = self.check_theta(theta)
        ids = np.asarray(sample_ids)
        if ids.shape != (th.shape[0],) or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
            raise ValueError(f"sample_ids must be {th.shape[0]} integers (one per row of theta), got shape {ids.shape}")
        if int(seed) < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        s = self.settings_type() if settings is None else settings
        if not isinstance(s, self.settings_type):
            raise TypeError(f"{self.name}: settings must be {self.settings_type.__name__}, got {type(s).__name__}")
        out = self.simulator(th, ids.astype(np.int64), int(seed), s, keep_traces)
        n = th.shape[0]
        if out.features.shape != (n, len(self.feature_names)):
            raise RuntimeError(
                f"{self.name}: features have shape {out.features.shape}, expected {(n, len(self.feature_names))}"
            )
        if set(out.outputs) != set(self.outputs):
            raise RuntimeError(
                f"{self.name}: outputs {sorted(out.outputs)} differ from the declared {sorted(self.outputs)}"
            )
        for key, arr in out.outputs.items():
            if arr.shape != (n, len(self.outputs[key])):
                raise RuntimeError(
                    f"{self.name}: output {key!r} has shape {arr.shape}, expected {(n, len(self.outputs[key]))}"
                )
        return out

    def describe(self, settings: Any = None) -> dict[str, Any]:
        """A JSON-serialisable description (names, units, prior, settings) for provenance."""
        s = self.settings_type() if settings is None else settings
        return {
            "name": self.name,
            "description": self.description,
            "param_names": list(self.param_names),
            "param_units": list(self.param_units),
            "prior_bounds": {k: list(v) for k, v in self.prior_bounds.items()},
            "constraints": self.constraints is not None,
            "target_names": list(self.target_names),
            "target_units": list(self.target_units),
            "feature_names": list(self.feature_names),
            "feature_units": list(self.feature_units),
            "outputs": {k: list(v) for k, v in self.outputs.items()},
            "output_units": dict(self.output_units),
            "time_unit": self.time_unit,
            "log_targets": list(self.log_targets),
            "settings": dataclasses.asdict(s),
        }


def sub_batches(n: int, bytes_per_sample: int, budget_bytes: int = 1 << 30) -> list[slice]:
    """Slices of ``range(n)`` whose traces fit in ``budget_bytes`` (at least one sample each)."""
    size = max(1, budget_bytes // max(1, bytes_per_sample))
    return [slice(i, min(n, i + size)) for i in range(0, n, size)]


def stepped_shard_cost(
    n: int,
    *,
    steps: int,
    points: int,
    trace_bytes_per_point: int,
    startup_core_s: float,
    step_core_s: float,
    sample_step_core_s: float,
    feature_point_core_s: float,
    base_mb: float,
    peak_bytes_per_point: float,
) -> ShardCost:
    """:class:`ShardCost` of a fixed-step simulator integrated in :func:`sub_batches` of at most
    1 GiB of traces (mpr, hh): interpreter start and imports, a per-step cost per sub-batch that
    does not depend on its width (numpy call overhead), a cost per sample and step, the features
    per sample and recorded point; memory is a base plus one sub-batch at
    ``peak_bytes_per_point`` per sample and recorded point."""
    batches = sub_batches(n, trace_bytes_per_point * points)
    largest = batches[0].stop - batches[0].start if batches else 0
    core_s = (
        startup_core_s
        + len(batches) * steps * step_core_s
        + n * steps * sample_step_core_s
        + n * points * feature_point_core_s
    )
    return ShardCost(core_seconds=core_s, peak_mb=base_mb + largest * peak_bytes_per_point * points / 1e6)


# -- registry -------------------------------------------------------------------------------

#: Built-in models: registry name -> module holding ``MODEL`` (imported on first use).
BUILTIN: dict[str, str] = {
    "mpr": "workflow.models.mpr",
    "hh": "workflow.models.hh",
}

_REGISTERED: dict[str, Model] = {}


def register(model: Model) -> None:
    """Make ``model`` available to :func:`get_model` in this process.

    Raises:
        ValueError: if the name is a built-in model's or already registered to another model.
    """
    if not isinstance(model, Model):
        raise TypeError(f"register expects a Model, got {type(model).__name__}")
    if model.name in BUILTIN or (model.name in _REGISTERED and _REGISTERED[model.name] is not model):
        raise ValueError(f"model name {model.name!r} is taken")
    _REGISTERED[model.name] = model


def model_names() -> tuple[str, ...]:
    """Names :func:`get_model` accepts."""
    return tuple(BUILTIN) + tuple(n for n in _REGISTERED if n not in BUILTIN)


def get_model(name: str) -> Model:
    """The model registered as ``name``.

    Raises:
        ValueError: naming the config key ``model`` and the known names.
    """
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in BUILTIN:
        raise ValueError(f"model: unknown model {name!r}; known: {list(model_names())}")
    model = importlib.import_module(BUILTIN[name]).MODEL
    if not isinstance(model, Model) or model.name != name:
        raise RuntimeError(f"{BUILTIN[name]}.MODEL is not the Model {name!r}")
    return model
