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


@dataclasses.dataclass(frozen=True)
class TargetScale:
    """Which targets are learned on the log scale.

    Attributes:
        log_targets: names of the targets learned as log(theta) (config ``inference.log_targets``).
        target_names: every target name, in column order.

    Raises:
        ValueError: naming ``inference.log_targets`` for an unknown or repeated name.
    """

    log_targets: tuple[str, ...]
    target_names: tuple[str, ...] = TARGET_NAMES

    def __post_init__(self) -> None:
        object.__setattr__(self, "log_targets", tuple(self.log_targets))
        object.__setattr__(self, "target_names", tuple(self.target_names))
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
        """Targets (..., T) in target units -> the learned scale (log where configured)."""
        return self._apply(theta, np.log, torch.log)

    def to_targets(self, u: Array) -> Array:
        """The learned scale (..., T) -> targets in target units (exp where configured)."""
        return self._apply(u, np.exp, torch.exp)

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
