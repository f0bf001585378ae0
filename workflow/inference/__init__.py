"""Inference half of the campaign: dataset checks, targets, folds, MI, NPE, metrics, SHAP.

One module per concept:

``dataset``      load and validate an HDF5 file in the contract layout; derive the targets
``seeding``      SeedSequence streams for every random choice of the inference half
``folds``        deterministic, disjoint k-fold assignment
``mi``           mutual information between features and targets
``npe``          NPE training, state-dict + JSON storage and reloading
``metrics``      per-fold test metrics of the posterior
``functionals``  posterior mean and IQR as deterministic functions of x (common random numbers)
``explain``      SHAP values of the functionals for one fold
``merge``        merge of SHAP over folds, ranking agreement
``plots``        figures
``synthetic``    synthetic datasets with planted dependence (tests, benchmarks)
"""
