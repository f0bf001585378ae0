rule kernels:
    output:
        "results/kernels.h5",
    log:
        "logs/kernels/kernels.log",
    benchmark:
        "benchmarks/kernels/kernels.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=15,
    params:
        dt_ms=config["simulation"]["dt_ms"],
        tau_ms=config["kernels"].get("tau_ms", 100.0),
        active=config["kernels"].get("active", False),
        # None: the default rates of workflow.kernels.DEFAULT_NU_X_HZ (best-fit point network)
        nu_E_hz=config["kernels"].get("nu_E_hz"),
        nu_I_hz=config["kernels"].get("nu_I_hz"),
    script:
        "../scripts/compute_kernels.py"
