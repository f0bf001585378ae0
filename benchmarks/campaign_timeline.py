"""Wall time, CPU time and peak memory of every stage of a finished campaign, from its files.

Reads Snakemake's per-job benchmark files (``results/benchmarks/<rule>/*.tsv``: wall seconds,
max RSS, CPU seconds), dates each job by its file's modification time (written when the job
ends) minus its wall time, and prints one row per rule: jobs, the stage's span (first job start
to last job end, wall clock), the sum of its jobs' wall and CPU seconds, the largest job's peak
RSS and the mean load over the span (CPU seconds / span). With ``--memory-log`` (lines
``<unix time> <used MB>``, e.g. sampled every 5 s with ``free -m``) it also prints the machine's
peak used memory during the run.

Usage: python benchmarks/campaign_timeline.py --results <campaign>/results [--memory-log F]
       [--start UNIX --end UNIX] [--csv stages.csv]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def read_jobs(results: Path) -> dict[str, list[dict]]:
    """rule -> one dict per job: start, end (unix s), wall_s, cpu_s, max_rss_mb."""
    out: dict[str, list[dict]] = {}
    for tsv in sorted((results / "benchmarks").glob("*/*.tsv")):
        lines = tsv.read_text().splitlines()
        head, last = lines[0].split("\t"), lines[-1].split("\t")
        row = dict(zip(head, last, strict=True))
        wall = float(row["s"])
        end = tsv.stat().st_mtime
        out.setdefault(tsv.parent.name, []).append(
            {
                "start": end - wall,
                "end": end,
                "wall_s": wall,
                "cpu_s": float(row["cpu_time"]) if row["cpu_time"] not in ("", "-", "NA") else 0.0,
                "max_rss_mb": float(row["max_rss"]) if row["max_rss"] not in ("", "-", "NA") else 0.0,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True, type=Path)
    parser.add_argument("--memory-log", type=Path)
    parser.add_argument("--start", type=float, help="unix time the run started (default: first job start)")
    parser.add_argument("--end", type=float, help="unix time the run ended (default: last job end)")
    parser.add_argument("--csv", type=Path)
    args = parser.parse_args()

    jobs = read_jobs(args.results)
    t0 = args.start if args.start is not None else min(j["start"] for js in jobs.values() for j in js)
    t1 = args.end if args.end is not None else max(j["end"] for js in jobs.values() for j in js)
    rows = []
    for rule, js in sorted(jobs.items(), key=lambda kv: min(j["start"] for j in kv[1])):
        start, end = min(j["start"] for j in js), max(j["end"] for j in js)
        cpu = sum(j["cpu_s"] for j in js)
        rows.append(
            {
                "rule": rule,
                "jobs": len(js),
                "from_min": round((start - t0) / 60, 1),
                "to_min": round((end - t0) / 60, 1),
                "span_min": round((end - start) / 60, 1),
                "job_wall_sum_min": round(sum(j["wall_s"] for j in js) / 60, 1),
                "job_cpu_sum_min": round(cpu / 60, 1),
                "largest_job_wall_s": round(max(j["wall_s"] for j in js), 1),
                "peak_job_rss_mb": round(max(j["max_rss_mb"] for j in js)),
                "mean_load": round(cpu / max(end - start, 1e-9), 2),
            }
        )
    print(f"run: {(t1 - t0) / 60:.1f} min wall")
    cols = list(rows[0])
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols))
    if args.memory_log:
        samples = [line.split() for line in args.memory_log.read_text().splitlines() if line.strip()]
        used = [(float(t), float(m)) for t, m in samples if t0 <= float(t) <= t1]
        if used:
            t_peak, peak = max(used, key=lambda x: x[1])
            base = used[0][1]
            print(
                f"machine used memory: peak {peak:.0f} MB at minute {(t_peak - t0) / 60:.1f} "
                f"(at the start {base:.0f} MB; {len(used)} samples)"
            )
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=cols)
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
