"""Model numerics beyond the Hagen network, as plain data and numpy functions.

* :mod:`workflow.models.mpr`: the Montbrió–Pazó–Roxin mean-field model of QIF neurons as used by
  Baldy et al. 2024 (3 parameters, 34 features of r(t) and v(t));
* :mod:`workflow.models.hh`: the single-compartment Hodgkin–Huxley neuron of Pospischil et al.
  2008 as used by Gonçalves et al. 2020 (8 parameters, 7 voltage features).

Each module holds ``PARAM_NAMES``, ``PRIOR_BOUNDS``, ``FEATURE_NAMES``, a frozen settings
dataclass with the paper's values as defaults, ``simulate_batch`` (vectorised over a batch, one
random stream per sample) and ``features``. They import nothing of the pipeline.
"""
