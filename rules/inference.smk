# Inference half: dataset check -> MI, and per fold NPE training + metrics + SHAP -> merge.
# Reads get_dataset() (config `dataset`, else results/dataset.h5). Settings: config `inference`.
from workflow.contract import TARGET_NAMES

INFERENCE = config.get("inference", {})
FOLDS = list(range(INFERENCE.get("k_folds", 10)))


def inference_seed():
    """Root seed of the inference half: `inference.seed`, else `campaign.seed`."""
    seed = INFERENCE.get("seed")
    return config["campaign"]["seed"] if seed is None else seed


def inference_outputs():
    """Final files of the inference half (called by get_final_output() in common.smk)."""
    return [
        "results/inference/mi.csv",
        "results/inference/mi.png",
        "results/inference/metrics.csv",
        "results/inference/metrics.png",
        "results/shap/importance.csv",
        "results/shap/agreement.csv",
        "results/shap/convergence.csv",
        *expand("results/shap/{target}.png", target=TARGET_NAMES),
    ]


def get_fold_metrics(wildcards):
    return expand("results/folds/fold-{fold}/metrics.json", fold=FOLDS)


def get_fold_shap(wildcards):
    return expand("results/folds/fold-{fold}/shap.h5", fold=FOLDS)


def inference_mem_mb(wildcards, input, attempt):
    """Memory of a job that loads the prepared rows: 1.5 GB plus 6x the file, per attempt."""
    return attempt * int(1500 + 6 * input.size_mb)


def train_runtime(wildcards, input, attempt):
    """Minutes for one fold's training and metrics: 20 plus 6 per MB of prepared data."""
    return attempt * int(20 + 6 * input.size_mb)


def shap_runtime(wildcards, attempt):
    """Minutes for one fold's SHAP, from its cost in flow samples at a pessimistic 20k/s."""
    s = INFERENCE.get("shap", {})
    n_feat = 22
    per_row = (
        s.get("n_permutations", 2)
        * (2 * n_feat + 1)
        * s.get("n_background", 32)
        * s.get("n_draws", 128)
    )
    rows = s.get("n_rows", 500) + 8 * s.get("convergence_rows", 10)
    return attempt * int(15 + rows * per_row / 20_000 / 60)


rule inference_prepare:
    input:
        dataset=get_dataset(),
    output:
        data="results/inference/data.h5",
    log:
        "logs/inference_prepare/prepare.log",
    benchmark:
        "benchmarks/inference_prepare/prepare.tsv"
    threads: 1
    resources:
        mem_mb=inference_mem_mb,
        runtime=30,
    params:
        k_folds=INFERENCE.get("k_folds", 10),
        seed=inference_seed(),
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
        "benchmarks/inference_mi/mi.tsv"
    threads: 2
    resources:
        mem_mb=inference_mem_mb,
        runtime=60,
    params:
        mi=INFERENCE.get("mi", {"max_rows": 100000, "n_neighbors": 3}),
        seed=inference_seed(),
    script:
        "../scripts/inference/mi.py"


rule inference_train:
    input:
        data="results/inference/data.h5",
    output:
        pt="results/folds/fold-{fold}/model.pt",
        json="results/folds/fold-{fold}/model.json",
        metrics="results/folds/fold-{fold}/metrics.json",
    log:
        "logs/inference_train/fold-{fold}.log",
    benchmark:
        "benchmarks/inference_train/fold-{fold}.tsv"
    threads: 1
    resources:
        mem_mb=inference_mem_mb,
        runtime=train_runtime,
    params:
        npe=INFERENCE.get("npe", {}),
        metrics=INFERENCE.get(
            "metrics", {"n_posterior_samples": 1000, "max_rows": 2000}
        ),
        prior=config.get("prior"),
        seed=inference_seed(),
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
        "benchmarks/inference_shap/fold-{fold}.tsv"
    threads: 1
    resources:
        mem_mb=inference_mem_mb,
        runtime=shap_runtime,
    params:
        shap=INFERENCE.get("shap", {}),
        seed=inference_seed(),
    script:
        "../scripts/inference/shap_fold.py"


rule inference_merge_shap:
    input:
        h5=get_fold_shap,
    output:
        table=report(
            "results/shap/importance.csv",
            caption="../workflow/report/shap_table.rst",
            category="Inference",
            subcategory="SHAP",
        ),
        agreement=report(
            "results/shap/agreement.csv",
            caption="../workflow/report/shap_agreement.rst",
            category="Inference",
            subcategory="SHAP",
        ),
        convergence=report(
            "results/shap/convergence.csv",
            caption="../workflow/report/shap_convergence.rst",
            category="Inference",
            subcategory="SHAP",
        ),
        detail="results/shap/merge.json",
        figures=[
            report(
                f"results/shap/{target}.png",
                caption="../workflow/report/shap_bars.rst",
                category="Inference",
                subcategory="SHAP",
                labels={"target": target},
            )
            for target in TARGET_NAMES
        ],
    log:
        "logs/inference_merge_shap/merge.log",
    benchmark:
        "benchmarks/inference_merge_shap/merge.tsv"
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
    log:
        "logs/inference_metrics/metrics.log",
    benchmark:
        "benchmarks/inference_metrics/metrics.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    script:
        "../scripts/inference/metrics_table.py"
