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


rule kernel_sensitivity:
    input:
        kernels="results/kernels.h5",
    output:
        shifts=report(
            "results/kernels/sensitivity.csv",
            caption="../workflow/report/kernel_sensitivity.rst",
            category="Kernels",
        ),
        amplitudes=report(
            "results/kernels/amplitudes.csv",
            caption="../workflow/report/kernel_sensitivity.rst",
            category="Kernels",
        ),
        png=report(
            "results/kernels/sensitivity.png",
            caption="../workflow/report/kernel_sensitivity.rst",
            category="Kernels",
        ),
    log:
        "logs/kernels/sensitivity.log",
    benchmark:
        "results/benchmarks/kernels/sensitivity.tsv"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        config=kernel_sensitivity_config(),
    script:
        "../scripts/kernel_sensitivity.py"
