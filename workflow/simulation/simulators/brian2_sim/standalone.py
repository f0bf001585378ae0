"""cpp_standalone machinery: compile the network once per process and structure, then re-run
the binary per sample with ``run_args`` and per-sample synapse index files.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from workflow.contract import POPULATIONS
from workflow.simulation.network import NetworkParams
from workflow.simulation.simulators import SimSettings
from workflow.simulation.simulators.brian2_sim.model import (
    Wiring,
    _brian2,
    _clock_ms,
    _counts,
    _create,
    _pad,
    _pad_values,
    parameter_values,
)

log = logging.getLogger(__name__)

CACHE_ENV = "SBI_BRIAN2_CACHE"


PAD_SD = 10.0


# --------------------------------------------------------------------------------------------
# cpp_standalone: compile once per process and network size, re-run with run_args
# --------------------------------------------------------------------------------------------


def cache_root() -> Path:
    """Directory for standalone builds: $SBI_BRIAN2_CACHE, else $XDG_CACHE_HOME or ~/.cache."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sbi-cortical-features" / "brian2"


def _capacity(net: NetworkParams, pre: str) -> int:
    """Standalone synapse count for presynaptic population ``pre``."""
    if not net.full_scale:
        return sum(net.N[post] * net.indegree(post, pre) for post in POPULATIONS)
    pairs = sum(net.N[post] * (net.N[pre] - int(post == pre)) for post in POPULATIONS)
    mean, sd = pairs * net.p_conn, math.sqrt(pairs * net.p_conn * (1 - net.p_conn))
    return int(math.ceil(mean + PAD_SD * sd)) + 1


def _structure_key(net: NetworkParams, settings: SimSettings) -> str:
    """Hash of everything compiled into a standalone build."""
    desc = {
        "net": {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in dataclasses.asdict(net).items()},
        "dt_ms": settings.dt_ms,
        "tstop_ms": settings.tstop_ms,
        "threads": settings.threads,
        "chunk_ms": settings.chunk_ms,
        "abort_rate_hz": settings.abort_rate_hz,
        "capacity": {p: _capacity(net, p) for p in POPULATIONS},
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:16]


_ABORT_REPORT = """
static double win_start = 0.0;
static long win_n[2] = {0, 0};
const double t_now = start + completed * duration;
const long n_now[2] = {(long) brian::%(NE)s[0], (long) brian::%(NI)s[0]};
const double size[2] = {%(SIZE_E)r, %(SIZE_I)r};
if (completed == 0.0) { win_start = t_now; win_n[0] = n_now[0]; win_n[1] = n_now[1]; return; }
if (t_now - win_start >= %(CHUNK)r - 1e-12) {
    for (int p = 0; p < 2; p++) {
        if ((n_now[p] - win_n[p]) / (size[p] * (t_now - win_start)) > %(ABORT)r)
            Network::_globally_stopped = true;
        win_n[p] = n_now[p];
    }
    win_start = t_now;
}
"""


class _Standalone:
    """One compiled standalone network, re-run per sample (one per process and structure)."""

    def __init__(self, net: NetworkParams, settings: SimSettings, wiring: Wiring):
        b2 = _brian2()
        from brian2 import ms, second

        t_setup = time.perf_counter()
        self.net, self.settings = net, settings
        self.capacity = {p: _capacity(net, p) for p in POPULATIONS}
        root = cache_root()
        root.mkdir(parents=True, exist_ok=True)
        # a private directory: concurrent jobs never share build or run files
        self.directory = Path(tempfile.mkdtemp(prefix=f"standalone-{_structure_key(net, settings)}-", dir=root))
        atexit.register(shutil.rmtree, self.directory, True)
        b2.set_device("cpp_standalone", build_on_run=False)
        b2.get_device().reinit()  # forget any earlier standalone project of this process
        b2.get_device().activate(build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = settings.threads if settings.threads > 1 else 0
        b2.prefs.devices.cpp_standalone.extra_make_args_unix = ["-s", f"-j{len(os.sched_getaffinity(0))}"]
        self.device = b2.get_device()
        self.objs = _create(net, settings, self.capacity, wiring)
        self.index_files = self._find_index_files(wiring)
        # every run-time value is set from the command line after the synapses exist and
        # before the spike queues are prepared; then Brian2's generator is reseeded
        self.device.apply_run_args()
        seed_array = self.device.get_array_name(self.objs.group.variables["rng_seed"])
        n_gen = max(1, b2.prefs.devices.cpp_standalone.openmp_threads)
        self.device.insert_code(
            "main",
            f"for (int _i = 0; _i < {n_gen}; _i++) "
            f"brian::_random_generators[_i].seed((unsigned long) brian::{seed_array}[0] + _i);",
        )
        report, period = None, 10 * second
        if settings.abort_rate_hz is not None:
            report = _ABORT_REPORT % {
                "NE": self.device.get_array_name(self.objs.mon["E"].variables["N"]),
                "NI": self.device.get_array_name(self.objs.mon["I"].variables["N"]),
                "SIZE_E": float(net.N["E"]),
                "SIZE_I": float(net.N["I"]),
                "CHUNK": settings.chunk_ms / 1000.0,
                "ABORT": float(settings.abort_rate_hz),
            }
            period = 0.02 * second  # wall-clock interval between checks
        self.objs.network.run(settings.tstop_ms * ms, report=report, report_period=period, namespace={})
        t0 = time.perf_counter()
        #: seconds spent creating the Brian2 objects, and generating + compiling the C++ project
        self.setup_s = t0 - t_setup
        self.device.build(directory=str(self.directory), compile=True, run=False, with_output=False)
        self.compile_s = time.perf_counter() - t0
        log.info(
            "brian2 cpp_standalone: objects in %.1f s, code generation + compilation in %.1f s (%s)",
            self.setup_s, self.compile_s, self.directory,
        )  # fmt: skip

    def _find_index_files(self, wiring: Wiring) -> dict[str, tuple[Path, Path]]:
        """The static-array files holding each Synapses' source and target indices."""
        out = {}
        for pre in POPULATIONS:
            i, j = _pad(wiring.pre[pre], wiring.post[pre], self.capacity[pre], self.net.N[pre])
            names = []
            for arr in (i, j):
                hits = [
                    name
                    for name, value in self.device.static_arrays.items()
                    if f"syn_{pre}" in name and value.dtype == np.int32 and np.array_equal(value, arr)
                ]
                if len(hits) != 1:
                    raise RuntimeError(f"brian2 standalone: cannot locate the index array of syn_{pre} ({hits})")
                names.append(self.directory / "static_arrays" / hits[0])
            out[pre] = (names[0], names[1])
        return out

    def _write_indices(self, wiring: Wiring) -> None:
        for pre, (src, tgt) in self.index_files.items():
            i, j = _pad(wiring.pre[pre], wiring.post[pre], self.capacity[pre], self.net.N[pre])
            i.tofile(src)
            j.tofile(tgt)

    def run(self, theta: Mapping[str, float], wiring: Wiring, brian_seed: int) -> tuple[dict[str, np.ndarray], float]:
        from brian2 import ms, mV, pA

        g, s = self.objs.group, self.objs.syn
        self._write_indices(wiring)
        args = {getattr(g, k): v for k, v in parameter_values(theta, self.net, self.settings.dt_ms).items()}
        args[g.V] = wiring.v0_mV * mV
        args[g.rng_seed] = int(brian_seed)
        for pre in POPULATIONS:
            n = self.capacity[pre]
            args[s[pre].w] = _pad_values(wiring.weight_pA[pre], n, 0.0) * pA
            # ``s[pre].delay`` is addressed through the pathway (``syn_E_pre.delay``), a name
            # the compiled binary does not know (it sets ``syn_E.delay``): address it via the Synapses.
            delay = s[pre].pre.variables["delay"].get_addressable_value_with_unit("delay", s[pre])
            args[delay] = _pad_values(wiring.delay_ms[pre], n, self.settings.dt_ms) * ms
        saved_env = dict(os.environ)
        try:
            self.device.run(directory=str(self.directory), with_output=False, run_args=args)
        finally:
            self.device.delete(code=False, data=False, run_args=True, directory=False)
            # Brian2 writes its run environment (LD_BIND_NOW=1) into os.environ for good; undo
            # it so that programs this process starts later (e.g. SLURM daemons) are not affected.
            os.environ.clear()
            os.environ.update(saved_env)
        self._check_wiring(wiring)
        t_done = _clock_ms(self.objs.clock)
        return _counts(self.objs, self.settings), min(t_done, self.settings.tstop_ms)

    def _check_wiring(self, wiring: Wiring) -> None:
        """Verify from the run's results that the binary simulated this sample's synapses."""
        for pre in POPULATIONS:
            s, n = self.objs.syn[pre], wiring.n_synapses(pre)
            for name in ("_synaptic_pre", "_synaptic_post"):  # Brian2 caches the build's indices
                self.device.array_cache[s.variables[name]] = None
            if not (
                np.array_equal(np.asarray(s.i[:])[:n], wiring.pre[pre])
                and np.array_equal(np.asarray(s.j[:])[:n], wiring.post[pre])
                and np.allclose(np.asarray(s.w_[:])[:n] * 1e12, wiring.weight_pA[pre], rtol=1e-12, atol=0)
            ):
                raise RuntimeError(f"brian2 standalone: the run did not use this sample's syn_{pre} wiring")


_STANDALONE: dict[str, _Standalone] = {}


def _standalone(net: NetworkParams, settings: SimSettings, wiring: Wiring) -> _Standalone:
    """The process's compiled network for this structure (compiled on first use)."""
    key = _structure_key(net, settings)
    if key not in _STANDALONE:
        for old in _STANDALONE.values():  # the device holds one project at a time
            shutil.rmtree(old.directory, ignore_errors=True)
        _STANDALONE.clear()
        _STANDALONE[key] = _Standalone(net, settings, wiring)
    return _STANDALONE[key]
