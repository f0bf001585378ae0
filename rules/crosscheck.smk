# Cross-simulator check (workflow/simulation/crosscheck/): the first n_draws prior draws of the
# campaign, n_seeds networks each, in NEST and in Brian2; one job per simulator, then the comparison.
# Keys: the `crosscheck:` section of workflow/schemas/config.schema.yaml.
rule crosscheck_runs:
    input:
        kernels="results/kernels.h5",
    output:
        "results/crosscheck/runs-{simulator}.h5",
    log:
        "logs/crosscheck/runs-{simulator}.log",
    benchmark:
        "results/benchmarks/crosscheck/runs-{simulator}.tsv"
    wildcard_constraints:
        simulator="nest|brian2",
    threads: 1
    resources:
        mem_mb=3000,
        runtime=crosscheck_runtime,
    params:
        # exactly what decides the runs: also the file's provenance
        config=CROSSCHECK_RUNS,
    script:
        "../scripts/crosscheck_runs.py"


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
        "results/benchmarks/crosscheck/crosscheck.tsv"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        fmin_hz=config["crosscheck"]["fmin_hz"],
        fmax_hz=config["crosscheck"]["fmax_hz"],
        rel_tol=config["crosscheck"]["rel_tol"],
    script:
        "../scripts/crosscheck_compare.py"
