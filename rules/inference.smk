# Inference half: dataset check -> MI, and per fold NPE training + metrics + SHAP -> merge (with MI).
# Reads get_dataset() (config `dataset`, else results/dataset.h5). Settings: config `inference`.
rule inference_prepare:
    input:
        dataset=get_dataset(),
    output:
        data="results/inference/data.h5",
    log:
        "logs/inference_prepare/prepare.log",
    benchmark:
        "results/benchmarks/inference_prepare/prepare.tsv"
    threads: 1
    resources:
        mem_mb=inference_mem_mb,
        runtime=30,
    params:
        k_folds=INFERENCE["k_folds"],
        seed=INFERENCE_SEED,
    script:
        "../scripts/inference/prepare.py"


rule inference_mi:
    input:
        data="results/inference/data.h5",
    output:
        csv="results/inference/mi.csv",
        png=report(
            "results/inference/mi.png",
            caption="../workflow/report/mi.rst",
            category="Inference",
            subcategory="Mutual information",
        ),
    log:
        "logs/inference_mi/mi.log",
    benchmark:
        "results/benchmarks/inference_mi/mi.tsv"
    threads: 2
    resources:
        mem_mb=inference_mem_mb,
        runtime=60,
    params:
        mi=INFERENCE["mi"],
        seed=INFERENCE_SEED,
    script:
        "../scripts/inference/mi.py"


rule inference_train:
    input:
        data="results/inference/data.h5",
    output:
        pt="results/folds/fold-{fold}/model.pt",
        json="results/folds/fold-{fold}/model.json",
        metrics="results/folds/fold-{fold}/metrics.json",
        pairplot=report(
            "results/folds/fold-{fold}/pairplot.png",
            caption="../workflow/report/pairplot.rst",
            category="Inference",
            subcategory="NPE posteriors",
        ),
    log:
        "logs/inference_train/fold-{fold}.log",
    benchmark:
        "results/benchmarks/inference_train/fold-{fold}.tsv"
    threads: 1
    resources:
        mem_mb=inference_mem_mb,
        runtime=train_runtime,
    params:
        **target_prior_params(),
        **train_subsample_params(),
        npe=INFERENCE["npe"],
        metrics=INFERENCE["metrics"],
        log_targets=INFERENCE["log_targets"],
        seed=INFERENCE_SEED,
    script:
        "../scripts/inference/train_fold.py"


rule inference_shap:
    input:
        data="results/inference/data.h5",
        pt="results/folds/fold-{fold}/model.pt",
        json="results/folds/fold-{fold}/model.json",
    output:
        h5="results/folds/fold-{fold}/shap.h5",
    log:
        "logs/inference_shap/fold-{fold}.log",
    benchmark:
        "results/benchmarks/inference_shap/fold-{fold}.tsv"
    threads: 1
    resources:
        mem_mb=inference_mem_mb,
        runtime=shap_runtime,
    params:
        shap=INFERENCE["shap"],
        seed=INFERENCE_SEED,
    script:
        "../scripts/inference/shap_fold.py"


rule inference_merge_shap:
    input:
        h5=get_fold_shap,
        mi="results/inference/mi.csv",
    output:
        table=report(
            "results/shap/importance.csv",
            caption=shap_caption("importance"),
            category="Inference",
            subcategory="SHAP",
        ),
        agreement=report(
            "results/shap/agreement.csv",
            caption=shap_caption("agreement"),
            category="Inference",
            subcategory="SHAP",
        ),
        convergence=report(
            "results/shap/convergence.csv",
            caption=shap_caption("convergence"),
            category="Inference",
            subcategory="SHAP",
        ),
        verdicts="results/shap/verdicts.csv",
        mi_agreement=report(
            "results/shap/mi_agreement.csv",
            caption=shap_caption("mi_agreement"),
            category="Inference",
            subcategory="MI and SHAP",
        ),
        mi_png=report(
            "results/shap/mi_agreement.png",
            caption=shap_caption("mi_agreement"),
            category="Inference",
            subcategory="MI and SHAP",
        ),
        detail="results/shap/merge.json",
        figures=[
            report(
                f"results/shap/{target}.png",
                caption=shap_caption(f"bars_{target}"),
                category="Inference",
                subcategory="SHAP",
                labels={"target": target},
            )
            for target in CAMPAIGN_TARGETS
        ],
        captions=expand("results/shap/captions/{name}.rst", name=SHAP_CAPTIONS),
    log:
        "logs/inference_merge_shap/merge.log",
    benchmark:
        "results/benchmarks/inference_merge_shap/merge.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    script:
        "../scripts/inference/merge_shap.py"


rule inference_metrics:
    input:
        metrics=get_fold_metrics,
    output:
        csv=report(
            "results/inference/metrics.csv",
            caption="../workflow/report/metrics_table.rst",
            category="Inference",
            subcategory="NPE test metrics",
        ),
        png=report(
            "results/inference/metrics.png",
            caption="../workflow/report/metrics.rst",
            category="Inference",
            subcategory="NPE test metrics",
        ),
        sbc=report(
            "results/inference/sbc.png",
            caption="../workflow/report/sbc.rst",
            category="Inference",
            subcategory="NPE test metrics",
        ),
        tarp=report(
            "results/inference/tarp.png",
            caption="../workflow/report/tarp.rst",
            category="Inference",
            subcategory="NPE test metrics",
        ),
    log:
        "logs/inference_metrics/metrics.log",
    benchmark:
        "results/benchmarks/inference_metrics/metrics.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    script:
        "../scripts/inference/metrics_table.py"
