rule simulate:
    input:
        kernels="results/kernels.h5",
    output:
        "results/shards/shard-{shard}.h5",
    log:
        "logs/simulate/shard-{shard}.log",
    benchmark:
        "benchmarks/simulate/shard-{shard}.tsv"
    params:
        args=simulate_args,
        launcher=simulate_launcher,
        mpi_flag=simulate_mpi_flag,
    threads: config["simulation"]["threads"]
    resources:
        mem_mb=simulate_mem_mb,
        runtime=simulate_runtime,
        **simulate_mpi_resources(),
    shell:
        "{params.launcher} {PYTHON} -m workflow shard --shard {wildcards.shard} --kernels {input.kernels}"
        " --out {output} {params.mpi_flag} {params.args} > {log} 2>&1"
