rule draws:
    output:
        "results/draws.h5",
    log:
        "logs/draws/draws.log",
    benchmark:
        "results/benchmarks/draws/draws.tsv"
    resources:
        mem_mb=2000,
        runtime=lambda wildcards, attempt: attempt
        * max(10, config["campaign"]["n_samples"] // 5000),
    params:
        **draws_params(),
    script:
        "../scripts/draws.py"
