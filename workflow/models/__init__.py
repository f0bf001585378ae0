"""Models beyond the Hagen network: their numerics, the model interface and the headline results.

* :mod:`workflow.models.base`: the model interface (:class:`~workflow.models.base.Model`,
  :class:`~workflow.models.base.SimBatch`) and the registry (:func:`~workflow.models.base.get_model`);
* :mod:`workflow.models.mpr`: the Montbrió–Pazó–Roxin mean-field model of QIF neurons as used by
  Baldy et al. 2024 (3 parameters, 34 features of r(t) and v(t)); ``mpr.MODEL``;
* :mod:`workflow.models.hh`: the single-compartment Hodgkin–Huxley neuron of Pospischil et al.
  2008 as used by Gonçalves et al. 2020 (8 parameters, 7 voltage features); ``hh.MODEL``;
* :mod:`workflow.models.qif`: the spiking counterpart of the MPR model, 10^4 all-to-all QIF
  neurons in Brian2 (Baldy et al. 2024 Fig. 6);
* :mod:`workflow.models.headline`: the two papers' headline results with sbi's NPE.

``mpr`` and ``hh`` hold ``PARAM_NAMES``, ``PRIOR_BOUNDS``, ``FEATURE_NAMES``, a frozen settings
dataclass with the paper's values as defaults, ``simulate_batch`` (vectorised over a batch, one
random stream per sample), ``features`` and ``MODEL``. The numerics import nothing of the
pipeline but :mod:`workflow.seeds`.
"""

from workflow.models.base import Model, SimBatch, get_model, model_names, register

__all__ = ["Model", "SimBatch", "get_model", "model_names", "register"]
