"""The 22 catch22 features of the LFP proxy (``pycatch22``), in pycatch22's order."""

from __future__ import annotations

import numpy as np

from workflow.contract import FEATURE_NAMES

#: traces shorter than this give NaN features (catch22's scaling features need ~50 points)
MIN_LENGTH = 100


def catch22(trace: np.ndarray) -> tuple[np.ndarray, str]:
    """catch22 of the z-scored trace.

    Returns
    -------
    features, reason
        The 22 features in :data:`FEATURE_NAMES` order, and ``""`` on success. A flat,
        too short or non-finite trace gives all-NaN features and a reason, never an exception.
    """
    import pycatch22

    x = np.asarray(trace, dtype=np.float64)
    nan = np.full(len(FEATURE_NAMES), np.nan)
    if x.ndim != 1 or x.size < MIN_LENGTH:
        return nan, f"trace too short for catch22 ({x.size} < {MIN_LENGTH} points)"
    if not np.all(np.isfinite(x)):
        return nan, "trace has non-finite values"
    sd = x.std()
    if not sd > 1e-12 * max(1.0, np.abs(x).max()):
        return nan, "flat trace (zero variance)"
    z = (x - x.mean()) / sd
    res = pycatch22.catch22_all(z.tolist(), catch24=False)
    if tuple(res["names"]) != FEATURE_NAMES:
        raise RuntimeError("pycatch22 returned features in an unexpected order")
    values = np.asarray(res["values"], dtype=np.float64)
    if not np.all(np.isfinite(values)):
        return values, "catch22 returned non-finite features"
    return values, ""
