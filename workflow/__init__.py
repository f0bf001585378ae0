"""SBI of cortical circuit parameters from field potentials (Sandron et al. 2024 at scale).

Library code for the Snakemake campaign: parameter draws, network simulation (NEST, Brian2),
LFP-proxy kernels (lfpykernels), catch22 features, HDF5 shards and aggregation, and the
inference half (mutual information, NPE with k-fold CV, SHAP).
"""

__version__ = "0.1.0"
