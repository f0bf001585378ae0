"""NPE training for one fold, and model storage as a state dict plus a JSON description.

Features are standardised with the mean and SD of the training folds (stored in the JSON).
The flow learns the targets on their learned scale (log for ``inference.log_targets``,
:mod:`workflow.inference.scales`) and z-scores them itself (sbi's default
``z_score_theta="independent"``, stored in the state dict as buffers). The posterior's support
is each target's bounds under the config prior and its constraints
(:meth:`workflow.inference.targetprior.TargetPrior.bounds`), never the training rows' range.
No pickles: ``model.pt`` holds only tensors (``torch.load(weights_only=True)``) and the
network is rebuilt from the JSON with sbi's own builder before the state dict is loaded.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import sbi
import torch
from sbi.inference import NPE, DirectPosterior
from sbi.neural_nets import posterior_nn
from sbi.utils import BoxUniform

from workflow.inference.scales import TargetScale
from workflow.inference.sections import ConfigSection
from workflow.inference.targetprior import ModelTargetPrior, TargetBounds, TargetPrior
from workflow.seeds import Stream, rng, seed_torch

#: Density estimators supported end to end (their base draws can be fixed, see functionals).
ESTIMATORS: tuple[str, ...] = ("maf", "nsf", "maf_rqs", "zuko_maf", "zuko_nsf")
MODEL_FORMAT = "sbi-npe-state-dict/2"
#: Margin added on each side of the support, as a fraction of its width on the learned scale
#: (covers float32 rounding and the last digits of the bound search).
SUPPORT_PAD = 1e-5


@dataclasses.dataclass(frozen=True)
class NPEConfig(ConfigSection):
    """Density estimator and training settings (config key ``inference.npe``).

    Every field is required: the defaults (sbi's NPE defaults) live in the schema only; build
    from the validated config with :meth:`from_config`.

    Attributes:
        density_estimator: flow type, one of :data:`ESTIMATORS`.
        hidden_features: hidden units per layer of the flow's networks.
        num_transforms: number of flow transforms.
        num_bins: spline bins (nsf, maf_rqs, zuko_nsf only).
        training_batch_size: rows per training batch.
        learning_rate: Adam learning rate.
        validation_fraction: fraction of the training folds held out for early stopping.
        stop_after_epochs: early-stopping patience (epochs).
        max_num_epochs: cap on training epochs; None trains until early stopping.
        clip_max_norm: gradient-norm clipping; None disables it.
    """

    KEY: ClassVar[str] = "inference.npe"

    density_estimator: str
    hidden_features: int
    num_transforms: int
    num_bins: int
    training_batch_size: int
    learning_rate: float
    validation_fraction: float
    stop_after_epochs: int
    max_num_epochs: int | None
    clip_max_norm: float | None

    def __post_init__(self) -> None:
        if self.density_estimator not in ESTIMATORS:
            raise ValueError(
                f"{self.KEY}.density_estimator must be one of {ESTIMATORS}, got {self.density_estimator!r}"
            )
        self._check_at_least(
            1, "hidden_features", "num_transforms", "num_bins", "training_batch_size", "stop_after_epochs"
        )
        if self.max_num_epochs is not None:
            self._check_at_least(1, "max_num_epochs")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"{self.KEY}.validation_fraction must be in (0, 1), got {self.validation_fraction}")
        if self.learning_rate <= 0:
            raise ValueError(f"{self.KEY}.learning_rate must be > 0, got {self.learning_rate}")
        if self.clip_max_norm is not None and self.clip_max_norm <= 0:
            raise ValueError(f"{self.KEY}.clip_max_norm must be > 0 or None, got {self.clip_max_norm}")


class NullTracker:
    """sbi tracker that records nothing (sbi's default writes TensorBoard logs to ./sbi-logs)."""

    log_dir = None

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:  # noqa: D102
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:  # noqa: D102
        pass

    def log_params(self, params: dict[str, Any]) -> None:  # noqa: D102
        pass

    def add_figure(self, name: str, figure: Any, step: int | None = None) -> None:  # noqa: D102
        pass

    def flush(self) -> None:  # noqa: D102
        pass


@dataclasses.dataclass
class FoldModel:
    """A trained posterior estimator with its feature standardisation, target scale and support.

    Attributes:
        net: sbi conditional density estimator q(u | standardised x), u the targets on their
            learned scale (``scale``).
        x_mean, x_std: (F,) standardisation of the features (training folds only).
        low, high: (T,) the support in target units: each target's bounds under the prior.
        scale: which targets the flow learns on the log scale.
        description: the JSON description (config, names, training summary, provenance).
    """

    net: torch.nn.Module
    x_mean: np.ndarray
    x_std: np.ndarray
    low: np.ndarray
    high: np.ndarray
    scale: TargetScale
    description: dict[str, Any]

    def standardise(self, features: np.ndarray) -> torch.Tensor:
        """Return standardised features as a float32 tensor."""
        return torch.as_tensor((np.asarray(features) - self.x_mean) / self.x_std, dtype=torch.float32)

    @property
    def learned_low(self) -> np.ndarray:
        """(T,) lower support bound on the learned scale."""
        return self.scale.to_learned(self.low)

    @property
    def learned_high(self) -> np.ndarray:
        """(T,) upper support bound on the learned scale."""
        return self.scale.to_learned(self.high)

    def support_box(self) -> BoxUniform:
        """The support as a uniform box on the learned scale.

        Not the prior: sbi only uses it to reject posterior draws outside the support. The
        targets' prior is :class:`workflow.inference.targetprior.TargetPrior`.
        """
        return BoxUniform(
            torch.as_tensor(self.learned_low, dtype=torch.float32),
            torch.as_tensor(self.learned_high, dtype=torch.float32),
        )

    def posterior(self) -> DirectPosterior:
        """sbi DirectPosterior on the learned scale (rejection of draws outside the support).

        Its samples are u; :meth:`TargetScale.to_targets` (``self.scale``) takes them to target units.
        """
        return DirectPosterior(posterior_estimator=self.net, prior=self.support_box())


def support_bounds(bounds: TargetBounds, scale: TargetScale) -> tuple[np.ndarray, np.ndarray]:
    """The posterior's support in target units: the prior bounds widened by ``SUPPORT_PAD``.

    The margin is a fraction of each bound's width on the learned scale, so a log-scale
    target's support stays positive.

    Args:
        bounds: the targets' bounds under the prior (:meth:`TargetPrior.bounds`).
        scale: the learned scale of each target.

    Raises:
        ValueError: naming ``inference.log_targets`` if a log-scale target can be non-positive.
    """
    scale.check_positive(bounds.low)
    lo, hi = scale.to_learned(bounds.low), scale.to_learned(bounds.high)
    pad = SUPPORT_PAD * (hi - lo)
    return scale.to_targets(lo - pad), scale.to_targets(hi + pad)


def _builder(cfg: NPEConfig):
    return posterior_nn(
        model=cfg.density_estimator,
        z_score_theta="independent",
        z_score_x="none",  # features are standardised explicitly (training folds only)
        hidden_features=cfg.hidden_features,
        num_transforms=cfg.num_transforms,
        num_bins=cfg.num_bins,
    )


def train_fold(
    features_train: np.ndarray,
    targets_train: np.ndarray,
    cfg: NPEConfig,
    seed: int,
    fold: int,
    *,
    target_prior: TargetPrior | ModelTargetPrior,
    log_targets: Sequence[str],
    threads: int = 1,
    names: dict[str, list[str]] | None = None,
    member: int = 0,
    logit_targets: Sequence[str] = (),
    max_train_rows: int | None = None,
) -> FoldModel:
    """Train NPE on the training folds of one fold.

    Args:
        features_train: (n, F) raw features of the training folds.
        targets_train: (n, T) targets of the training folds (target units).
        cfg: estimator and training settings.
        seed: root seed; torch is seeded from the TRAIN stream of this fold, the support
            search from the SUPPORT stream (the same for every fold).
        fold: fold index (the test fold).
        target_prior: the targets' prior (config ``prior``); its bounds are the support.
        log_targets: targets learned on the log scale (config ``inference.log_targets``).
        threads: torch intra-op threads (the Snakemake job's threads).
        names: optional {"features": [...], "targets": [...]} stored in the description.
        member: ensemble member (``inference.npe.ensemble``): member 0 is seeded from the TRAIN
            stream of the fold as a single model is, member m > 0 from that stream's sub-key m.
        logit_targets: targets learned on the logit scale of their support (config
            ``inference.logit_targets``; :class:`~workflow.inference.scales.TargetScale`).
        max_train_rows: train on a random subset of this many training rows when there are
            more (config ``inference.max_train_rows``), drawn from the TRAIN_SUBSAMPLE stream
            of the fold; None trains on all of them.

    Raises:
        ValueError: if training targets lie outside the prior's bounds (the dataset was not
            drawn from config ``prior``), or for a bad ``inference.log_targets``.
    """
    torch.set_num_threads(threads)
    n_available = len(targets_train)
    if max_train_rows is not None and n_available > max_train_rows:
        keep = np.sort(rng(seed, Stream.TRAIN_SUBSAMPLE, fold).choice(n_available, max_train_rows, replace=False))
        features_train, targets_train = features_train[keep], targets_train[keep]
    scale = TargetScale.from_names(log_targets, names["targets"] if names else None)
    bounds = target_prior.bounds(seed)
    low, high = support_bounds(bounds, scale)
    if logit_targets:
        scale = scale.with_logit(logit_targets, low, high)
    outside = (targets_train < low) | (targets_train > high)
    if outside.any():
        row, col = np.argwhere(outside)[0]
        raise ValueError(
            f"{int(outside.any(1).sum())} training row(s) lie outside the bounds implied by config 'prior' "
            f"(first: {scale.target_names[col]} = {targets_train[row, col]:.6g} outside "
            f"[{low[col]:.6g}, {high[col]:.6g}]); set 'prior' to the prior the dataset was drawn from"
        )
    torch_seed = seed_torch(seed, Stream.TRAIN, fold) if member == 0 else seed_torch(seed, Stream.TRAIN, fold, member)
    x_mean = features_train.mean(0)
    x_std = features_train.std(0)
    x_std = np.where(x_std > 0, x_std, 1.0)
    model = FoldModel(
        net=torch.nn.Identity(), x_mean=x_mean, x_std=x_std, low=low, high=high, scale=scale, description={}
    )
    theta = torch.as_tensor(scale.to_learned(targets_train), dtype=torch.float32)
    x = torch.as_tensor((features_train - x_mean) / x_std, dtype=torch.float32)

    trainer = NPE(
        prior=model.support_box(), density_estimator=_builder(cfg), tracker=NullTracker(), show_progress_bars=False
    )
    trainer.append_simulations(theta, x)
    t0 = time.perf_counter()
    net = trainer.train(
        training_batch_size=cfg.training_batch_size,
        learning_rate=cfg.learning_rate,
        validation_fraction=cfg.validation_fraction,
        stop_after_epochs=cfg.stop_after_epochs,
        max_num_epochs=cfg.max_num_epochs if cfg.max_num_epochs is not None else 2**31 - 1,
        clip_max_norm=cfg.clip_max_norm,
    )
    wall = time.perf_counter() - t0
    net.eval()
    summary = trainer.summary
    n_train_rows = int(round(len(theta) * (1 - cfg.validation_fraction)))
    durations = [float(d) for d in summary.get("epoch_durations_sec", [])]
    description = {
        "format": MODEL_FORMAT,
        "fold": int(fold),
        "member": int(member),
        "seed": int(seed),
        "torch_seed": int(torch_seed),
        "threads": int(threads),
        "npe": dataclasses.asdict(cfg),
        "log_targets": list(scale.log_targets),
        **({"logit_targets": list(scale.logit_targets)} if scale.logit_targets else {}),
        "theta_dim": int(theta.shape[1]),
        "x_dim": int(x.shape[1]),
        "feature_names": list(names["features"]) if names else None,
        "target_names": list(names["targets"]) if names else None,
        "x_mean": x_mean.tolist(),
        "x_std": x_std.tolist(),
        "support_low": low.tolist(),
        "support_high": high.tolist(),
        "prior": {**target_prior.describe(), "target_bounds": bounds.as_dict()},
        "training": {
            "n_rows": int(len(theta)),
            "n_rows_available": int(n_available),
            "n_rows_fit": n_train_rows,
            "epochs": int(summary["epochs_trained"][-1]),
            "best_validation_loss": float(summary["best_validation_loss"][-1]),
            "validation_loss": [float(v) for v in summary.get("validation_loss", [])],
            "training_loss": [float(v) for v in summary.get("training_loss", [])],
            "epoch_durations_sec": durations,
            "wall_time_sec": float(wall),
            "rows_per_sec_per_epoch": float(n_train_rows / np.median(durations)) if durations else None,
        },
        "versions": {"sbi": sbi.__version__, "torch": torch.__version__, "numpy": np.__version__},
    }
    return dataclasses.replace(model, net=net, description=description)


def save_model(model: FoldModel, pt_path: str | Path, json_path: str | Path) -> None:
    """Write the state dict (tensors only) and the JSON description."""
    torch.save({k: v.detach().cpu() for k, v in model.net.state_dict().items()}, pt_path)
    Path(json_path).write_text(json.dumps(model.description, indent=1))


def load_model(pt_path: str | Path, json_path: str | Path) -> FoldModel:
    """Rebuild the estimator from the JSON with sbi's builder and load the state dict."""
    desc = json.loads(Path(json_path).read_text())
    if desc.get("format") != MODEL_FORMAT:
        raise ValueError(f"{json_path}: model format {desc.get('format')!r}, expected {MODEL_FORMAT!r} (retrain)")
    try:
        cfg = NPEConfig.from_config(desc["npe"])
    except ValueError as err:
        raise ValueError(f"{json_path}: {err}") from None
    # Placeholder batches only fix the shapes; every buffer is then overwritten by the state dict.
    gen = torch.Generator().manual_seed(0)
    theta0 = torch.randn(8, desc["theta_dim"], generator=gen)
    x0 = torch.randn(8, desc["x_dim"], generator=gen)
    net = _builder(cfg)(theta0, x0)
    state = torch.load(pt_path, weights_only=True)
    net.load_state_dict(state, strict=True)
    net.eval()
    low, high = np.asarray(desc["support_low"]), np.asarray(desc["support_high"])
    scale = TargetScale.from_names(desc["log_targets"], desc.get("target_names"))
    if desc.get("logit_targets"):
        scale = scale.with_logit(desc["logit_targets"], low, high)
    return FoldModel(
        net=net,
        x_mean=np.asarray(desc["x_mean"]),
        x_std=np.asarray(desc["x_std"]),
        low=low,
        high=high,
        scale=scale,
        description=desc,
    )
