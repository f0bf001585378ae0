rule aggregate:
    input:
        shards=get_shards,
        draws="results/draws.h5",
    output:
        "results/dataset.h5",
    log:
        "logs/aggregate/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate/aggregate.tsv"
    resources:
        mem_mb=4000,
        runtime=lambda wildcards, attempt: attempt * max(10, len(SHARDS) // 20),
    params:
        config=simulation_config(config),
    script:
        "../scripts/aggregate.py"
