"""Applying a trained campaign to a recording (``python -m workflow infer``, issue 11).

One module per concept:

``traces``            read a recorded TRACE (``.npy``, ``.csv``, ``.h5``), check it, and bring it to the
                      campaign's form: its LFP rate, campaign-length windows, catch22 features
``campaign``          the trained campaign: fold models, their training rows, the config of its traces
``posterior``         the equal-weight mixture of the fold posteriors, per window and per recording
``misspecification``  the kNN out-of-distribution score with a split-conformal threshold
``crossconformal``    the same score calibrated cross-conformally over the campaign's folds (what infer uses)
``explain``           SHAP values of the mixture's posterior mean and IQR at a recording, and the figure
``ppc``               the posterior predictive check: parameter sets, simulation, comparison, figure
``streams``           the random streams of infer, keyed by the recording's content
``run``               the order of work and the outputs (the command line and the Snakemake stage)
``observations``      the config's ``observations`` entries, checked for the Snakemake stage
"""
