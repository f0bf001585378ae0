# Cross-simulator check (workflow/crosscheck.py): the first n_draws prior draws of the campaign,
# n_seeds networks each, in NEST and in Brian2; one job per simulator, then the comparison.
# Keys: the `crosscheck:` block (workflow/schemas/crosscheck.schema.fragment.yaml); its defaults
# (workflow.crosscheck.DEFAULTS) apply until the fragment is merged into the config schema.
from workflow.crosscheck import runtime_min, settings_from_config

CROSSCHECK = settings_from_config(config)
CROSSCHECK_RUNTIME = {sim: runtime_min(config, sim) for sim in ("nest", "brian2")}
CROSSCHECK_OUTPUTS = (
    ["results/crosscheck/crosscheck.csv", "results/crosscheck/crosscheck.png"]
    if CROSSCHECK["enabled"]
    else []
)
# the hook that get_final_output() (rules/common.smk) calls for `rule all`
crosscheck_outputs = CROSSCHECK_OUTPUTS.copy


rule crosscheck_runs:
    input:
        kernels="results/kernels.h5",
    output:
        "results/crosscheck/runs-{simulator}.h5",
    log:
        "logs/crosscheck/runs-{simulator}.log",
    benchmark:
        "benchmarks/crosscheck/runs-{simulator}.tsv"
    wildcard_constraints:
        simulator="nest|brian2",
    threads: 1
    resources:
        mem_mb=3000,
        runtime=lambda wildcards, attempt: attempt
        * CROSSCHECK_RUNTIME[wildcards.simulator],
    params:
        n_draws=CROSSCHECK["n_draws"],
        n_seeds=CROSSCHECK["n_seeds"],
        nperseg=CROSSCHECK["nperseg"],
        scale=CROSSCHECK["scale"],
        tstop_ms=CROSSCHECK["tstop_ms"],
        transient_ms=config["simulation"]["transient_ms"],
        dt_ms=config["simulation"]["dt_ms"],
        threads=1,
        max_rate_hz=config["simulation"]["max_rate_hz"],
        brian2_target=config["simulation"].get("brian2_target", "cpp_standalone"),
        decimate=config["lfp"]["decimate"],
        seed=config["campaign"]["seed"],
        prior=config["prior"],
        provenance={
            "crosscheck": CROSSCHECK,
            "prior": config["prior"],
            "simulation": config["simulation"],
            "lfp": config["lfp"],
            "kernels": config["kernels"],
        },
    script:
        "../scripts/crosscheck.py"


rule crosscheck:
    input:
        nest="results/crosscheck/runs-nest.h5",
        brian2="results/crosscheck/runs-brian2.h5",
    output:
        csv=report(
            "results/crosscheck/crosscheck.csv",
            caption="../workflow/report/crosscheck.rst",
            category="Cross-simulator check",
        ),
        png=report(
            "results/crosscheck/crosscheck.png",
            caption="../workflow/report/crosscheck.rst",
            category="Cross-simulator check",
        ),
    log:
        "logs/crosscheck/crosscheck.log",
    benchmark:
        "benchmarks/crosscheck/crosscheck.tsv"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        fmin_hz=CROSSCHECK["fmin_hz"],
        fmax_hz=CROSSCHECK["fmax_hz"],
        rel_tol=CROSSCHECK["rel_tol"],
    script:
        "../scripts/crosscheck.py"
