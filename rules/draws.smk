rule draws:
    output:
        "results/draws.h5",
    log:
        "logs/draws/draws.log",
    benchmark:
        "benchmarks/draws/draws.tsv"
    resources:
        mem_mb=2000,
        runtime=lambda wildcards, attempt: attempt
        * max(10, config["campaign"]["n_samples"] // 5000),
    params:
        campaign=config["campaign"],
        prior=config["prior"],
    script:
        "../scripts/draws.py"
