"""Inference half of the campaign: dataset checks, targets, folds, MI, NPE, metrics, SHAP.

One module per concept:

``dataset``       load and validate an HDF5 file in the contract layout; derive the targets;
                  write and read the prepared rows
``sections``      settings dataclasses built from one validated config section (defaults in the schema)
``folds``         deterministic, disjoint k-fold assignment
``mi``            mutual information between features and targets
``scales``        the scale each target is learned on (log for ``inference.log_targets``)
``targetprior``   the targets' prior (push-forward of the constrained prior) and its bounds (the support)
``npe``           NPE training, state-dict + JSON storage and reloading
``metrics``       per-fold test metrics of the posterior, sbi's SBC and TARP
``flowsampling``  pushing fixed base draws through a trained flow (fast MAF inverse)
``functionals``   posterior mean and IQR as continuous functions of x (common random numbers)
``explain``       SHAP values of the functionals for one fold, and the cost of a fold's SHAP job
``merge``         merge of SHAP over folds, ranking agreement (between folds, with MI), verdicts
``captions``      report captions that say whether the SHAP rankings converged
``plots``         figures
``synthetic``     synthetic datasets with planted dependence (tests, benchmarks)

Elsewhere: the random streams of every step are :mod:`workflow.seeds` (:class:`~workflow.seeds.Stream`),
HDF5 outputs are written through :func:`workflow.h5io.atomic_h5` with
:func:`workflow.h5io.provenance_attrs`, and rule scripts log through
:func:`workflow.scripting.rule_logging`.
"""
