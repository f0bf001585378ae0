# Recordings in (config `observations`): per recording, the fold-mixture posterior, the
# misspecification check and the explanation; with `ppc: K`, K simulations of posterior draws
# (one job each, like shards) and the posterior predictive check. Entries are checked in
# rules/common.smk (a bad one fails the dry-run, naming it). Code: workflow/infer/.
rule observations_infer:
    input:
        unpack(get_observation_inputs),
    output:
        posterior="results/observations/{name}/posterior.h5",
        summary=report(
            "results/observations/{name}/summary.csv",
            caption="../workflow/report/observations.rst",
            category="Observations",
            subcategory="{name}",
            labels={"recording": "{name}", "result": "summary table"},
        ),
        pairplot=report(
            "results/observations/{name}/pairplot_{name}.png",
            caption="../workflow/report/observations.rst",
            category="Observations",
            subcategory="{name}",
            labels={"recording": "{name}", "result": "posterior"},
        ),
        explain=[
            report(
                f"results/observations/{{name}}/explain_{{name}}_{target}.png",
                caption="../workflow/report/observations_explain.rst",
                category="Observations",
                subcategory="{name}",
                labels={"recording": "{name}", "result": f"SHAP: {target}"},
            )
            for target in TARGET_NAMES
        ],
    log:
        "logs/observations_infer/{name}.log",
    benchmark:
        "results/benchmarks/observations_infer/{name}.tsv"
    wildcard_constraints:
        name=OBSERVATION_NAME,
    threads: 1
    resources:
        mem_mb=observations_mem_mb,
        runtime=30,
    params:
        observation=get_observation,
        campaign=observations_config(),
    script:
        "../scripts/observations/infer.py"


rule observations_ppc_simulate:
    input:
        posterior="results/observations/{name}/posterior.h5",
        kernels="results/kernels.h5",
    output:
        "results/observations/{name}/ppc/{name}/draw-{draw}.h5",
    log:
        "logs/observations_ppc_simulate/{name}/draw-{draw}.log",
    benchmark:
        "results/benchmarks/observations_ppc_simulate/{name}/draw-{draw}.tsv"
    wildcard_constraints:
        name=OBSERVATION_NAME,
        draw=r"\d+",
    threads: config["simulation"]["threads"]
    resources:
        mem_mb=simulate_mem_mb,
        runtime=ppc_draw_runtime,
    params:
        config=ppc_simulation_config(),
    script:
        "../scripts/observations/ppc_simulate.py"


rule observations_ppc:
    input:
        posterior="results/observations/{name}/posterior.h5",
        data="results/inference/data.h5",
        draws=get_ppc_draws,
    output:
        csv=report(
            "results/observations/{name}/ppc_{name}.csv",
            caption="../workflow/report/observations_ppc.rst",
            category="Observations",
            subcategory="{name}",
            labels={"recording": "{name}", "result": "predictive check (table)"},
        ),
        png=report(
            "results/observations/{name}/ppc_{name}.png",
            caption="../workflow/report/observations_ppc.rst",
            category="Observations",
            subcategory="{name}",
            labels={"recording": "{name}", "result": "predictive check"},
        ),
    log:
        "logs/observations_ppc/{name}.log",
    benchmark:
        "results/benchmarks/observations_ppc/{name}.tsv"
    wildcard_constraints:
        name=OBSERVATION_NAME,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    script:
        "../scripts/observations/ppc.py"
