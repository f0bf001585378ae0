"""A recorded TRACE in the campaign's form: read, checked, resampled, windowed, catch22.

A TRACE is one of

* ``.npy``: one 1-D numeric array;
* ``.csv``: one numeric column, with an optional one-line header (fields split on ``,``, ``;``
  or tabs; blank lines skipped);
* ``.h5`` (or ``.hdf5``): one 1-D numeric dataset anywhere in the file, or the one named by
  ``dataset``; its sampling rate may be the attribute ``fs_hz`` of the dataset or of the file.

The campaign's preprocessing, in order:

1. **Resample to the campaign's LFP rate** (:func:`campaign_timing`) with
   :func:`scipy.signal.resample_poly` at ``up/down``, the rational approximation of
   ``fs_campaign / fs_trace`` (:func:`resample_ratio`). Resampling is needed because several
   catch22 features count samples (``CO_FirstCrossing_acf_1e_pointOfCrossing``,
   ``CO_FirstMin_ac``, ``PD_PeriodicityWang_th0_01``, the ``SP_Summaries_fft_*`` band split):
   the same signal at another rate gives other features. Polyphase resampling is used because
   (a) it takes any rational ratio, up or down, where the campaign's own
   :func:`scipy.signal.decimate` takes only an integer factor; (b) it applies a linear-phase
   (zero-delay) Kaiser-window FIR low-pass at the new Nyquist frequency before it downsamples,
   so power above it does not alias into the band catch22 sees; (c) it filters in the time
   domain, while FFT resampling (:func:`scipy.signal.resample`) treats the trace as periodic
   and wraps its end onto its start (scipy's ``resample`` documentation compares the two);
   (d) it costs O(n * taps / up). ``padtype="line"`` continues the trace's linear trend past
   its ends, so a DC offset does not become an edge step as with zero padding. The campaign
   filtered with a zero-phase IIR (Chebyshev) before decimating; the two low-passes differ only
   near the Nyquist frequency.
2. **Cut into campaign-length windows**: consecutive, non-overlapping windows of the number of
   post-transient points a campaign sample has, from the first resampled point; the tail
   shorter than a window is dropped (:func:`windows`).
3. **catch22 per window**, by :func:`workflow.simulation.features.catch22` itself (it z-scores
   the window, so the trace's units do not matter).

Every check of a trace (:func:`load_trace`, :func:`check_length`, :func:`check_windows`) runs
before any feature is computed, and :func:`prepare_traces` checks every trace before it
prepares the first. A bad trace raises :class:`TraceError`, whose message names the file and
the problem.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np
from scipy import signal

from workflow.config import ConfigError
from workflow.contract import FEATURE_NAMES
from workflow.simulation.features import MIN_LENGTH, catch22

#: suffixes read by :func:`load_trace` (lower case) and the reader of each
FORMATS: tuple[str, ...] = (".npy", ".csv", ".h5", ".hdf5")

#: name of the HDF5 attribute that may carry the sampling rate (Hz)
FS_ATTR = "fs_hz"

#: largest ``down`` (and, in practice, ``up``) of the rational resampling ratio
MAX_DENOMINATOR = 1000

#: largest relative error of the rational resampling ratio (a frequency shift of 0.01 %)
RATIO_RTOL = 1e-4


#: a window whose standard deviation is below this fraction of the trace's is flat (-120 dB, far
#: below the noise floor of any recording amplifier and digitiser)
FLAT_WINDOW_RTOL = 1e-6


class TraceError(ValueError):
    """A TRACE cannot be used; the message names the file and the problem."""


@dataclasses.dataclass(frozen=True)
class CampaignTiming:
    """The sampling rate and length of the traces a campaign computed its features from.

    Attributes:
        fs_hz: LFP rate (Hz), ``1000 / (simulation.dt_ms * lfp.decimate)``.
        n_points: post-transient points of a campaign sample's LFP proxy.

    Raises:
        ValueError: naming ``fs_hz`` or ``n_points`` when out of range (catch22 needs at least
            :data:`~workflow.simulation.features.MIN_LENGTH` points).
    """

    fs_hz: float
    n_points: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fs_hz) and self.fs_hz > 0):
            raise ValueError(f"fs_hz must be a positive finite rate (Hz), got {self.fs_hz}")
        if int(self.n_points) != self.n_points or self.n_points < MIN_LENGTH:
            raise ValueError(f"n_points must be an integer >= {MIN_LENGTH} (catch22), got {self.n_points}")

    @property
    def duration_s(self) -> float:
        """Length of a campaign trace (s)."""
        return self.n_points / self.fs_hz


def campaign_timing(cfg: Mapping) -> CampaignTiming:
    """The LFP rate and post-transient length of a campaign's traces, from its validated config.

    The length is that of :func:`workflow.simulation.lfp.lfp_proxy`'s output: the spike
    histogram has ``round(tstop_ms / dt_ms)`` bins, :func:`scipy.signal.decimate` keeps
    ``ceil(n_bins / decimate)`` of them and the transient drops
    ``round(transient_ms / (dt_ms * decimate))``. This equals
    ``round((tstop_ms - transient_ms) / (dt_ms * decimate))`` whenever ``tstop_ms / dt_ms`` is a
    multiple of ``decimate`` (every shipped config); otherwise it can exceed it by one point.

    Args:
        cfg: a validated config (:func:`workflow.config.validate_config`); reads
            ``simulation.dt_ms``, ``simulation.tstop_ms``, ``simulation.transient_ms`` (ms) and
            ``lfp.decimate``.

    Returns:
        The campaign's LFP rate (Hz) and trace length (points).

    Raises:
        ConfigError: naming the missing or bad key.
    """

    def value(section: str, key: str) -> float:
        try:
            v = cfg[section][key]
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"config key '{section}.{key}': missing (validate the config first)") from exc
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(f"config key '{section}.{key}': must be a finite number, got {v!r}")
        return float(v)

    dt = value("simulation", "dt_ms")
    tstop = value("simulation", "tstop_ms")
    transient = value("simulation", "transient_ms")
    decimate = value("lfp", "decimate")
    if not dt > 0:
        raise ConfigError(f"config key 'simulation.dt_ms': must be positive, got {dt}")
    if not tstop > 0:
        raise ConfigError(f"config key 'simulation.tstop_ms': must be positive, got {tstop}")
    if not 0 <= transient < tstop:
        raise ConfigError(f"config key 'simulation.transient_ms': must lie in [0, tstop_ms={tstop}), got {transient}")
    if decimate != int(decimate) or decimate < 1:
        raise ConfigError(f"config key 'lfp.decimate': must be an integer >= 1, got {decimate}")
    decimate = int(decimate)
    n_bins = int(round(tstop / dt))
    if abs(tstop / dt - n_bins) > 1e-9 * n_bins:
        raise ConfigError(f"config key 'simulation.tstop_ms': must be a multiple of dt_ms ({dt}), got {tstop}")
    n_points = -(-n_bins // decimate) - int(round(transient / (dt * decimate)))
    try:
        return CampaignTiming(fs_hz=1000.0 / (dt * decimate), n_points=n_points)
    except ValueError as exc:
        raise ConfigError(
            f"config keys 'simulation.tstop_ms', 'simulation.transient_ms': the post-transient LFP proxy has "
            f"{n_points} points; catch22 needs at least {MIN_LENGTH}"
        ) from exc


@dataclasses.dataclass(frozen=True)
class Trace:
    """A checked recording at its own rate.

    Attributes:
        path: the file it was read from.
        values: the samples, float64 (n,), finite, not flat, in the file's units.
        fs_hz: its sampling rate (Hz).
    """

    path: Path
    values: np.ndarray
    fs_hz: float

    @property
    def duration_s(self) -> float:
        """Length of the recording (s)."""
        return self.values.size / self.fs_hz


def _check_fs(path: Path, fs_hz: object, source: str) -> float:
    if isinstance(fs_hz, (bool, np.bool_)) or not isinstance(fs_hz, (int, float, np.integer, np.floating)):
        raise TraceError(f"{path}: the sampling rate ({source}) must be a number in Hz, got {fs_hz!r}")
    fs = float(fs_hz)
    if not (math.isfinite(fs) and fs > 0):
        raise TraceError(f"{path}: the sampling rate ({source}) must be positive and finite (Hz), got {fs}")
    return fs


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise TraceError(f"{path}: cannot be read as a .npy array ({exc})") from exc


def _read_csv(path: Path) -> np.ndarray:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{path}: cannot be read as a text .csv file ({exc})") from exc
    split = re.compile(r"[,;\t]")
    values: list[float] = []
    first = True
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        fields = [f.strip() for f in split.split(line)]
        if len(fields) != 1:
            raise TraceError(f"{path}: line {lineno} has {len(fields)} columns; a .csv trace holds one numeric column")
        try:
            values.append(float(fields[0]))
        except ValueError:
            if not first:
                raise TraceError(
                    f"{path}: line {lineno}: {fields[0]!r} is not a number (only the first line may be a header)"
                ) from None
        first = False
    return np.asarray(values, dtype=np.float64)


def _h5_candidates(f: h5py.File) -> dict[str, tuple[int, ...]]:
    """Every dataset of the file with its shape (the candidates are the 1-D numeric ones)."""
    found: dict[str, tuple[int, ...]] = {}

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            found[name] = tuple(obj.shape)

    f.visititems(visit)
    return found


def _read_h5(path: Path, dataset: str | None) -> tuple[np.ndarray, object | None]:
    """The chosen dataset and its ``fs_hz`` attribute (the dataset's, else the file's, else None)."""
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise TraceError(f"{path}: cannot be read as an HDF5 file ({exc})") from exc
    with f:
        shapes = _h5_candidates(f)
        listing = ", ".join(f"{n} {s}" for n, s in shapes.items()) or "none"
        if dataset is None:
            ones = [n for n, s in shapes.items() if len(s) == 1 and f[n].dtype.kind in "iuf"]
            if not ones:
                raise TraceError(f"{path}: holds no 1-D numeric dataset (datasets: {listing})")
            if len(ones) > 1:
                raise TraceError(
                    f"{path}: holds several 1-D datasets ({', '.join(ones)}); name one with --dataset / dataset="
                )
            name = ones[0]
        else:
            name = dataset.strip("/")
            if name not in shapes:
                raise TraceError(f"{path}: has no dataset {dataset!r} (datasets: {listing})")
        d = f[name]
        attr = d.attrs.get(FS_ATTR, f.attrs.get(FS_ATTR))
        if isinstance(attr, np.ndarray):
            attr = attr.item() if attr.size == 1 else attr
        return np.asarray(d[()]), attr


def load_trace(path: str | Path, fs_hz: float | None = None, dataset: str | None = None) -> Trace:
    """Read one TRACE and check it; compute nothing from it.

    Args:
        path: a ``.npy``, ``.csv`` or ``.h5``/``.hdf5`` file (module docstring).
        fs_hz: its sampling rate (Hz); may be omitted for an ``.h5`` whose dataset or file
            carries the attribute ``fs_hz``. If both are given they must agree.
        dataset: for an ``.h5``, the dataset to read (needed when the file holds several 1-D
            datasets); ignored for the other formats.

    Returns:
        The trace as float64 with its sampling rate.

    Raises:
        TraceError: naming the file and the problem: missing file, unknown format, unreadable
            file, an ``.h5`` without the named dataset or with several candidate 1-D datasets
            and no ``dataset`` (they are listed), not 1-D, not numeric, empty, NaN or inf, no
            or a bad sampling rate, the argument and the attribute disagreeing, a flat trace.
    """
    path = Path(path)
    if not path.is_file():
        raise TraceError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise TraceError(f"{path}: unknown trace format {path.suffix!r} (known: {', '.join(FORMATS)})")
    attr = None
    if suffix == ".npy":
        raw = _read_npy(path)
    elif suffix == ".csv":
        raw = _read_csv(path)
    else:
        raw, attr = _read_h5(path, dataset)
    if raw.ndim != 1:
        raise TraceError(f"{path}: a trace must be 1-D, got shape {raw.shape}")
    if raw.dtype.kind not in "iuf":
        raise TraceError(f"{path}: a trace must hold real numbers, got dtype {raw.dtype}")
    if raw.size == 0:
        raise TraceError(f"{path}: the trace is empty")
    x = raw.astype(np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        raise TraceError(
            f"{path}: the trace has {int(np.isnan(x).sum())} NaN and {int(np.isinf(x).sum())} inf values "
            f"(first at index {int(np.argmax(bad))})"
        )
    if fs_hz is None and attr is None:
        hint = f" and the file has no {FS_ATTR!r} attribute" if suffix in (".h5", ".hdf5") else ""
        raise TraceError(f"{path}: no sampling rate: give --fs / fs_hz{hint}")
    fs = _check_fs(path, fs_hz, "fs_hz argument") if fs_hz is not None else None
    if attr is not None:
        fs_attr = _check_fs(path, attr, f"attribute {FS_ATTR!r}")
        if fs is not None and not math.isclose(fs, fs_attr, rel_tol=1e-9):
            raise TraceError(f"{path}: the sampling rate given ({fs} Hz) disagrees with its {FS_ATTR!r} ({fs_attr} Hz)")
        fs = fs_attr
    assert fs is not None
    if _is_flat(x):
        raise TraceError(f"{path}: the trace is flat (constant {x[0]:g}); catch22 needs a varying signal")
    return Trace(path=path, values=x, fs_hz=fs)


def _is_flat(x: np.ndarray) -> bool:
    """The flatness test of :func:`workflow.simulation.features.catch22` (zero variance, relative to the scale)."""
    return not x.std() > 1e-12 * max(1.0, float(np.abs(x).max()))


def resample_ratio(fs_in_hz: float, fs_out_hz: float, max_denominator: int = MAX_DENOMINATOR) -> tuple[int, int]:
    """``(up, down)``, coprime, with ``up / down`` the best rational approximation of ``fs_out / fs_in``.

    Args:
        fs_in_hz: the trace's rate (Hz).
        fs_out_hz: the campaign's rate (Hz).
        max_denominator: largest ``down`` (:meth:`fractions.Fraction.limit_denominator`).

    Raises:
        ValueError: naming the rate that is not positive, or when no ratio with
            ``down <= max_denominator`` lies within :data:`RATIO_RTOL` of the exact one.
    """
    for name, fs in (("fs_in_hz", fs_in_hz), ("fs_out_hz", fs_out_hz)):
        if not (math.isfinite(fs) and fs > 0):
            raise ValueError(f"{name} must be positive and finite (Hz), got {fs}")
    exact = Fraction(fs_out_hz) / Fraction(fs_in_hz)
    approx = exact.limit_denominator(max_denominator)
    if approx == 0 or abs(approx - exact) > RATIO_RTOL * exact:
        raise ValueError(
            f"no ratio up/down with down <= {max_denominator} approximates {fs_out_hz} / {fs_in_hz} Hz "
            f"within {RATIO_RTOL:g} (best: {approx})"
        )
    return approx.numerator, approx.denominator


def resampled_length(n: int, up: int, down: int) -> int:
    """Length of :func:`scipy.signal.resample_poly`'s output for ``n`` points: ``ceil(n * up / down)``."""
    return -(-n * up // down)


def resample(values: np.ndarray, fs_in_hz: float, fs_out_hz: float) -> np.ndarray:
    """The trace at ``fs_out_hz`` by polyphase filtering (module docstring, item 1).

    Args:
        values: 1-D trace sampled at ``fs_in_hz`` (Hz).
        fs_in_hz: its rate (Hz).
        fs_out_hz: the wanted rate (Hz), reached as ``fs_in_hz * up / down`` (:func:`resample_ratio`).

    Returns:
        float64 array of ``ceil(n * up / down)`` points; the first is at the same time as the input's first.
    """
    up, down = resample_ratio(fs_in_hz, fs_out_hz)
    x = np.asarray(values, dtype=np.float64)
    if up == down:
        return x.copy()
    return signal.resample_poly(x, up, down, padtype="line")


def check_length(trace: Trace, timing: CampaignTiming) -> None:
    """Raise :class:`TraceError` unless the resampled trace holds at least one campaign window.

    The message says how long the trace must be, in seconds and in points at the trace's own
    rate and at the campaign's.
    """
    try:
        up, down = resample_ratio(trace.fs_hz, timing.fs_hz)
    except ValueError as exc:
        msg = f"{trace.path}: cannot resample {trace.fs_hz} Hz to the campaign's {timing.fs_hz} Hz: {exc}"
        raise TraceError(msg) from exc
    if resampled_length(trace.values.size, up, down) < timing.n_points:
        need = -(-timing.n_points * down // up)
        raise TraceError(
            f"{trace.path}: the trace is shorter than the campaign's: {trace.values.size} points at {trace.fs_hz:g} Hz "
            f"({trace.duration_s:.4g} s); it must last at least {timing.duration_s:.4g} s "
            f"({timing.n_points} points at the campaign's {timing.fs_hz:g} Hz, {need} points at {trace.fs_hz:g} Hz)"
        )


def windows(values: np.ndarray, n_points: int) -> np.ndarray:
    """Consecutive, non-overlapping windows of ``n_points`` from the start; a shorter tail is dropped.

    Args:
        values: 1-D trace at the campaign's rate.
        n_points: window length (points), :attr:`CampaignTiming.n_points`.

    Returns:
        A read-only view of shape ``(len(values) // n_points, n_points)``.

    Raises:
        ValueError: naming ``n_points`` if not positive, or ``values`` if not 1-D or shorter than one window.
    """
    x = np.asarray(values)
    if n_points < 1:
        raise ValueError(f"n_points must be positive, got {n_points}")
    if x.ndim != 1 or x.size < n_points:
        raise ValueError(f"values must be 1-D with at least n_points={n_points} points, got shape {x.shape}")
    n = x.size // n_points
    out = x[: n * n_points].reshape(n, n_points)
    out.flags.writeable = False
    return out


def check_windows(path: Path, wins: np.ndarray) -> None:
    """Raise :class:`TraceError` naming the file and the window if a window is flat.

    A window is flat if catch22 would call it flat, or if its standard deviation is below
    :data:`FLAT_WINDOW_RTOL` times that of all the windows: a dropout (a stretch of constant
    values) holds, after resampling, only the filter's residue near its edges, whose z-scored
    features describe the filter, not the recording.
    """
    scale = float(wins.std())
    for i, w in enumerate(wins):
        if _is_flat(w) or not w.std() > FLAT_WINDOW_RTOL * scale:
            raise TraceError(f"{path}: window {i} (points {i * w.size}-{(i + 1) * w.size - 1}) is flat")


def window_features(path: Path, wins: np.ndarray) -> np.ndarray:
    """catch22 of each window, by :func:`workflow.simulation.features.catch22`.

    Returns:
        float64 ``(n_windows, 22)``, columns in :data:`~workflow.contract.FEATURE_NAMES` order.

    Raises:
        TraceError: naming the file and the window whose features are not finite.
    """
    out = np.empty((len(wins), len(FEATURE_NAMES)))
    for i, w in enumerate(wins):
        out[i], why = catch22(w)
        if why:
            raise TraceError(f"{path}: window {i}: {why}")
    return out


@dataclasses.dataclass(frozen=True)
class PreparedTrace:
    """A recording in the campaign's form.

    Attributes:
        path: the file it was read from.
        fs_in_hz: its own rate (Hz).
        up, down: the resampling ratio; the windows are sampled at ``fs_in_hz * up / down`` Hz.
        windows: ``(n_windows, n_points)`` at the campaign's rate, in the file's units.
        features: ``(n_windows, 22)`` catch22 per window.
        n_dropped: resampled points after the last whole window (not used).
    """

    path: Path
    fs_in_hz: float
    up: int
    down: int
    windows: np.ndarray
    features: np.ndarray
    n_dropped: int


def load_traces(
    paths: Sequence[str | Path], timing: CampaignTiming, fs_hz: float | None = None, dataset: str | None = None
) -> list[Trace]:
    """Read and check every trace (:func:`load_trace`, :func:`check_length`); compute nothing.

    Raises:
        TraceError: for the first bad trace, naming it.
    """
    traces = [load_trace(p, fs_hz, dataset) for p in paths]
    for t in traces:
        check_length(t, timing)
    return traces


def prepare_traces(
    paths: Sequence[str | Path], timing: CampaignTiming, fs_hz: float | None = None, dataset: str | None = None
) -> list[PreparedTrace]:
    """Every trace in the campaign's form; all are checked before the first feature is computed.

    Args:
        paths: the TRACE files.
        timing: the campaign's LFP rate and trace length (:func:`campaign_timing`).
        fs_hz: the traces' sampling rate (Hz), if not carried by an ``.h5``'s ``fs_hz`` attribute.
        dataset: the dataset to read from ``.h5`` traces.

    Returns:
        One :class:`PreparedTrace` per path, in order.

    Raises:
        TraceError: naming the file and the problem (:func:`load_trace`, :func:`check_length`,
            :func:`check_windows`).
    """
    traces = load_traces(paths, timing, fs_hz, dataset)
    staged = []
    for t in traces:
        up, down = resample_ratio(t.fs_hz, timing.fs_hz)
        x = resample(t.values, t.fs_hz, timing.fs_hz)
        wins = windows(x, timing.n_points)
        check_windows(t.path, wins)
        staged.append((t, up, down, wins, x.size - wins.size))
    return [
        PreparedTrace(t.path, t.fs_hz, up, down, wins, window_features(t.path, wins), n_dropped)
        for t, up, down, wins, n_dropped in staged
    ]
