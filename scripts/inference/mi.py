"""Rule inference_mi: mutual information between every feature and every target."""

from workflow.inference.dataset import read_prepared
from workflow.inference.mi import mutual_information
from workflow.inference.plots import plot_mi_heatmap
from workflow.scripting import rule_logging

smk = snakemake  # noqa: F821
log = rule_logging(smk)
data, _ = read_prepared(smk.input.data)
cfg = smk.params.mi
mi = mutual_information(
    data.features,
    data.targets,
    list(data.feature_names),
    list(data.target_names),
    seed=smk.params.seed,
    max_rows=cfg["max_rows"],
    n_neighbors=cfg["n_neighbors"],
    n_jobs=smk.threads,
)
mi.to_csv(smk.output.csv, float_format="%.6g")
plot_mi_heatmap(mi, smk.output.png)
log.info("MI on %d rows written", mi.attrs["n_rows"])
