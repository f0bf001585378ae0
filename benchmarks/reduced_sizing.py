"""Sizing of the reduced campaign (config/reduced.yaml) by measurement: resolution, drift, cost.

Three measurements, each simulated with the campaign's own code path (``nest_sim``'s pipeline,
:func:`workflow.simulation.lfp.lfp_proxy`, :func:`workflow.simulation.features.catch22`) and the
paper's kernels (``kernels_from_config``, computed once per dt and cached under ``--out``):

``a`` resolution: ``--draws`` prior draws (the campaign's streams: :class:`Prior` and
      :func:`workflow.seeds.network_seed` of sample ids 0, 1, ...) at ``--a-scale``, each simulated
      once for ``transient + max(--lengths)``; catch22 on the first L seconds of the
      post-transient LFP proxy for every L. Prints the number of distinct values of dfa and
      rs_range among the valid rows (gates ``paper_2024`` and ``rate_window``; the latter also
      applies its early stop to the first transient + L), the number of values catch22's grid of
      scales allows at that length (:func:`fluct_grid`) and their interquartile range; with ``b``,
      their SD over the prior against the best fit's seed-to-seed SD at the same scale and L.
``b`` drift: the best fit at every ``--scales`` with ``--seeds`` network seeds (``--full-seeds``
      at scale 1); per feature |mean(s) - mean(ref)| / pooled seed SD, ref = the largest scale,
      summarised per scale and L (median, max, count > 1, and the count > 1 expected from seed
      noise alone).
``c`` cost: CPU seconds of one sample split into set-up (kernel reset, create, connect),
      simulation (per simulated second) and analysis (LFP proxy, catch22), for the best fit
      (from ``b``) and for the first ``--cost-draws`` prior draws of ``a`` at every scale below 1
      (``--cost-tstop-ms``); the prior draws' CPU relative to the best fit's, with and without
      the ``rate_window`` early stop (estimated from the chunk where it would have fired).

Every time is the CPU time of this process (``time.process_time``, NEST on one thread), not
wall time: other jobs share the machine. Raw rows go to ``<out>/raw-<part>.tsv``, tables to
``<out>/<table>.tsv``; ``--tables-only`` rebuilds the tables from the raw rows.

Usage: python benchmarks/reduced_sizing.py [--parts a b c] [--draws 60] [--lengths 0.8 1.5 3 5]
       [--scales 0.02 0.05 0.1 0.2 1.0] [--seeds 8] [--full-seeds 3] [--out results/sizing]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from workflow.config import load_config  # noqa: E402
from workflow.contract import FEATURE_NAMES, PARAM_NAMES, POPULATIONS, Status  # noqa: E402
from workflow.seeds import network_seed  # noqa: E402
from workflow.simulation.features import catch22  # noqa: E402
from workflow.simulation.gates import Gates, SampleMeasures  # noqa: E402
from workflow.simulation.lfp import count_kernels, lfp_proxy  # noqa: E402
from workflow.simulation.network import NetworkParams, make_theta  # noqa: E402
from workflow.simulation.prior import Prior, theta_dict  # noqa: E402
from workflow.simulation.simulators import SimResult, SimSettings  # noqa: E402

DFA = "SC_FluctAnal_2_dfa_50_1_2_logi_prop_r1"
RS_RANGE = "SC_FluctAnal_2_rsrangefit_50_1_logi_prop_r1"
PRESETS = ("paper_2024", "rate_window")


# -- simulation ---------------------------------------------------------------------------------


def cached_kernels(cfg: Mapping, out: Path) -> dict[str, np.ndarray]:
    """The config's kernels (``kernels_from_config``), computed once per dt and kernels section."""
    from workflow.simulation.kernels.compute import kernels_from_config
    from workflow.simulation.kernels.io import read_kernels, write_kernels

    key = json.dumps({"dt_ms": cfg["simulation"]["dt_ms"], "kernels": cfg["kernels"]}, sort_keys=True)
    path = out / f"kernels-{hashlib.sha256(key.encode()).hexdigest()[:12]}.h5"
    if not path.exists():
        kernels, attrs = kernels_from_config(cfg)
        write_kernels(path, kernels, attrs)
    kernels, attrs = read_kernels(path)
    assert abs(float(attrs["dt_ms"]) - cfg["simulation"]["dt_ms"]) < 1e-12
    return kernels


def simulate_timed(theta: Mapping[str, float], net: NetworkParams, settings: SimSettings, seed: int):
    """``nest_sim.simulate`` step by step: the SimResult and the CPU seconds of set-up and of the run."""
    from workflow.simulation.simulators import nest_sim

    c0 = time.process_time()
    nest_sim.setup_kernel(settings, seed)
    pops = nest_sim.create_populations(theta, net)
    nest_sim.create_drive(theta, net, pops, settings)
    recs = nest_sim.create_recorders(pops)
    nest_sim.connect(theta, net, pops)
    c1 = time.process_time()
    counts, t_done = nest_sim.run(net, recs, settings)
    c2 = time.process_time()
    n_vp = int(nest_sim._nest().GetKernelStatus("total_num_virtual_procs"))
    res = SimResult.from_counts(counts, net, settings, n_vp, "nest", t_done, 0.0)
    return res, c1 - c0, c2 - c1


def window_stop_ms(
    counts: Mapping[str, np.ndarray], net: NetworkParams, settings: SimSettings, abort_hz: float
) -> float:
    """Where the ``rate_window`` early stop would have ended the run (chunks of ``settings.chunk_ms``)."""
    per_chunk = int(round(settings.chunk_ms / settings.dt_ms))
    n_chunks = -(-settings.n_bins // per_chunk)
    for k in range(n_chunks):
        sl = slice(k * per_chunk, (k + 1) * per_chunk)
        dur_s = (min(settings.n_bins, (k + 1) * per_chunk) - k * per_chunk) * settings.dt_ms / 1000.0
        if any(counts[p][sl].sum() / (net.N[p] * dur_s) > abort_hz for p in POPULATIONS):
            return min(settings.tstop_ms, (k + 1) * settings.chunk_ms)
    return settings.tstop_ms


class Runner:
    """Simulates one network and analyses the first L seconds after the transient, for every L."""

    def __init__(self, paths: Sequence[Path], base_cfg: Mapping, out: Path, lengths: Sequence[float]) -> None:
        self.paths, self.cfg = list(paths), base_cfg
        self.lengths = sorted(lengths)
        self.kernels = count_kernels(cached_kernels(base_cfg, out), base_cfg["lfp"]["kernel_pairing"])
        gate_cfgs = {p: load_config(self.paths, {"gates": {"preset": p}})["gates"] for p in PRESETS}
        self.gates = {p: Gates.from_config(g) for p, g in gate_cfgs.items()}
        self.abort_hz = float(gate_cfgs["rate_window"]["rate_window"]["abort_rate_hz"])
        self.decimate = int(base_cfg["lfp"]["decimate"])

    def settings(self, tstop_ms: float) -> SimSettings:
        """The campaign's settings at ``tstop_ms``, one thread, no early stop (the rate_window stop is
        evaluated afterwards from the spike counts, :func:`window_stop_ms`)."""
        sim = {"tstop_ms": tstop_ms, "transient_ms": self.cfg["simulation"]["transient_ms"], "threads": 1}
        return SimSettings.from_config(load_config(self.paths, {"simulation": sim, "gates": {"preset": "paper_2024"}}))

    def run(self, part: str, kind: str, scale: float, sample_id: int, theta: Mapping[str, float], seed: int,
            tstop_ms: float, lengths: Sequence[float] | None = None) -> list[dict]:  # fmt: skip
        net = NetworkParams(scale=scale)
        settings = self.settings(tstop_ms)
        res, setup_cpu, sim_cpu = simulate_timed(theta, net, settings, seed)
        c0 = time.process_time()
        trace = lfp_proxy(res.counts, self.kernels, {p: net.count_factor(p) for p in POPULATIONS},
                          settings.dt_ms, settings.transient_ms, self.decimate)  # fmt: skip
        lfp_cpu = time.process_time() - c0
        fs = 1000.0 / (settings.dt_ms * self.decimate)
        stop_window = window_stop_ms(res.counts, net, settings, self.abort_hz)
        rows = []
        for L in lengths if lengths is not None else self.lengths:
            end_ms = settings.transient_ms + 1000.0 * L
            if end_ms > tstop_ms + 1e-9:
                continue
            n_pts = int(round(1000.0 * L * fs / 1000.0))
            c0 = time.process_time()
            feats, why = catch22(trace[:n_pts])
            c22 = time.process_time() - c0
            first, last = (int(round(t / settings.dt_ms)) for t in (settings.transient_ms, end_ms))
            rates = np.array([res.counts[p][first:last].sum() / (net.N[p] * L) for p in POPULATIONS])
            run_rates = np.array([res.counts[p][:last].sum() / (net.N[p] * end_ms / 1000.0) for p in POPULATIONS])
            m = SampleMeasures(rates, run_rates, trace[:n_pts], fs, feats, why)
            status = {p: self.gates[p].classify(m)[0] for p in PRESETS}
            if stop_window < end_ms - 1e-9:
                status["rate_window"] = Status.RUNAWAY
            rows.append({
                "part": part, "kind": kind, "scale": scale, "sample_id": sample_id, "seed": seed,
                "tstop_ms": tstop_ms, "setup_cpu_s": setup_cpu, "sim_cpu_s": sim_cpu, "lfp_cpu_s": lfp_cpu,
                "t_stop_window_ms": stop_window, "L_s": L, "catch22_cpu_s": c22,
                "rate_E": rates[0], "rate_I": rates[1],
                **{f"status_{p}": status[p].name for p in PRESETS},
                **dict(zip(FEATURE_NAMES, feats, strict=True)),
            })  # fmt: skip
        return rows


# -- raw rows -----------------------------------------------------------------------------------


def write_rows(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t")
        w.writeheader()
        w.writerows(rows)


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for r in rows:
        for k, v in r.items():
            if k not in ("part", "kind") and not k.startswith("status_"):
                r[k] = float(v)
    return rows


def write_table(path: Path, header: Sequence[str], rows: Sequence[Sequence]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t")
        w.writerow(header)
        w.writerows(rows)


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence]) -> None:
    def fmt(v):
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    cells = [list(map(str, header))] + [[fmt(v) for v in r] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    print(f"\n{title}")
    for c in cells:
        print("  ".join(s.rjust(w) for s, w in zip(c, widths, strict=True)))


# -- the three parts ----------------------------------------------------------------------------


def part_a(runner: Runner, args: argparse.Namespace, seed: int, prior: Prior) -> list[dict]:
    ids = list(range(args.draws))
    thetas = prior.draw(seed, ids)
    tstop = args.transient_ms + 1000.0 * max(args.lengths)
    rows = []
    for sid, row in zip(ids, thetas, strict=True):
        rows += runner.run("a", "prior", args.a_scale, sid, theta_dict(row), network_seed(seed, sid), tstop)
        print(f"a: draw {sid}: {rows[-1]['status_paper_2024']}, rates {rows[-1]['rate_E']:.1f}/"
              f"{rows[-1]['rate_I']:.1f} Hz, CPU {rows[-1]['setup_cpu_s'] + rows[-1]['sim_cpu_s']:.1f} s",
              flush=True)  # fmt: skip
    return rows


def part_b(runner: Runner, args: argparse.Namespace, seed: int) -> list[dict]:
    tstop = args.transient_ms + 1000.0 * max(args.drift_lengths)
    rows = []
    for scale in args.scales:
        n = args.full_seeds if scale >= 1.0 else args.seeds
        for rep in range(n):
            rows += runner.run("b", "best_fit", scale, rep, make_theta(), network_seed(seed, rep), tstop,
                               args.drift_lengths)  # fmt: skip
            r = rows[-1]
            print(
                f"b: scale {scale} seed {rep}: rates {r['rate_E']:.2f}/{r['rate_I']:.2f} Hz, "
                f"set-up {r['setup_cpu_s']:.1f} CPU s, run {r['sim_cpu_s']:.1f} CPU s",
                flush=True,
            )
    return rows


def part_c(runner: Runner, args: argparse.Namespace, seed: int, prior: Prior) -> list[dict]:
    ids = list(range(args.cost_draws))
    thetas = prior.draw(seed, ids)
    L = (args.cost_tstop_ms - args.transient_ms) / 1000.0
    rows = []
    for scale in args.scales:
        if scale >= 1.0:
            continue  # prior draws at full scale cost minutes each; the best fit's slope is in b
        for sid, row in zip(ids, thetas, strict=True):
            rows += runner.run("c", "prior", scale, sid, theta_dict(row), network_seed(seed, sid),
                               args.cost_tstop_ms, [L])  # fmt: skip
            r = rows[-1]
            print(
                f"c: scale {scale} draw {sid}: rates {r['rate_E']:.1f}/{r['rate_I']:.1f} Hz, "
                f"run {r['sim_cpu_s']:.1f} CPU s",
                flush=True,
            )
    return rows


# -- tables -------------------------------------------------------------------------------------


def fluct_grid(n_points: int) -> int:
    """Scales of catch22's SC_FluctAnal_2_*_50_* at ``n_points``: 50 log-spaced taus from 5 to n/2,
    rounded and deduplicated (catch22's C source, SC_FluctAnal.c). The feature is
    (breakpoint index + 1) / ntt with the breakpoint in [5, ntt - 7], so it takes ntt - 11 values."""
    tau = np.floor(np.exp(np.linspace(math.log(5), math.log(n_points // 2), 50)) + 0.5)
    return len(np.unique(tau))


def table_distinct(rows: list[dict], fs_hz: float) -> tuple[list[str], list[list]]:
    header = ["L_s", "preset", "n_valid", "distinct_dfa", "distinct_rs_range", "possible_values", "iqr_dfa",
              "iqr_rs_range"]  # fmt: skip
    out = []
    for L in sorted({r["L_s"] for r in rows}):
        sel = [r for r in rows if r["L_s"] == L]
        for p in PRESETS:
            ok = [r for r in sel if r[f"status_{p}"] == Status.OK.name]
            nd, nr = (len({r[f] for r in ok}) for f in (DFA, RS_RANGE))
            iqr = [float(np.subtract(*np.percentile([r[f] for r in ok], [75, 25]))) for f in (DFA, RS_RANGE)]
            out.append([L, p, len(ok), nd, nr, fluct_grid(int(round(L * fs_hz))) - 11, *iqr])
    return header, out


def table_resolution(a_rows: list[dict], b_rows: list[dict]) -> tuple[list[str], list[list]]:
    """dfa and rs_range: SD over the prior's valid draws (a) over the best fit's seed SD (b), same scale and L."""
    header = ["L_s", "scale", "feature", "prior_sd", "seed_sd", "prior_sd_over_seed_sd"]
    out = []
    for L in sorted({r["L_s"] for r in a_rows} & {r["L_s"] for r in b_rows}):
        for scale in sorted({r["scale"] for r in a_rows}):
            pa = [r for r in a_rows if r["L_s"] == L and r["scale"] == scale and r["status_paper_2024"] == "OK"]
            pb = [r for r in b_rows if r["L_s"] == L and r["scale"] == scale and r["status_paper_2024"] == "OK"]
            if len(pa) < 3 or len(pb) < 3:
                continue
            for name, f in (("dfa", DFA), ("rs_range", RS_RANGE)):
                sa, sb = (float(np.std([r[f] for r in rows], ddof=1)) for rows in (pa, pb))
                out.append([L, scale, name, sa, sb, sa / sb if sb > 0 else float("inf")])
    return header, out


def noise_count(n_s: int, n_r: int, n_feat: int) -> float:
    """Features expected above drift 1 from seed noise alone: |t| > 1 with t ~ N(0, 1/n_s + 1/n_r)."""
    z = 1.0 / math.sqrt(1.0 / n_s + 1.0 / n_r)
    return n_feat * math.erfc(z / math.sqrt(2.0))


def table_drift(rows: list[dict]) -> tuple[list[str], list[list], list[list]]:
    header = ["L_s", "scale", "ref_scale", "n_seeds", "n_ref", "median", "max", "n_above_1", "n_above_1_noise",
              "worst_feature"]  # fmt: skip
    out, per_feature = [], []
    for L in sorted({r["L_s"] for r in rows}):
        sel = [r for r in rows if r["L_s"] == L and r["status_paper_2024"] == Status.OK.name]
        scales = sorted({r["scale"] for r in sel})
        if len(scales) < 2:
            continue
        x = {s: np.array([[r[f] for f in FEATURE_NAMES] for r in sel if r["scale"] == s]) for s in scales}
        ref = scales[-1]
        for s in scales[:-1]:
            a, b = x[s], x[ref]
            pooled = np.sqrt(
                ((len(a) - 1) * a.var(0, ddof=1) + (len(b) - 1) * b.var(0, ddof=1)) / (len(a) + len(b) - 2)
            )
            d = np.abs(a.mean(0) - b.mean(0)) / np.where(pooled > 0, pooled, np.nan)
            worst = int(np.nanargmax(d))
            out.append([L, s, ref, len(a), len(b), float(np.nanmedian(d)), float(np.nanmax(d)), int(np.sum(d > 1)),
                        round(noise_count(len(a), len(b), len(FEATURE_NAMES)), 1), FEATURE_NAMES[worst]])  # fmt: skip
            per_feature += [[L, s, ref, f, float(v)] for f, v in zip(FEATURE_NAMES, d, strict=True)]
    return header, out, per_feature


def table_cost(rows: list[dict]) -> tuple[list[str], list[list]]:
    """Per scale and kind: set-up CPU s, simulation CPU s per simulated s, analysis CPU s per analysed s."""
    header = ["scale", "kind", "n", "setup_cpu_s", "sim_cpu_per_bio_s", "sim_cpu_per_bio_s_window", "lfp_cpu_per_bio_s",
              "catch22_cpu_per_L_s", "mean_rate_E", "prior_over_best_fit", "prior_over_best_fit_window"]  # fmt: skip
    # one record per simulated network (the longest L's row carries the catch22 time of that L)
    runs: dict[tuple, dict] = {}
    for r in rows:
        key = (r["part"], r["kind"], r["scale"], r["sample_id"], r["tstop_ms"])
        if key not in runs or r["L_s"] > runs[key]["L_s"]:
            runs[key] = r
    by: dict[tuple, list[dict]] = {}
    for r in runs.values():
        by.setdefault((r["scale"], r["kind"], r["part"]), []).append(r)
    best = {s: np.mean([r["sim_cpu_s"] / (r["tstop_ms"] / 1000.0) for r in v])
            for (s, kind, _), v in by.items() if kind == "best_fit"}  # fmt: skip
    out = []
    for (scale, kind, part), v in sorted(by.items()):
        bio = np.array([r["tstop_ms"] / 1000.0 for r in v])
        sim = np.array([r["sim_cpu_s"] for r in v]) / bio
        window = np.array([r["sim_cpu_s"] * r["t_stop_window_ms"] / r["tstop_ms"] for r in v]) / bio
        lfp = np.mean([r["lfp_cpu_s"] for r in v] / bio)
        c22 = np.mean([r["catch22_cpu_s"] / r["L_s"] for r in v])
        ratio = float(sim.mean() / best[scale]) if kind == "prior" and scale in best else float("nan")
        ratio_w = float(window.mean() / best[scale]) if kind == "prior" and scale in best else float("nan")
        out.append([scale, f"{kind} ({part})", len(v), float(np.mean([r["setup_cpu_s"] for r in v])), float(sim.mean()),
                    float(window.mean()), float(lfp), float(c22), float(np.mean([r["rate_E"] for r in v])), ratio,
                    ratio_w])  # fmt: skip
    return header, out


def tables(out: Path, fs_hz: float) -> None:
    raw = {p: read_rows(out / f"raw-{p}.tsv") for p in "abc"}
    if raw["a"]:
        h, t = table_distinct(raw["a"], fs_hz)
        write_table(out / "distinct.tsv", h, t)
        print_table(f"(a) distinct values among valid rows ({DFA}, {RS_RANGE})", h, t)
    if raw["b"]:
        h, t, per_feature = table_drift(raw["b"])
        write_table(out / "drift.tsv", h, t)
        write_table(out / "drift_per_feature.tsv", ["L_s", "scale", "ref_scale", "feature", "drift"], per_feature)
        print_table("(b) best-fit feature drift |mean(s) - mean(ref)| / pooled seed SD, over the 22 features", h, t)
    if raw["a"] and raw["b"]:
        h, t = table_resolution(raw["a"], raw["b"])
        write_table(out / "resolution.tsv", h, t)
        print_table("(a, b) spread over the prior (valid draws) against the best fit's seed-to-seed SD", h, t)
    if raw["a"] or raw["b"] or raw["c"]:
        h, t = table_cost(raw["a"] + raw["b"] + raw["c"])
        write_table(out / "cost.tsv", h, t)
        print_table("(c) CPU seconds (process time, NEST on 1 thread) per sample, by scale", h, t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", nargs="+", choices=["a", "b", "c"], default=["a", "b", "c"])
    ap.add_argument("--configfile", nargs="*", default=[], help="configs after config/config.yaml")
    ap.add_argument("--draws", type=int, default=60, help="(a) prior draws")
    ap.add_argument("--a-scale", type=float, default=0.05, help="(a) network.scale")
    ap.add_argument("--lengths", type=float, nargs="+", default=[0.8, 1.5, 3.0, 5.0], help="(a) L, s")
    ap.add_argument("--scales", type=float, nargs="+", default=[0.02, 0.05, 0.1, 0.2, 1.0], help="(b, c)")
    ap.add_argument("--seeds", type=int, default=8, help="(b) network seeds per scale below 1")
    ap.add_argument("--full-seeds", type=int, default=3, help="(b) network seeds at scale 1")
    ap.add_argument("--drift-lengths", type=float, nargs="+", default=[0.8, 1.5, 3.0], help="(b) L, s")
    ap.add_argument("--cost-draws", type=int, default=4, help="(c) prior draws per scale below 1")
    ap.add_argument("--cost-tstop-ms", type=float, default=1200.0, help="(c) simulated time per prior draw")
    ap.add_argument("--transient-ms", type=float, default=200.0)
    ap.add_argument("--out", type=Path, default=REPO / "results" / "sizing")
    ap.add_argument("--tables-only", action="store_true", help="rebuild the tables from the raw rows")
    args = ap.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    paths = [REPO / "config" / "config.yaml", *args.configfile]
    if not args.tables_only:
        cfg = load_config(paths, {"simulation": {"transient_ms": args.transient_ms}})
        seed = int(cfg["campaign"]["seed"])
        prior = Prior.from_config(cfg["prior"])
        runner = Runner(paths, cfg, args.out, args.lengths)
        import nest  # noqa: F401  (import outside the timed sections)

        print(
            f"seed {seed}, transient {args.transient_ms} ms, dt {cfg['simulation']['dt_ms']} ms, "
            f"decimate {cfg['lfp']['decimate']}, kernels {cfg['kernels']['biophysics']}, parameters {PARAM_NAMES}"
        )
        for part, fn in (("a", lambda: part_a(runner, args, seed, prior)), ("b", lambda: part_b(runner, args, seed)),
                         ("c", lambda: part_c(runner, args, seed, prior))):  # fmt: skip
            if part in args.parts:
                c0 = time.process_time()
                write_rows(args.out / f"raw-{part}.tsv", fn())
                print(f"part {part}: {time.process_time() - c0:.0f} CPU s", flush=True)
    cfg = load_config(paths)
    tables(args.out, 1000.0 / (cfg["simulation"]["dt_ms"] * cfg["lfp"]["decimate"]))


if __name__ == "__main__":
    main()
