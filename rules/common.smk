# Config validation and every input function of the workflow (wildcard constraints: Snakefile).
import json
import shlex
import sys
from pathlib import Path

from workflow.config import (
    ConfigError,
    n_shards,
    shard_config,
    simulation_config,
    validate_config,
)
from workflow.contract import FEATURE_NAMES, HAGEN_MODEL, TARGET_NAMES
from workflow.inference.explain import shap_cost_evaluations
from workflow.simulation.crosscheck import crosscheck_config, runtime_min
from workflow.simulation.gates import early_stop_config
from workflow.simulation.model_shard import campaign_model, model_settings
from workflow.simulation.cost import (
    campaign_core_hours,
    model_campaign_core_hours,
    model_shard_mem_mb,
    model_shard_runtime_min,
    shard_mem_mb,
    shard_runtime_min,
)

# One validation path for Snakemake and `python -m workflow`: --config strings become the
# schema's types, defaults are filled in from the schema, and a bad or unknown key is named.
try:
    validate_config(config)
except ConfigError as exc:
    raise WorkflowError(str(exc))


#: the interpreter running Snakemake; shell rules use it so jobs see the same environment
PYTHON = shlex.quote(sys.executable)

SHARDS = [f"{i:05d}" for i in range(n_shards(config))]
SIMULATE_DATASET = config["dataset"] is None

#: the campaign's simulator: the Hagen et al. 2022 network (kernels, gates, cross-check), or a
#: registered model of workflow.models (draws -> simulate -> aggregate -> inference only)
HAGEN = config["model"] == HAGEN_MODEL
MODEL = campaign_model(config)  # None for hagen2022
#: the model's settings (its defaults overridden by `model_settings`), and its shard size
MODEL_SETTINGS = None if HAGEN else model_settings(MODEL, config["model_settings"])
MODEL_SHARD_N = min(config["campaign"]["shard_size"], config["campaign"]["n_samples"])
#: a model shard's requests on the first attempt (workflow/simulation/cost.py, from Model.cost)
MODEL_SHARD_MEM_REQUEST_MB = None if HAGEN else model_shard_mem_mb(MODEL, MODEL_SETTINGS, MODEL_SHARD_N)
MODEL_SHARD_RUNTIME_REQUEST_MIN = None if HAGEN else model_shard_runtime_min(MODEL, MODEL_SETTINGS, MODEL_SHARD_N)


def dataset_column_names(key):
    """The `names` of a dataset's column `key` when the config's `dataset` is a file holding it."""
    import h5py

    path = config["dataset"]
    if path is None or not Path(path).is_file():
        return None
    with h5py.File(path, "r") as fh:
        if key not in fh or "names" not in fh[key].attrs:
            return None
        return [
            n.decode() if isinstance(n, bytes) else str(n)
            for n in fh[key].attrs["names"]
        ]


#: the inference targets and features: a bank's own (named in the file), the model's, or the
#: Hagen network's (workflow/contract.py)
CAMPAIGN_TARGETS = dataset_column_names("targets") or (
    TARGET_NAMES if HAGEN else MODEL.target_names
)
CAMPAIGN_FEATURES = dataset_column_names("features") or (
    FEATURE_NAMES if HAGEN else MODEL.feature_names
)

if SIMULATE_DATASET and not HAGEN:
    _hours = model_campaign_core_hours(
        MODEL, MODEL_SETTINGS, config["campaign"]["n_samples"], MODEL_SHARD_N
    )
    logger.info(
        f"campaign: model {MODEL.name} ({MODEL.description}); "
        f"{config['campaign']['n_samples']} samples in {len(SHARDS)} shards; "
        + (
            "no cost model (Model.cost)"
            if _hours is None
            else f"estimated simulation cost {_hours:.3g} core-hours (the model's Model.cost)"
        )
        + f"; each shard requests {MODEL_SHARD_MEM_REQUEST_MB} MB and {MODEL_SHARD_RUNTIME_REQUEST_MIN} min"
    )
elif SIMULATE_DATASET:
    logger.info(
        f"campaign: {config['campaign']['n_samples']} samples in {len(SHARDS)} shards; "
        f"estimated simulation cost {campaign_core_hours(config):,.1f} core-hours "
        "(workflow/simulation/cost.py, from measured per-sample figures)"
    )


def get_dataset():
    """The dataset the inference half reads: the user's own (config `dataset`) or the simulated one."""
    return config["dataset"] or "results/dataset.h5"


def get_shards(wildcards):
    return expand("results/shards/shard-{shard}.h5", shard=SHARDS)


def shard_range(wildcards):
    """First and one-past-last sample id of a shard."""
    size, n = config["campaign"]["shard_size"], config["campaign"]["n_samples"]
    first = int(wildcards.shard) * size
    return first, min(first + size, n)


def simulate_args(wildcards):
    """Command-line arguments of `python -m workflow shard` for one shard.

    The config passed is the part that determines a shard (:func:`workflow.config.shard_config`,
    without n_samples, so that growing the campaign does not rerun finished shards); the job
    validates it again.
    """
    first, stop = shard_range(wildcards)
    cfg = json.dumps(shard_config(config), sort_keys=True)
    return f"--first {first} --stop {stop} --config-json {shlex.quote(cfg)}"


def default_mpiexec():
    """The MPI launcher of a workstation: the mpiexec next to this Python (the mpich wheel mpi4py
    is built against), since a bare `mpiexec` may be missing from PATH or belong to another MPI.
    A cluster profile sets the `mpi` resource to `srun` instead."""
    venv_mpiexec = Path(sys.executable).parent / "mpiexec"
    return shlex.quote(str(venv_mpiexec)) if venv_mpiexec.exists() else "mpiexec"


def simulate_ranks():
    """MPI ranks of a simulate job: `simulation.mpi_ranks` for the Hagen network; a registered
    model's shard is one vectorised batch (1)."""
    return config["simulation"]["mpi_ranks"] if HAGEN else 1


def simulate_mpi_resources():
    """The `mpi` and `tasks` resources, only for a task farm (simulation.mpi_ranks > 1).

    A serial shard declares neither: the SLURM executor refuses an `mpi` job with one task, and
    its job step would treat every array task as the array's first job.
    """
    ranks = simulate_ranks()
    return {"mpi": default_mpiexec(), "tasks": ranks} if ranks > 1 else {}


def simulate_launcher(wildcards, resources):
    """Empty for a serial shard; `mpiexec -n N` / `srun -n N` for the mpi4py task farm."""
    if simulate_ranks() > 1:
        return f"{resources.mpi} -n {resources.tasks}"
    return ""


def simulate_mpi_flag(wildcards):
    """`--mpi --ranks N` for the task farm: the job checks it really got N ranks."""
    n = simulate_ranks()
    return f"--mpi --ranks {n}" if n > 1 else ""


def get_simulate_input(wildcards):
    """The LFP kernels for the Hagen network; none for a registered model (`--kernels` is then
    given no file, which `python -m workflow shard` accepts for a model)."""
    return {"kernels": "results/kernels.h5" if HAGEN else []}


def simulate_threads():
    """The Hagen network's `simulation.threads`; a registered model's shard is one process."""
    return config["simulation"]["threads"] if HAGEN else 1


def draws_params():
    """What decides the draws: the campaign's size and seed, and the prior (the config's for the
    Hagen network; a registered model's is its code, named by the model and its module).
    """
    out = {"campaign": {k: config["campaign"][k] for k in ("n_samples", "seed")}}
    if HAGEN:
        return out | {"prior": config["prior"]}
    return out | {"model": config["model"], "model_module": config["model_module"]}


def target_prior_params():
    """What decides the targets' prior (workflow/inference/targetprior.py target_prior_from_params):
    the config's `prior` for the Hagen network, the model (and its module) otherwise; and the
    logit-scale targets when there are any (absent when empty, so that a campaign made before the
    key existed is not retrained)."""
    out = {"prior": config["prior"]} if HAGEN else {
        "model": config["model"],
        "model_module": config["model_module"],
    }
    if INFERENCE["logit_targets"]:
        out["logit_targets"] = INFERENCE["logit_targets"]
    return out


def train_subsample_params():
    """The training subsample of rule inference_train, when inference.max_train_rows is set
    (absent otherwise, so that a campaign made before the key existed is not retrained)."""
    rows = INFERENCE["max_train_rows"]
    return {} if rows is None else {"max_train_rows": int(rows)}


#: a Hagen shard's runtime request is capped at 48 h, the MaxTime of most SLURM partitions
#: (sbatch refuses a longer request; profiles/slurm/config.yaml): config/paper.yaml's shards
#: would otherwise ask for ~110 h
SIMULATE_MAX_RUNTIME_MIN = 2880


def simulate_runtime(wildcards, attempt):
    if not HAGEN:
        return attempt * MODEL_SHARD_RUNTIME_REQUEST_MIN
    cores = config["simulation"]["threads"] * config["simulation"]["mpi_ranks"]
    return min(attempt * shard_runtime_min(config, cores), SIMULATE_MAX_RUNTIME_MIN)


def simulate_mem_mb(wildcards, attempt):
    if not HAGEN:
        return attempt * MODEL_SHARD_MEM_REQUEST_MB
    return attempt * shard_mem_mb(config) * config["simulation"]["mpi_ranks"]


def kernel_sensitivity_config():
    """What decides the kernel-sensitivity check: the campaign's sample settings and kernels."""
    sections = ("simulation", "network", "kernels", "lfp", "kernel_sensitivity")
    out = {k: config[k] for k in sections}
    out["campaign"] = {"seed": config["campaign"]["seed"]}
    out["gates"] = early_stop_config(
        config["gates"]
    )  # runs are not gated, only (not) stopped
    return out


def get_final_output():
    """Everything the target `all` builds: the dataset and whatever the other stages add."""
    out = []
    if SIMULATE_DATASET:
        out += ["results/draws.h5", "results/dataset.h5"]
    if SIMULATE_DATASET and HAGEN:
        out += ["results/aggregate/summary.png"]
    if SIMULATE_DATASET and HAGEN and config["kernel_sensitivity"]["enabled"]:
        out += [
            "results/kernels/sensitivity.csv",
            "results/kernels/amplitudes.csv",
            "results/kernels/sensitivity.png",
        ]
    return out + inference_outputs() + crosscheck_outputs() + observations_outputs()


# -- inference half (rules/inference.smk) --------------------------------------------------

INFERENCE = config["inference"]
FOLDS = list(range(INFERENCE["k_folds"]))
#: root seed of the inference half: `inference.seed`, else `campaign.seed`
INFERENCE_SEED = (
    config["campaign"]["seed"] if INFERENCE["seed"] is None else INFERENCE["seed"]
)


#: Captions the SHAP merge writes with its results (workflow/inference/captions.py), so that they
#: can say whether the rankings converged. Absolute: Snakemake resolves a caption against the
#: rules' folder, and these live in the working directory.
SHAP_CAPTION_DIR = str(Path("results/shap/captions").resolve())
SHAP_CAPTIONS = [
    "importance",
    "agreement",
    "convergence",
    "mi_agreement",
    *(f"bars_{target}" for target in CAMPAIGN_TARGETS),
]


def shap_caption(name):
    """The caption file of one SHAP result, written by inference_merge_shap."""
    return f"{SHAP_CAPTION_DIR}/{name}.rst"


def inference_outputs():
    """Final files of the inference half (called by get_final_output() in common.smk)."""
    return [
        "results/inference/mi.csv",
        "results/inference/mi.png",
        "results/inference/metrics.csv",
        "results/inference/metrics.png",
        "results/inference/sbc.png",
        "results/inference/tarp.png",
        *expand("results/folds/fold-{fold}/pairplot.png", fold=FOLDS),
        "results/shap/importance.csv",
        "results/shap/agreement.csv",
        "results/shap/convergence.csv",
        "results/shap/verdicts.csv",
        "results/shap/mi_agreement.csv",
        "results/shap/mi_agreement.png",
        *expand("results/shap/{target}.png", target=CAMPAIGN_TARGETS),
    ]


def get_fold_metrics(wildcards):
    return expand("results/folds/fold-{fold}/metrics.json", fold=FOLDS)


def get_fold_shap(wildcards):
    return expand("results/folds/fold-{fold}/shap.h5", fold=FOLDS)


def inference_mem_mb(wildcards, input, attempt):
    """Memory of a job that loads the prepared rows: 1.5 GB plus 6x the file, per attempt."""
    return attempt * int(1500 + 6 * input.size_mb)


def train_runtime(wildcards, input, attempt):
    """Minutes for one fold's training and metrics: 20 plus 6 per MB of prepared data, the data
    scaled down to the training subsample when inference.max_train_rows is set."""
    size_mb = input.size_mb
    rows = INFERENCE["max_train_rows"]
    if rows is not None:
        size_mb *= min(1.0, int(rows) / max(1, int(config["campaign"]["n_samples"])))
    return attempt * int(20 + 6 * size_mb)


def shap_runtime(wildcards, attempt):
    """Minutes for one fold's SHAP, from its cost in flow evaluations at a pessimistic 20k/s."""
    evaluations = shap_cost_evaluations(INFERENCE["shap"], len(CAMPAIGN_FEATURES))
    return attempt * int(15 + evaluations / 20_000 / 60)


# -- cross-simulator check (rules/crosscheck.smk) ----------------------------------------

CROSSCHECK_RUNS = crosscheck_config(config)
CROSSCHECK_RUNTIME = {sim: runtime_min(config, sim) for sim in ("nest", "brian2")}


def crosscheck_outputs():
    """Final files of the cross-check (called by get_final_output() in common.smk)."""
    if not (HAGEN and config["crosscheck"]["enabled"]):
        return []
    return ["results/crosscheck/crosscheck.csv", "results/crosscheck/crosscheck.png"]


def crosscheck_runtime(wildcards, attempt):
    return attempt * CROSSCHECK_RUNTIME[wildcards.simulator]


# -- recordings in (rules/observations.smk) -------------------------------------------------

from workflow.infer.observations import NAME as _OBSERVATION_NAME
from workflow.infer.observations import ObservationError, observation_entries
from workflow.simulation.cost import sample_core_seconds

#: every `observations` entry by name, each checked (a bad one stops the dry-run, naming it)
try:
    OBSERVATIONS = observation_entries(config)
except ObservationError as exc:
    raise WorkflowError(str(exc))

#: wildcard constraint of a recording's name (the schema's pattern)
OBSERVATION_NAME = _OBSERVATION_NAME.pattern.strip("^$")


def observations_outputs():
    """Final files of the observations stage (called by get_final_output() in common.smk)."""
    out = []
    for name, entry in OBSERVATIONS.items():
        d = f"results/observations/{name}"
        out += [f"{d}/posterior.h5", f"{d}/summary.csv", f"{d}/pairplot_{name}.png"]
        out += [f"{d}/explain_{name}_{target}.png" for target in TARGET_NAMES]
        if entry["ppc"]:
            out += [f"{d}/ppc_{name}.csv", f"{d}/ppc_{name}.png"]
    return out


def get_observation(wildcards):
    """The checked `observations` entry of a recording (what decides its results)."""
    return OBSERVATIONS[wildcards.name]


def get_observation_inputs(wildcards):
    """The recording, the campaign's fold models and its prepared training rows."""
    return {
        "trace": OBSERVATIONS[wildcards.name]["path"],
        "models": expand(
            "results/folds/fold-{fold}/model.{ext}", fold=FOLDS, ext=("pt", "json")
        ),
        "data": "results/inference/data.h5",
    }


def observations_config():
    """What decides a recording's inference besides its entry and the models: the campaign's
    trace timing, its prior and the explanation's settings (workflow/infer/campaign.py).
    """
    sim = config["simulation"]
    return {
        "simulation": {k: sim[k] for k in ("dt_ms", "tstop_ms", "transient_ms")},
        "lfp": {"decimate": config["lfp"]["decimate"]},
        "prior": config["prior"],
        "inference": {"shap": INFERENCE["shap"]},
    }


def ppc_simulation_config():
    """What decides a predictive-check simulation besides its parameter set (in posterior.h5):
    the sample settings of the campaign, not its size, seed or prior."""
    sections = ("simulation", "network", "kernels", "lfp", "gates")
    return {k: v for k, v in shard_config(config).items() if k in sections}


def get_ppc_draws(wildcards):
    """The one-row shards of a recording's predictive-check draws."""
    k = OBSERVATIONS[wildcards.name]["ppc"]
    return expand(
        "results/observations/{name}/ppc/{name}/draw-{draw}.h5",
        name=wildcards.name,
        draw=range(k),
    )


def observations_mem_mb(wildcards, input, attempt):
    """Memory of a recording's inference: 2 GB plus 20x the recording and the training rows."""
    return attempt * int(2000 + 20 * input.size_mb)


def ppc_draw_runtime(wildcards, attempt):
    """Minutes for one predictive-check simulation: twice the cost model's, at least 5."""
    cores = config["simulation"]["threads"]
    return attempt * max(5, int(2 * sample_core_seconds(config) / cores / 60 + 1))
