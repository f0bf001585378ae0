rule simulate:
    input:
        unpack(get_simulate_input),
    output:
        "results/shards/shard-{shard}.h5",
    log:
        "logs/simulate/shard-{shard}.log",
    benchmark:
        "results/benchmarks/simulate/shard-{shard}.tsv"
    threads: simulate_threads()
    resources:
        **simulate_mpi_resources(),
        mem_mb=simulate_mem_mb,
        runtime=simulate_runtime,
    params:
        args=simulate_args,
        launcher=simulate_launcher,
        mpi_flag=simulate_mpi_flag,
        python=PYTHON,
    shell:
        "{params.launcher} {params.python} -m workflow shard --shard {wildcards.shard} --kernels {input.kernels}"
        " --out {output} {params.mpi_flag} {params.args} > {log} 2>&1"
