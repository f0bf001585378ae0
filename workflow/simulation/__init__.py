"""The simulation half of the campaign: prior draws, the Hagen et al. 2022 network in NEST or
Brian2, LFP-proxy kernels, the LFP proxy and catch22 per sample, shards, the MPI task farm,
aggregation, the cross-simulator check and the cost model."""
