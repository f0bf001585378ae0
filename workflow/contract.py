"""The HDF5 dataset contract shared by shards, the aggregate and the inference half.

A shard (``results/shards/shard-NNNNN.h5``) and the aggregate (``results/dataset.h5``) hold
the same datasets:

``params``     float64 (n, 7), attr ``names`` = :data:`PARAM_NAMES`, ``units``
``features``   float64 (n, 22), attr ``names`` = :data:`FEATURE_NAMES`
``rates``      float64 (n, 2), attr ``names`` = :data:`RATE_NAMES`, ``units`` = "Hz"
``valid``      bool (n,)
``status``     int8 (n,), see :class:`Status`; attr ``names`` lists the codes
``sample_id``  int64 (n,)

Optional: ``lfp`` float32 (n, T) with attrs ``dt_ms`` and ``units``; ``simulator`` (n,) str.

Synaptic weights follow the paper's convention J_YX: postsynaptic Y, presynaptic X. So J_EI is
the weight from I onto E (negative), J_IE from E onto I.
"""

from __future__ import annotations

import enum

SCHEMA_VERSION = "1.0"

PARAM_NAMES: tuple[str, ...] = ("J_EE", "J_IE", "J_EI", "J_II", "tau_syn_E", "tau_syn_I", "J_ext")
PARAM_UNITS: tuple[str, ...] = ("pA", "pA", "pA", "pA", "ms", "ms", "pA")

#: catch22 long names, in pycatch22's order.
FEATURE_NAMES: tuple[str, ...] = (
    "DN_HistogramMode_5",
    "DN_HistogramMode_10",
    "DN_OutlierInclude_p_001_mdrmd",
    "DN_OutlierInclude_n_001_mdrmd",
    "CO_FirstCrossing_acf_1e_pointOfCrossing",
    "CO_FirstMin_ac",
    "SP_Summaries_fft_area_5_1",
    "SP_Summaries_fft_wq_50",
    "FC_LocalSimple_mean3_stde",
    "FC_LocalSimple_mean1_taurat",
    "MD_pNN_pnn40",
    "SB_BinaryStats_mean_longstretch1",
    "SB_BinaryStats_diff_longstretch0",
    "SB_MotifThree_quantile_hh",
    "CO_HistogramAMI_even_5bin_ami2",
    "CO_trev_1_num",
    "IN_AutoMutualInfoStats_40_gaussian_fmmi",
    "SB_TransitionMatrix_quantile_3_ac_sumdiagcov",
    "PD_PeriodicityWang_th0_01",
    "CO_Embed2_Dist_tau_d_expfit_meandiff",
    "SC_FluctAnal_2_rsrangefit_50_1_logi_prop_r1",
    "SC_FluctAnal_2_dfa_50_1_2_logi_prop_r1",
)

#: catch22 short names, same order (for figures).
FEATURE_SHORT_NAMES: tuple[str, ...] = (
    "mode_5", "mode_10", "outlier_timing_pos", "outlier_timing_neg", "acf_timescale",
    "acf_first_min", "low_freq_power", "median_freq", "forecast_error", "whiten_timescale",
    "high_fluctuation", "stretch_high", "stretch_decreasing", "entropy_pairs", "ami2", "trev",
    "ami_timescale", "transition_variance", "periodicity", "embedding_dist", "rs_range", "dfa",
)

#: The network's populations: excitatory and inhibitory.
POPULATIONS: tuple[str, ...] = ("E", "I")

#: (pre, post) of every pathway (one LFP kernel each), in file order.
PATHWAYS: tuple[tuple[str, str], ...] = (("E", "E"), ("E", "I"), ("I", "E"), ("I", "I"))


def pathway_name(pre: str, post: str) -> str:
    """Name of the pathway (and its kernel dataset) from ``pre`` onto ``post``, e.g. ``"E_to_I"``."""
    return f"{pre}_to_{post}"


PATHWAY_NAMES: tuple[str, ...] = tuple(pathway_name(a, b) for a, b in PATHWAYS)

#: Columns of ``rates``: one population rate each.
RATE_NAMES: tuple[str, ...] = POPULATIONS

#: Spiking network simulators, and Brian2's code-generation targets.
SIMULATORS: tuple[str, ...] = ("nest", "brian2")
BRIAN2_TARGETS: tuple[str, ...] = ("cpp_standalone", "runtime", "numpy")

#: The inference targets (paper, Sec. 2.3).
TARGET_NAMES: tuple[str, ...] = ("EI_net", "tau_syn_E", "tau_syn_I", "J_ext")
#: Their units.
TARGET_UNITS: tuple[str, ...] = ("1", "ms", "ms", "pA")
#: Targets learned on the log scale unless ``inference.log_targets`` says otherwise ([E/I]_net is
#: heavy-tailed: linear [E/I]_net failed SBC on a synthetic bank, log [E/I]_net passed).
LOG_TARGETS: tuple[str, ...] = ("EI_net",)

#: The config's ``model:`` of this network (the campaign's default). Every other name is a model of
#: the registry :mod:`workflow.models` (no kernels, gates or cross-check; see
#: :mod:`workflow.simulation.model_shard`).
HAGEN_MODEL = "hagen2022"

REQUIRED_DATASETS: tuple[str, ...] = ("params", "features", "rates", "valid", "sample_id")


class Status(enum.IntEnum):
    """Per-sample status code stored in ``status``; only ``OK`` rows are ``valid``.

    Which gates apply is the config's ``gates.preset`` (:mod:`workflow.simulation.gates`); a
    sample failing several gates gets the code of the first in the order of
    :data:`workflow.simulation.gates.GATE_ORDER`, and its ``status_reason`` in the shard names
    every gate it failed.
    """

    OK = 0
    #: the simulator raised (the reason holds the exception)
    SIMULATOR_ERROR = 1
    #: a population rate below the preset's minimum
    SILENT = 2
    #: stopped early: a population fired above the preset's abort rate within one chunk
    RUNAWAY = 3
    #: a catch22 feature is not finite
    NAN_FEATURES = 4
    NOT_RUN = 5
    #: constant LFP proxy (dipole moment): its standard deviation at or below ``gates.lfp_min_std``
    FLAT_LFP = 6
    #: a population rate above the preset's maximum (the run went to the end)
    HIGH_RATE = 7
    #: the I rate outside the preset's bounds relative to the E rate
    EI_RATIO = 8
    #: the LFP proxy's spectrum fails the preset's spectral gates (1/f exponent, fit, peaks)
    SPECTRUM = 9
