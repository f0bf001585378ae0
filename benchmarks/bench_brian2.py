"""Brian2 against NEST: per-sample wall time, side by side in one run.

For each scale, the same parameter sets and seeds are simulated by NEST and by each Brian2
target, interleaved (NEST, Brian2, NEST, Brian2, ...), so both see the same machine load.
Printed per scale, simulator and target:
- ``first_s``: the first sample, including Brian2's code generation and compilation;
- ``compile_s``: cpp_standalone's build (C++ code generation + make) alone;
- ``per_sample_s``: mean wall time of the samples after the first (the first minus the
  one-time object creation and build, when there is one sample);
- the mean E and I rates, as a check that both ran the same model.

Usage: python benchmarks/bench_brian2.py [--scales default 1.0] [--tstop-ms 1000]
       [--samples 3 1] [--targets cpp_standalone runtime] [--threads 1] [--out FILE.tsv]
``default`` is network.scale of config/config.yaml; ``--samples`` gives one count per scale.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from workflow.config import load_config  # noqa: E402
from workflow.seeds import network_seed  # noqa: E402
from workflow.simulation.gates import abort_rate_hz  # noqa: E402
from workflow.simulation.network import NetworkParams, make_theta  # noqa: E402
from workflow.simulation.simulators import SimSettings, simulate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", nargs="+", default=["default", "1.0"])
    ap.add_argument("--tstop-ms", type=float, default=1000.0)
    ap.add_argument("--transient-ms", type=float, default=200.0)
    ap.add_argument("--samples", nargs="+", type=int, default=[3, 1], help="samples per scale")
    ap.add_argument("--targets", nargs="+", default=["cpp_standalone"], choices=["cpp_standalone", "runtime", "numpy"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", help="also write the table here (TSV)")
    args = ap.parse_args(argv)

    cfg = load_config()
    scales = [float(cfg["network"]["scale"]) if s == "default" else float(s) for s in args.scales]
    samples = (args.samples + [args.samples[-1]] * len(scales))[: len(scales)]
    os.environ.setdefault("SBI_BRIAN2_CACHE", tempfile.mkdtemp(prefix="bench-brian2-"))
    from workflow.simulation.simulators.brian2_sim import standalone

    rows = []
    for scale, n in zip(scales, samples, strict=True):
        net = NetworkParams(scale=scale)
        runs = [("nest", "")] + [("brian2", t) for t in args.targets]
        walls = {r: [] for r in runs}
        rates = {r: [] for r in runs}
        compile_s = {r: float("nan") for r in runs}
        setup_s = {r: 0.0 for r in runs}
        for k in range(n):
            theta, seed = make_theta(), network_seed(int(cfg["campaign"]["seed"]), k)
            for sim, target in runs:
                settings = SimSettings(
                    tstop_ms=args.tstop_ms,
                    dt_ms=float(cfg["simulation"]["dt_ms"]),
                    transient_ms=args.transient_ms,
                    threads=args.threads,
                    abort_rate_hz=abort_rate_hz(cfg["gates"]),
                    brian2_target=target or "cpp_standalone",
                )
                t0 = time.perf_counter()
                res = simulate(theta, net, settings, seed, sim)
                walls[(sim, target)].append(time.perf_counter() - t0)
                rates[(sim, target)].append((res.rates_hz["E"], res.rates_hz["I"]))
                if k == 0 and target == "cpp_standalone":
                    model = next(iter(standalone._STANDALONE.values()))
                    compile_s[(sim, target)] = model.compile_s
                    setup_s[(sim, target)] = model.setup_s
                wall, e, i = walls[(sim, target)][-1], res.rates_hz["E"], res.rates_hz["I"]
                print(
                    f"scale {scale} sample {k} {sim} {target}: {wall:.2f} s, E {e:.2f} I {i:.2f} Hz",
                    flush=True,
                )
        for r in runs:
            w = walls[r]
            build = setup_s[r] + (compile_s[r] if compile_s[r] == compile_s[r] else 0.0)
            steady = statistics.mean(w[1:]) if len(w) > 1 else w[0] - build
            e = statistics.mean(x[0] for x in rates[r])
            i = statistics.mean(x[1] for x in rates[r])
            rows.append((scale, sum(net.N.values()), r[0], r[1] or "-", len(w), w[0], compile_s[r], steady, e, i))

    header = ("scale", "neurons", "simulator", "target", "samples", "first_s", "compile_s", "per_sample_s",
              "rate_E_hz", "rate_I_hz")  # fmt: skip
    lines = ["\t".join(header)]
    for row in rows:
        lines.append("\t".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    print(f"\n{args.tstop_ms:.0f} ms per sample, threads {args.threads}, best-fit parameters")
    print("\n".join(lines))
    nest_steady = {row[0]: row[7] for row in rows if row[2] == "nest"}
    for row in rows:
        if row[2] == "brian2":
            print(f"scale {row[0]}: brian2 {row[3]} per sample = {row[7] / nest_steady[row[0]]:.2f} x NEST")
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
