# Config validation, wildcard constraints and every input function of the workflow.
import json
import shlex
import sys
from pathlib import Path

from snakemake.utils import validate

from workflow.config import ConfigError, check_config, n_shards, simulation_config
from workflow.cost import campaign_core_hours, shard_mem_mb, shard_runtime_min

validate(config, schema="../workflow/schemas/config.schema.yaml")
try:
    check_config(config)
except ConfigError as exc:
    raise WorkflowError(str(exc))


wildcard_constraints:
    shard=r"\d{5}",
    fold=r"\d+",


#: the interpreter running Snakemake; shell rules use it so jobs see the same environment
PYTHON = shlex.quote(sys.executable)

SHARDS = [f"{i:05d}" for i in range(n_shards(config))]
SIMULATE_DATASET = not config.get("dataset")

if SIMULATE_DATASET:
    logger.info(
        f"campaign: {config['campaign']['n_samples']} samples in {len(SHARDS)} shards; "
        f"estimated simulation cost {campaign_core_hours(config):,.1f} core-hours "
        "(workflow/cost.py, from measured per-sample figures)"
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

    The config passed is the part that determines a sample's result, without n_samples, so
    that growing the campaign does not rerun finished shards.
    """
    first, stop = shard_range(wildcards)
    cfg = simulation_config(config)
    cfg["campaign"].pop("n_samples")
    return f"--first {first} --stop {stop} --config-json {shlex.quote(json.dumps(cfg, sort_keys=True))}"


def default_mpiexec():
    """The MPI launcher of a workstation: the mpiexec next to this Python (the mpich wheel mpi4py
    is built against), since a bare `mpiexec` may be missing from PATH or belong to another MPI.
    A cluster profile sets the `mpi` resource to `srun` instead."""
    venv_mpiexec = Path(sys.executable).parent / "mpiexec"
    return shlex.quote(str(venv_mpiexec)) if venv_mpiexec.exists() else "mpiexec"


def simulate_mpi_resources():
    """The `mpi` and `tasks` resources, only for a task farm (simulation.mpi_ranks > 1).

    A serial shard declares neither: the SLURM executor refuses an `mpi` job with one task, and
    its job step would treat every array task as the array's first job.
    """
    ranks = config["simulation"]["mpi_ranks"]
    return {"mpi": default_mpiexec(), "tasks": ranks} if ranks > 1 else {}


def simulate_launcher(wildcards, resources):
    """Empty for a serial shard; `mpiexec -n N` / `srun -n N` for the mpi4py task farm."""
    if config["simulation"]["mpi_ranks"] > 1:
        return f"{resources.mpi} -n {resources.tasks}"
    return ""


def simulate_mpi_flag(wildcards):
    """`--mpi --ranks N` for the task farm: the job checks it really got N ranks."""
    n = config["simulation"]["mpi_ranks"]
    return f"--mpi --ranks {n}" if n > 1 else ""


def simulate_runtime(wildcards, attempt):
    cores = config["simulation"]["threads"] * config["simulation"]["mpi_ranks"]
    return attempt * shard_runtime_min(config, cores)


def simulate_mem_mb(wildcards, attempt):
    return attempt * shard_mem_mb(config) * config["simulation"]["mpi_ranks"]


def get_final_output():
    """Everything `rule all` builds: the dataset and whatever the other stages add."""
    out = []
    if SIMULATE_DATASET:
        out += [
            "results/draws.h5",
            "results/dataset.h5",
            "results/aggregate/summary.png",
        ]
    for name in ("inference_outputs", "crosscheck_outputs"):
        if name in globals():
            out += globals()[name]()
    return out
