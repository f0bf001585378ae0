# SBI of cortical circuit parameters from field potentials (Sandron et al. 2024, at scale).
# Stages: draws -> kernels -> simulate (shards) -> aggregate -> inference (MI, NPE folds, SHAP).
# Local default:  snakemake --cores 2        Cluster:  snakemake --profile profiles/slurm --configfile config/paper.yaml
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "rules/common.smk"


wildcard_constraints:
    shard=r"\d{5}",
    fold=r"\d+",


include: "rules/draws.smk"
include: "rules/kernels.smk"
include: "rules/simulate.smk"
include: "rules/aggregate.smk"
include: "rules/summary.smk"
include: "rules/inference.smk"
include: "rules/crosscheck.smk"
include: "rules/observations.smk"


rule all:
    input:
        get_final_output(),
