"""The scale each target is learned on: linear, or log where that calibrates the posterior.

The flow learns q(u | x) with u = log(theta) for the targets named in ``inference.log_targets``
and u = theta for the others (then z-scores u itself). Every reported quantity (means,
medians, IQRs, intervals, SHAP values) is on the linear target scale that the paper uses:
draws are pushed back through exp before any functional is taken. Ranks and central
intervals do not change under the monotone map, so SBC and coverage are the same on both
scales; means and IQRs are not, which is why they are always taken on the linear scale.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import torch

from workflow.contract import TARGET_NAMES

Array = TypeVar("Array", np.ndarray, torch.Tensor)


#: |u| at which a logit-scale target is cut off on the learned scale: sigmoid(30) = 1 - 9e-14, so
#: the learned support [-30, 30] holds the whole support but for float rounding.
LOGIT_BOUND = 30.0


@dataclasses.dataclass(frozen=True)
class TargetScale:
    """Which targets are learned on the log scale, and which on the logit scale of their support.

    A logit-scale target is learned as u = logit((theta - low) / (high - low)) over its support
    [low, high] (``inference.logit_targets``): the flow then has no mass outside the support, so
    sbi's rejection of draws outside it never stalls, however far a test row's features lie from
    the training rows (a box prior whose posteriors reach its walls: mpr and hh).

    Attributes:
        log_targets: names of the targets learned as log(theta) (config ``inference.log_targets``).
        target_names: every target name, in column order.
        logit_targets: names of the targets learned on the logit scale of their support.
        logit_low, logit_high: each logit target's support (target units), in ``logit_targets`` order.

    Raises:
        ValueError: naming ``inference.log_targets`` or ``inference.logit_targets`` for an unknown
            or repeated name, or a target on both scales.
    """

    log_targets: tuple[str, ...]
    target_names: tuple[str, ...] = TARGET_NAMES
    logit_targets: tuple[str, ...] = ()
    logit_low: tuple[float, ...] = ()
    logit_high: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "log_targets", tuple(self.log_targets))
        object.__setattr__(self, "target_names", tuple(self.target_names))
        object.__setattr__(self, "logit_targets", tuple(self.logit_targets))
        object.__setattr__(self, "logit_low", tuple(float(v) for v in self.logit_low))
        object.__setattr__(self, "logit_high", tuple(float(v) for v in self.logit_high))
        unknown = [t for t in self.logit_targets if t not in self.target_names]
        if unknown:
            raise ValueError(
                f"inference.logit_targets: unknown target(s) {unknown} (targets: {list(self.target_names)})"
            )
        both = [t for t in self.logit_targets if t in self.log_targets]
        if both or len(set(self.logit_targets)) != len(self.logit_targets):
            raise ValueError(f"inference.logit_targets: repeated, or also in inference.log_targets: {both}")
        n = len(self.logit_targets)
        if len(self.logit_low) != n or len(self.logit_high) != n:
            raise ValueError("inference.logit_targets: every logit-scale target needs its support (low, high)")
        if not all(lo < hi for lo, hi in zip(self.logit_low, self.logit_high, strict=True)):
            raise ValueError("inference.logit_targets: a support's low is not below its high")
        unknown = [t for t in self.log_targets if t not in self.target_names]
        if unknown:
            raise ValueError(f"inference.log_targets: unknown target(s) {unknown} (targets: {list(self.target_names)})")
        if len(set(self.log_targets)) != len(self.log_targets):
            raise ValueError(f"inference.log_targets: repeated names in {list(self.log_targets)}")

    @classmethod
    def from_names(cls, log_targets: Sequence[str], target_names: Sequence[str] | None = None) -> TargetScale:
        """Build from the validated ``inference.log_targets`` list and the targets' names (the
        dataset's; default: the Hagen network's :data:`~workflow.contract.TARGET_NAMES`)."""
        if target_names is None:
            return cls(log_targets=tuple(log_targets))
        return cls(log_targets=tuple(log_targets), target_names=tuple(target_names))

    def with_logit(self, logit_targets: Sequence[str], low: np.ndarray, high: np.ndarray) -> TargetScale:
        """This scale with ``logit_targets`` learned on the logit scale of the support [low, high]
        ((T,) arrays in target units, every target's)."""
        idx = [self.target_names.index(t) if t in self.target_names else -1 for t in logit_targets]
        if -1 in idx:
            bad = [t for t, i in zip(logit_targets, idx, strict=True) if i < 0]
            raise ValueError(f"inference.logit_targets: unknown target(s) {bad} (targets: {list(self.target_names)})")
        return dataclasses.replace(
            self,
            logit_targets=tuple(logit_targets),
            logit_low=tuple(float(low[i]) for i in idx),
            logit_high=tuple(float(high[i]) for i in idx),
        )

    @property
    def logit_index(self) -> list[int]:
        """Column indices of the logit-scale targets."""
        return [self.target_names.index(t) for t in self.logit_targets]

    @property
    def log_index(self) -> list[int]:
        """Column indices of the log-scale targets."""
        return [self.target_names.index(t) for t in self.log_targets]

    def check_positive(self, low: np.ndarray) -> None:
        """Raise ValueError if a log-scale target's lower bound (target units) is not positive."""
        bad = [self.target_names[i] for i in self.log_index if not low[i] > 0]
        if bad:
            raise ValueError(f"inference.log_targets: {bad} can take non-positive values under the prior; no log scale")

    def to_learned(self, theta: Array) -> Array:
        """Targets (..., T) in target units -> the learned scale (log or logit where configured;
        a logit is cut off at +-:data:`LOGIT_BOUND`, the support's ends included)."""
        return self._logit(self._apply(theta, np.log, torch.log), forward=True)

    def to_targets(self, u: Array) -> Array:
        """The learned scale (..., T) -> targets in target units (exp or the logistic where configured)."""
        return self._logit(self._apply(u, np.exp, torch.exp), forward=False)

    def _logit(self, a: Array, forward: bool) -> Array:
        idx = self.logit_index
        if not idx:
            return a
        lo, hi = np.asarray(self.logit_low), np.asarray(self.logit_high)
        if isinstance(a, torch.Tensor):
            out = a.clone()
            lo_t, hi_t = torch.as_tensor(lo, dtype=a.dtype), torch.as_tensor(hi, dtype=a.dtype)
            if forward:
                out[..., idx] = torch.logit((a[..., idx] - lo_t) / (hi_t - lo_t)).clamp(-LOGIT_BOUND, LOGIT_BOUND)
            else:
                out[..., idx] = lo_t + (hi_t - lo_t) * torch.sigmoid(a[..., idx])
            return out
        out = np.array(a, dtype=np.float64, copy=True)
        if forward:
            p = (out[..., idx] - lo) / (hi - lo)
            with np.errstate(divide="ignore", invalid="ignore"):
                u = np.log(p) - np.log1p(-p)
            out[..., idx] = np.clip(u, -LOGIT_BOUND, LOGIT_BOUND)
        else:
            out[..., idx] = lo + (hi - lo) * 0.5 * (1.0 + np.tanh(0.5 * out[..., idx]))  # the logistic, no overflow
        return out

    def _apply(self, a: Array, np_fn, torch_fn) -> Array:
        idx = self.log_index
        if not idx:
            return a
        if isinstance(a, torch.Tensor):
            out = a.clone()
            out[..., idx] = torch_fn(a[..., idx])
            return out
        out = np.array(a, dtype=np.float64, copy=True)
        out[..., idx] = np_fn(out[..., idx])
        return out
