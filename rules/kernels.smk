rule kernels:
    output:
        "results/kernels.h5",
    log:
        "logs/kernels/kernels.log",
    benchmark:
        "results/benchmarks/kernels/kernels.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=15,
    params:
        config={
            "simulation": {"dt_ms": config["simulation"]["dt_ms"]},
            "kernels": config["kernels"],
        },
    script:
        "../scripts/compute_kernels.py"
