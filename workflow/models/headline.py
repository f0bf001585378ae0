"""The headline results of Baldy et al. 2024 (MPR) and Gonçalves et al. 2020 (HH) with sbi's NPE.

MPR (Baldy 2024 Sec. 3.2, 3.4-3.5, Fig. 5C, 6): single-round NPE on ``n_train`` prior
simulations of the mean field (the paper: 10^5) with Baldy's 34 features; the posterior at the
ground truth (Delta = 0.7, eta = -4.6, J = 14.5, noise sigma = 0.1) must cover it, and eta and J
are negatively correlated in it (the paper: rho ~ -0.78). Then the spiking counterpart: the QIF
network (:mod:`workflow.models.qif`) at the ground truth gives r(t) and v(t) whose features the
same MF-trained estimator turns into a posterior with its own eta-J correlation (Fig. 6C); the
MF solution is compared with the network's averages (Fig. 6B).

HH (Gonçalves 2020 Fig. 4d): one training set of ``n_train`` prior simulations, three
estimators trained on the first 1, 4 and 7 features (:data:`workflow.models.hh.FEATURE_SETS`);
the posterior at the ground truth (:data:`workflow.models.hh.GROUND_TRUTH`) covers it and its
standard deviation per parameter narrows as features are added.

The estimator follows Baldy 2024 Sec. 2.7: sbi's MAF with 5 transforms of 50 hidden units
(:class:`NPESettings`), features z-scored by sbi, the parameters learned on their own scale.

Seeds. Everything derives from one root ``seed``:

* the training set is the first ``n_train`` samples of a campaign of the model with that seed:
  sample ``i`` draws its parameters from ``SeedSequence(seed, spawn_key=(i, PRIOR))`` and its
  noise from ``(i, NETWORK)`` (:meth:`workflow.models.base.Model.draw_prior`, ``simulate``);
* every other stream is ``SeedSequence(seed, spawn_key=(INFERENCE_KEY, Stream.HEADLINE,
  purpose, model_key, *extra))`` with ``purpose`` a :class:`Purpose` and ``model_key`` the CRC32
  of the model's name: the observation's noise, torch's training seed (one per feature set), the
  posterior draws (one per observation) and the QIF network's initial state.

Costs on one core (this machine, measured): MPR 1.4 s per 100 simulations at the paper's
resolution (features included), HH 0.5 s per 100, the QIF network 1.3 s per simulated second at
N = 10^4; training a MAF on 10^4 rows takes one to a few minutes.
"""

from __future__ import annotations

import dataclasses
import enum
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from workflow.inference.npe import NullTracker
from workflow.models import hh, mpr, qif
from workflow.models.base import Model, get_model
from workflow.seeds import INFERENCE_KEY, Stream, integer_seed


class Purpose(enum.IntEnum):
    """Third spawn-key element of a headline stream: ``(INFERENCE_KEY, HEADLINE, purpose, model_key, *extra)``."""

    OBSERVATION = 0  # root seed of the ground-truth observation's simulator noise
    TRAIN = 1  # torch seed of an estimator's training: (TRAIN, model_key, n_features)
    DRAWS = 2  # torch seed of the posterior draws: (DRAWS, model_key, n_features, observation)
    QIF = 3  # the QIF network's initial potentials: (QIF, model_key)


#: Observations of the headline results (last spawn-key element of :attr:`Purpose.DRAWS`).
OBSERVATIONS: tuple[str, ...] = ("mf", "qif")


def model_key(name: str) -> int:
    """A model's spawn-key element: the CRC32 of its name."""
    return zlib.crc32(name.encode())


def stream(seed: int, purpose: Purpose, model: str, *extra: int) -> np.random.SeedSequence:
    """The SeedSequence of one headline stream."""
    if int(seed) < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    key = (INFERENCE_KEY, int(Stream.HEADLINE), int(Purpose(purpose)), model_key(model), *(int(e) for e in extra))
    return np.random.SeedSequence(int(seed), spawn_key=key)


def stream_seed(seed: int, purpose: Purpose, model: str, *extra: int) -> int:
    """A non-negative 63-bit integer from one headline stream (for torch, simulator roots)."""
    return integer_seed(stream(seed, purpose, model, *extra))


# --------------------------------------------------------------------------------------------
# NPE
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NPESettings:
    """Density estimator and training (defaults: Baldy 2024 Sec. 2.7's MAF, sbi's training).

    Attributes:
        density_estimator: sbi flow (``"maf"``, ``"nsf"``, ...).
        hidden_features: Hidden units per layer (50).
        num_transforms: Flow transforms (5).
        training_batch_size: Rows per batch (200, sbi's default).
        learning_rate: Adam's learning rate (5e-4, sbi's default).
        validation_fraction: Rows held out for early stopping (0.1).
        stop_after_epochs: Early-stopping patience (20, sbi's default).
        max_num_epochs: Cap on epochs (bounds the run time).
        n_draws: Posterior draws per observation.
        threads: torch intra-op threads.
        feature_transform: ``"asinh"``: each feature becomes asinh((x - median) / IQR) with the
            training set's median and interquartile range before sbi z-scores it; ``"none"``:
            raw features (the papers'). The transform is monotone and invertible per feature, so
            it changes no information, only the conditioning of the network: several features
            (the HH rest SD, the MPR peak counts and times) have tails beyond 10 IQR, which
            z-scoring alone squeezes the bulk of the prior, and the observations, into a
            sliver of the input range.
    """

    density_estimator: str = "maf"
    hidden_features: int = 50
    num_transforms: int = 5
    training_batch_size: int = 200
    learning_rate: float = 5e-4
    validation_fraction: float = 0.1
    stop_after_epochs: int = 20
    max_num_epochs: int = 400
    n_draws: int = 10_000
    threads: int = 1
    feature_transform: str = "asinh"

    def __post_init__(self) -> None:
        if self.feature_transform not in FEATURE_TRANSFORMS:
            raise ValueError(f"feature_transform must be one of {FEATURE_TRANSFORMS}, got {self.feature_transform!r}")
        for name in ("hidden_features", "num_transforms", "training_batch_size", "stop_after_epochs"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.max_num_epochs < 1 or self.n_draws < 2 or self.threads < 1:
            raise ValueError(
                f"max_num_epochs, threads must be >= 1 and n_draws >= 2, got {self.max_num_epochs}, "
                f"{self.threads}, {self.n_draws}"
            )
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")


#: Per-feature transforms applied before sbi's z-scoring (:attr:`NPESettings.feature_transform`).
FEATURE_TRANSFORMS: tuple[str, ...] = ("asinh", "none")


@dataclasses.dataclass(frozen=True)
class FeatureTransform:
    """x -> asinh((x - centre) / scale) per feature (identity when ``kind == "none"``).

    Attributes:
        kind: One of :data:`FEATURE_TRANSFORMS`.
        centre: (F,) the training set's medians (zeros for ``"none"``).
        scale: (F,) its interquartile ranges (the SD where the IQR is 0, 1 if both are 0).
    """

    kind: str
    centre: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, kind: str) -> FeatureTransform:
        """The transform of the training features ``x`` (n, F)."""
        if kind not in FEATURE_TRANSFORMS:
            raise ValueError(f"feature_transform must be one of {FEATURE_TRANSFORMS}, got {kind!r}")
        if kind == "none":
            return cls(kind, np.zeros(x.shape[1]), np.ones(x.shape[1]))
        q25, centre, q75 = np.percentile(x, [25, 50, 75], axis=0)
        scale = q75 - q25
        sd = x.std(axis=0)
        scale = np.where(scale > 0, scale, np.where(sd > 0, sd, 1.0))
        return cls(kind, centre, scale)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, dtype=np.float64) - self.centre) / self.scale
        return z if self.kind == "none" else np.arcsinh(z)


@dataclasses.dataclass(frozen=True)
class TrainingSet:
    """Valid prior simulations of a model.

    Attributes:
        theta: (n, P) parameters of the valid samples.
        x: (n, F) their features.
        sample_ids: (n,) their sample ids.
        n_simulated: Samples simulated (valid or not).
        seconds: Wall time of simulation and features.
    """

    theta: np.ndarray
    x: np.ndarray
    sample_ids: np.ndarray
    n_simulated: int
    seconds: float


def simulate_training_set(
    model: Model,
    n: int,
    seed: int,
    settings: Any = None,
    *,
    batch: int = 1000,
    log: Callable[[str], None] | None = None,
) -> TrainingSet:
    """The first ``n`` samples of a campaign of ``model`` with root ``seed``, valid rows only."""
    if n < 1 or batch < 1:
        raise ValueError(f"n and batch must be positive, got n={n}, batch={batch}")
    t0 = time.perf_counter()
    ids = np.arange(n, dtype=np.int64)
    theta = model.draw_prior(seed, ids)
    x = np.empty((n, len(model.feature_names)))
    for b0 in range(0, n, batch):
        sl = slice(b0, min(n, b0 + batch))
        x[sl] = model.simulate(theta[sl], ids[sl], seed, settings).features
        if log is not None:
            log(f"{model.name}: simulated {sl.stop}/{n} ({time.perf_counter() - t0:.0f} s)")
    ok = np.isfinite(x).all(axis=1)
    return TrainingSet(theta=theta[ok], x=x[ok], sample_ids=ids[ok], n_simulated=n, seconds=time.perf_counter() - t0)


@dataclasses.dataclass
class Estimator:
    """A trained posterior estimator.

    Attributes:
        posterior: sbi's DirectPosterior over the model's parameters (support: the prior box),
            conditioned on transformed features.
        feature_idx: Columns of the model's features it conditions on.
        transform: The feature transform of those columns (applied by :func:`summarise`).
        epochs: Epochs trained.
        seconds: Wall time of the training.
        torch_seed: The training's torch seed.
    """

    posterior: Any
    feature_idx: tuple[int, ...]
    transform: FeatureTransform
    epochs: int
    seconds: float
    torch_seed: int


def train_estimator(
    model: Model,
    data: TrainingSet,
    seed: int,
    npe: NPESettings | None = None,
    feature_idx: Sequence[int] | None = None,
) -> Estimator:
    """Train single-round NPE on ``data`` (only the columns ``feature_idx``, default all).

    torch is seeded from :attr:`Purpose.TRAIN` with the number of features as the extra key, so
    each feature set has its own stream.
    """
    import torch
    from sbi.inference import NPE
    from sbi.neural_nets import posterior_nn
    from sbi.utils import BoxUniform

    cfg = NPESettings() if npe is None else npe
    cols = tuple(range(data.x.shape[1])) if feature_idx is None else tuple(int(i) for i in feature_idx)
    if not cols or min(cols) < 0 or max(cols) >= data.x.shape[1]:
        raise ValueError(f"feature_idx must index the {data.x.shape[1]} features, got {cols}")
    torch.set_num_threads(cfg.threads)
    torch_seed = stream_seed(seed, Purpose.TRAIN, model.name, len(cols))
    torch.manual_seed(torch_seed)
    prior = BoxUniform(
        low=torch.as_tensor(model.low, dtype=torch.float32), high=torch.as_tensor(model.high, dtype=torch.float32)
    )
    builder = posterior_nn(
        model=cfg.density_estimator,
        z_score_theta="independent",
        z_score_x="independent",
        hidden_features=cfg.hidden_features,
        num_transforms=cfg.num_transforms,
    )
    trainer = NPE(prior=prior, density_estimator=builder, tracker=NullTracker(), show_progress_bars=False)
    transform = FeatureTransform.fit(data.x[:, cols], cfg.feature_transform)
    trainer.append_simulations(
        torch.as_tensor(data.theta, dtype=torch.float32),
        torch.as_tensor(transform(data.x[:, cols]), dtype=torch.float32),
    )
    t0 = time.perf_counter()
    net = trainer.train(
        training_batch_size=cfg.training_batch_size,
        learning_rate=cfg.learning_rate,
        validation_fraction=cfg.validation_fraction,
        stop_after_epochs=cfg.stop_after_epochs,
        max_num_epochs=cfg.max_num_epochs,
    )
    seconds = time.perf_counter() - t0
    net.eval()
    posterior = trainer.build_posterior(net)
    epochs = int(trainer.summary["epochs_trained"][-1])
    return Estimator(
        posterior=posterior,
        feature_idx=cols,
        transform=transform,
        epochs=epochs,
        seconds=seconds,
        torch_seed=torch_seed,
    )


@dataclasses.dataclass(frozen=True)
class PosteriorSummary:
    """A posterior at one observation, against the parameters that generated it.

    Attributes:
        names: Parameter names.
        truth: (P,) the generating parameters.
        draws: (n_draws, P) posterior draws.
        quantile: (P,) the truth's marginal quantile: the fraction of draws below it.
        hpd_level: Fraction of draws with a higher posterior density than the truth: the
            smallest credibility level whose highest-density region contains the truth.
    """

    names: tuple[str, ...]
    truth: np.ndarray
    draws: np.ndarray
    quantile: np.ndarray
    hpd_level: float

    @property
    def mean(self) -> np.ndarray:
        """(P,) posterior means."""
        return self.draws.mean(axis=0)

    @property
    def sd(self) -> np.ndarray:
        """(P,) posterior standard deviations."""
        return self.draws.std(axis=0, ddof=1)

    @property
    def corr(self) -> np.ndarray:
        """(P, P) Pearson correlations of the draws."""
        return np.corrcoef(self.draws, rowvar=False)

    def correlation(self, a: str, b: str) -> float:
        """Pearson correlation of parameters ``a`` and ``b`` in the posterior."""
        return float(self.corr[self.names.index(a), self.names.index(b)])

    def covered(self, level: float = 0.95) -> bool:
        """Whether the truth lies in the ``level`` highest-density region and every central
        marginal ``level`` interval."""
        tail = (1 - level) / 2
        return bool(self.hpd_level <= level and np.all((self.quantile >= tail) & (self.quantile <= 1 - tail)))


def summarise(
    estimator: Estimator, x_o: np.ndarray, truth: np.ndarray, names: Sequence[str], n_draws: int, torch_seed: int
) -> PosteriorSummary:
    """Draw from the posterior at ``x_o`` (all features; the estimator picks its columns)."""
    import torch

    x = np.asarray(x_o, dtype=np.float64).reshape(-1)[list(estimator.feature_idx)]
    if not np.isfinite(x).all():
        raise ValueError(f"the observation has non-finite features: {x}")
    xt = torch.as_tensor(estimator.transform(x[None, :]), dtype=torch.float32)
    torch.manual_seed(torch_seed)
    draws = estimator.posterior.sample((n_draws,), x=xt, show_progress_bars=False)
    th = torch.as_tensor(np.asarray(truth, dtype=np.float32)[None, :])
    with torch.no_grad():
        lp_draws = estimator.posterior.log_prob(draws, x=xt, norm_posterior=False).numpy()
        lp_truth = float(estimator.posterior.log_prob(th, x=xt, norm_posterior=False).numpy()[0])
    d = draws.numpy().astype(np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    return PosteriorSummary(
        names=tuple(names),
        truth=truth,
        draws=d,
        quantile=(d < truth).mean(axis=0),
        hpd_level=float((lp_draws > lp_truth).mean()),
    )


def prior_sd(model: Model) -> np.ndarray:
    """(P,) standard deviations of the uniform prior, (high - low) / sqrt(12)."""
    return (model.high - model.low) / np.sqrt(12.0)


# --------------------------------------------------------------------------------------------
# MPR: Baldy 2024 Fig. 5C and 6
# --------------------------------------------------------------------------------------------


def trace_agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Pearson correlation and RMSE of two traces (points where both are finite)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    return {"pearson": float(np.corrcoef(a[ok], b[ok])[0, 1]), "rmse": float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2)))}


@dataclasses.dataclass(frozen=True)
class MPRHeadline:
    """Baldy 2024's headline results, reproduced (see the module docstring).

    Attributes:
        n_train: Simulations drawn from the prior; ``n_valid`` of them had finite features.
        mf: Posterior at the MF observation (noise sigma = 0.1) of the ground truth.
        qif: Posterior at the QIF network's observation (None if the network was skipped).
        traces: Per variable (``"r"``, ``"v"``): agreement of the MF solution (no noise) with
            the network's averages, ``{"pearson", "rmse"}`` (empty without the network).
        mf_solution: The MF solution (no noise) at the ground truth, on the network's grid.
        mf_observation: The noisy MF observation.
        network: The network's run.
        seconds: Wall times: ``simulate``, ``train``, ``qif``.
        epochs: Training epochs.
        seed: Root seed.
        settings: MPR settings of the training set and observation.
        npe: Estimator settings.
    """

    n_train: int
    n_valid: int
    mf: PosteriorSummary
    qif: PosteriorSummary | None
    traces: Mapping[str, Mapping[str, float]]
    mf_solution: mpr.MPRTraces
    mf_observation: mpr.MPRTraces
    network: qif.QIFResult | None
    seconds: Mapping[str, float]
    epochs: int
    seed: int
    settings: mpr.MPRSettings
    npe: NPESettings


def mpr_headline(
    n_train: int,
    seed: int,
    *,
    npe: NPESettings | None = None,
    settings: mpr.MPRSettings | None = None,
    qif_settings: qif.QIFSettings | None = None,
    run_network: bool = True,
    log: Callable[[str], None] | None = None,
) -> MPRHeadline:
    """Train on ``n_train`` MF prior simulations; infer the MF and the QIF network's data.

    Args:
        n_train: Prior simulations.
        seed: Root seed.
        npe: Estimator settings.
        settings: MF protocol (default: Baldy 2024's); ``record_every`` must be 1, the
            network's grid.
        qif_settings: Network (default: 10^4 neurons, the same protocol); its protocol must be
            the MF's.
        run_network: Run the QIF network (the slow part: about 1.3 s per simulated second).
        log: Progress messages.
    """
    model = get_model("mpr")
    cfg = NPESettings() if npe is None else npe
    s = mpr.MPRSettings() if settings is None else settings
    qs = qif.QIFSettings() if qif_settings is None else qif_settings
    if run_network:
        _check_same_protocol(s, qs)
    truth = model.theta_row(model.ground_truth)

    data = simulate_training_set(model, n_train, seed, s, log=log)
    est = train_estimator(model, data, seed, cfg)
    if log is not None:
        log(f"mpr: trained on {data.x.shape[0]} rows, {est.epochs} epochs, {est.seconds:.0f} s")

    obs_seed = stream_seed(seed, Purpose.OBSERVATION, model.name)
    observed = model.simulate(truth, [0], obs_seed, s, keep_traces=True)
    n_feat = len(est.feature_idx)
    mf = summarise(
        est,
        observed.features[0],
        truth[0],
        model.param_names,
        cfg.n_draws,
        stream_seed(seed, Purpose.DRAWS, model.name, n_feat, OBSERVATIONS.index("mf")),
    )
    solution = mpr.simulate_batch(truth, [0], obs_seed, dataclasses.replace(s, sigma=0.0))
    obs_traces = mpr.MPRTraces(t=observed.t, r=observed.traces["r"], v=observed.traces["v"])

    network, posterior_qif, traces = None, None, {}
    seconds = {"simulate": data.seconds, "train": est.seconds}
    if run_network:
        network = qif.simulate(dict(model.ground_truth), stream_seed(seed, Purpose.QIF, model.name), qs)
        seconds["qif"] = network.wall_seconds
        if log is not None:
            log(f"mpr: QIF network of {qs.n_neurons} neurons ran in {network.wall_seconds:.0f} s")
        posterior_qif = summarise(
            est,
            network.features(s)[0],
            truth[0],
            model.param_names,
            cfg.n_draws,
            stream_seed(seed, Purpose.DRAWS, model.name, n_feat, OBSERVATIONS.index("qif")),
        )
        traces = {var: trace_agreement(getattr(solution, var)[0], getattr(network, var)) for var in mpr.VARIABLES}
    return MPRHeadline(
        n_train=n_train,
        n_valid=int(data.x.shape[0]),
        mf=mf,
        qif=posterior_qif,
        traces=traces,
        mf_solution=solution,
        mf_observation=obs_traces,
        network=network,
        seconds=seconds,
        epochs=est.epochs,
        seed=int(seed),
        settings=s,
        npe=cfg,
    )


def _check_same_protocol(s: mpr.MPRSettings, qs: qif.QIFSettings) -> None:
    for name, mf_value, net_value in (
        ("dt / record_dt", s.dt * s.record_every, qs.record_dt),
        ("duration", s.duration, qs.duration),
        ("t_on", s.t_on, qs.t_on),
        ("t_off", s.t_off, qs.t_off),
        ("current", s.current, qs.current),
        ("r0", s.r0, qs.r0),
        ("v0", s.v0, qs.v0),
    ):
        if not np.isclose(mf_value, net_value):
            raise ValueError(f"the QIF network's {name} ({net_value}) differs from the MF's ({mf_value})")


def mpr_rows(result: MPRHeadline) -> list[dict[str, Any]]:
    """The headline numbers as long-format rows ``{metric, observation, parameter, value}``."""
    rows: list[dict[str, Any]] = []

    def add(metric: str, observation: str, parameter: str, value: float) -> None:
        rows.append({"metric": metric, "observation": observation, "parameter": parameter, "value": float(value)})

    for obs, summary in (("mf", result.mf), ("qif", result.qif)):
        if summary is None:
            continue
        for j, name in enumerate(summary.names):
            add("truth", obs, name, summary.truth[j])
            add("posterior_mean", obs, name, summary.mean[j])
            add("posterior_sd", obs, name, summary.sd[j])
            add("truth_quantile", obs, name, summary.quantile[j])
        add("hpd_level_of_truth", obs, "", summary.hpd_level)
        add("covered_95", obs, "", float(summary.covered(0.95)))
        add("corr_eta_J", obs, "", summary.correlation("eta", "J"))
        add("corr_Delta_eta", obs, "", summary.correlation("Delta", "eta"))
        add("corr_Delta_J", obs, "", summary.correlation("Delta", "J"))
    for var, agreement in result.traces.items():
        for metric, value in agreement.items():
            add(f"trace_{metric}", "mf_solution_vs_qif", var, value)
    add("n_train", "", "", result.n_train)
    add("n_valid", "", "", result.n_valid)
    add("epochs", "", "", result.epochs)
    for stage, sec in result.seconds.items():
        add(f"seconds_{stage}", "", "", sec)
    return rows


# --------------------------------------------------------------------------------------------
# HH: Gonçalves 2020 Fig. 4d
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HHHeadline:
    """Gonçalves 2020's narrowing of the posterior with the feature set.

    Attributes:
        n_train: Simulations drawn from the prior; ``n_valid`` of them had finite features.
        posteriors: Feature-set size -> posterior at the ground truth's observation.
        prior_sd: (P,) the uniform prior's standard deviations.
        observation: (7,) the observation's features.
        seconds: Wall times: ``simulate`` and ``train_<k>`` per feature set.
        epochs: Feature-set size -> training epochs.
        seed: Root seed.
        settings: HH settings.
        npe: Estimator settings.
    """

    n_train: int
    n_valid: int
    posteriors: Mapping[int, PosteriorSummary]
    prior_sd: np.ndarray
    observation: np.ndarray
    seconds: Mapping[str, float]
    epochs: Mapping[int, int]
    seed: int
    settings: hh.HHSettings
    npe: NPESettings

    def sd_table(self) -> np.ndarray:
        """(len(feature sets), P) posterior SD per feature-set size (rows in increasing size)."""
        return np.stack([self.posteriors[k].sd for k in sorted(self.posteriors)])


def hh_headline(
    n_train: int,
    seed: int,
    *,
    feature_sets: Sequence[int] = (1, 4, 7),
    npe: NPESettings | None = None,
    settings: hh.HHSettings | None = None,
    log: Callable[[str], None] | None = None,
) -> HHHeadline:
    """One training set, an estimator on the first k features for each k; posteriors at the truth."""
    model = get_model("hh")
    cfg = NPESettings() if npe is None else npe
    s = hh.HHSettings() if settings is None else settings
    sizes = sorted({int(k) for k in feature_sets})
    if not sizes or sizes[0] < 1 or sizes[-1] > len(model.feature_names):
        raise ValueError(f"feature_sets must lie in 1..{len(model.feature_names)}, got {feature_sets}")
    truth = model.theta_row(model.ground_truth)
    data = simulate_training_set(model, n_train, seed, s, log=log)
    observation = model.simulate(truth, [0], stream_seed(seed, Purpose.OBSERVATION, model.name), s).features[0]
    posteriors, seconds, epochs = {}, {"simulate": data.seconds}, {}
    for k in sizes:
        est = train_estimator(model, data, seed, cfg, feature_idx=range(k))
        seconds[f"train_{k}"] = est.seconds
        epochs[k] = est.epochs
        posteriors[k] = summarise(
            est,
            observation,
            truth[0],
            model.param_names,
            cfg.n_draws,
            stream_seed(seed, Purpose.DRAWS, model.name, k, 0),
        )
        if log is not None:
            log(
                f"hh: {k} feature(s): {est.epochs} epochs, {est.seconds:.0f} s, HPD level of truth "
                f"{posteriors[k].hpd_level:.2f}"
            )
    return HHHeadline(
        n_train=n_train,
        n_valid=int(data.x.shape[0]),
        posteriors=posteriors,
        prior_sd=prior_sd(model),
        observation=observation,
        seconds=seconds,
        epochs=epochs,
        seed=int(seed),
        settings=s,
        npe=cfg,
    )


def hh_rows(result: HHHeadline) -> list[dict[str, Any]]:
    """One row per parameter: truth, prior SD, and per feature set the posterior SD, mean and
    the truth's quantile; then one row ``_hpd_level`` with the truth's HPD level per set."""
    names = next(iter(result.posteriors.values())).names
    rows = []
    for j, name in enumerate(names):
        row: dict[str, Any] = {"parameter": name, "truth": float(result.posteriors[min(result.posteriors)].truth[j])}
        row["prior_sd"] = float(result.prior_sd[j])
        for k in sorted(result.posteriors):
            p = result.posteriors[k]
            row[f"sd_{k}"] = float(p.sd[j])
            row[f"mean_{k}"] = float(p.mean[j])
            row[f"truth_quantile_{k}"] = float(p.quantile[j])
        rows.append(row)
    summary: dict[str, Any] = {"parameter": "_hpd_level_of_truth", "truth": np.nan, "prior_sd": np.nan}
    for k in sorted(result.posteriors):
        summary[f"sd_{k}"] = np.nan
        summary[f"mean_{k}"] = np.nan
        summary[f"truth_quantile_{k}"] = result.posteriors[k].hpd_level
    rows.append(summary)
    return rows


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def plot_mpr_traces(result: MPRHeadline, path: str, raster_neurons: int = 300, zoom: float = 15.0) -> None:
    """Baldy 2024 Fig. 6A-B: raster of the network, and MF r(t), v(t) against its averages.

    The left column shows the whole run, the right one the first ``zoom`` seconds of the
    stimulus (the switch and its transient, where finite size and the MF differ most).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    net = result.network
    rows = ["raster", "v", "r"] if net is not None else ["v", "r"]
    fig, axes = plt.subplots(
        len(rows),
        2,
        figsize=(12, 2.4 * len(rows)),
        sharex="col",
        squeeze=False,
        gridspec_kw={"width_ratios": [2.2, 1]},
        constrained_layout=True,
    )
    t_on = result.settings.t_on
    window = (t_on - 2.0, t_on + zoom)
    for col in range(2):
        for row, what in enumerate(rows):
            a = axes[row, col]
            if what == "raster":
                n = net.settings.n_neurons
                pick = np.linspace(0, n - 1, min(raster_neurons, n)).astype(int)
                rank = np.full(n, -1)
                rank[pick] = np.arange(pick.size)
                sel = rank[net.spike_i] >= 0
                if col == 1:
                    sel &= (net.spike_t >= window[0]) & (net.spike_t <= window[1])
                a.plot(net.spike_t[sel], rank[net.spike_i[sel]], ",k", rasterized=True)
                if col == 0:
                    a.set_ylabel(f"neuron\n({pick.size} of {n},\nby excitability)")
                    a.set_title(f"QIF network, N = {n} (Brian2 {net.brian2_version}, {net.target})", fontsize=9)
                continue
            label = {"v": "mean potential v", "r": "rate r (1/s)"}[what]
            t = result.mf_solution.t
            a.plot(
                t, getattr(result.mf_observation, what)[0], color="0.7", lw=0.5, label="MF, noise σ = 0.1 (observation)"
            )
            if net is not None:
                agree = result.traces[what]
                a.plot(
                    net.t,
                    getattr(net, what),
                    color="0.2",
                    lw=0.6,
                    label=f"QIF network (Pearson {agree['pearson']:.3f} with the MF solution)",
                )
            a.plot(t, getattr(result.mf_solution, what)[0], color="c", lw=1.0, label="MF solution (no noise)")
            if col == 0:
                a.set_ylabel(label)
                a.legend(loc="upper left", fontsize=7)
    axes[0, 1].set_xlim(*window)
    for col in range(2):
        axes[-1, col].set_xlabel("time (s = membrane time constants)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_mpr_posteriors(result: MPRHeadline, path: str, max_points: int = 3000) -> None:
    """Baldy 2024 Fig. 5C / 6C: pairwise posterior draws at the MF and the QIF observations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = result.mf.names
    pairs = [(0, 1), (0, 2), (1, 2)]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), constrained_layout=True)
    for a, (i, j) in zip(axes, pairs, strict=True):
        for summary, color, label in ((result.mf, "tab:blue", "MF data"), (result.qif, "tab:orange", "QIF data")):
            if summary is None:
                continue
            d = summary.draws[:max_points]
            rho = summary.correlation(names[i], names[j])
            a.scatter(d[:, i], d[:, j], s=2, alpha=0.25, color=color, label=f"{label}: ρ = {rho:.2f}", rasterized=True)
        a.plot(result.mf.truth[i], result.mf.truth[j], "r+", ms=12, mew=2, label="truth")
        a.set_xlabel(names[i])
        a.set_ylabel(names[j])
        legend = a.legend(fontsize=7)
        for handle in legend.legend_handles:
            if hasattr(handle, "set_sizes"):
                handle.set_sizes([20])
                handle.set_alpha(1)
    fig.suptitle(f"MF-trained NPE ({result.n_valid} simulations): posterior at the ground truth")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_hh_narrowing(result: HHHeadline, path: str) -> None:
    """Gonçalves 2020 Fig. 4d: posterior SD / prior SD per parameter for each feature set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(result.posteriors)
    names = result.posteriors[sizes[0]].names
    rel = result.sd_table() / result.prior_sd
    fig, ax = plt.subplots(figsize=(9, 3.6), constrained_layout=True)
    width = 0.8 / len(sizes)
    x = np.arange(len(names))
    for row, k in enumerate(sizes):
        ax.bar(x + (row - (len(sizes) - 1) / 2) * width, rel[row], width, label=f"{k} feature{'s' if k > 1 else ''}")
    ax.set_xticks(x, names, rotation=20)
    ax.set_ylabel("posterior SD / prior SD")
    ax.axhline(1.0, color="0.5", lw=0.8, ls=":")
    ax.set_title(f"HH: the posterior narrows as features are added ({result.n_valid} simulations)")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)
