"""Rule crosscheck: compare the NEST and Brian2 runs; per-draw table and figure."""

from workflow.scripting import rule_logging
from workflow.simulation import crosscheck as cc

smk = snakemake  # noqa: F821
log = rule_logging(smk)
p = smk.params
nest, brian2 = cc.read_runs(smk.input.nest), cc.read_runs(smk.input.brian2)
df = cc.compare(nest, brian2, fmin_hz=p.fmin_hz, fmax_hz=p.fmax_hz, rel_tol=p.rel_tol)
df.to_csv(smk.output.csv, index=False, float_format="%.6g")
cc.plot(df, nest, brian2, smk.output.png, fmin_hz=p.fmin_hz, fmax_hz=p.fmax_hz)
log.info(cc.summary_line(df))
