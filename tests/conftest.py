"""Shared test set-up: every backend seeded before each test."""

import random
import sys

import numpy as np
import pytest

# Fixtures of the single-node SLURM test cluster (tests/cluster/): slurm_cluster and helpers.
pytest_plugins = ["cluster.fixtures"]


@pytest.fixture(autouse=True)
def seed_backends():
    """Seed Python, NumPy's legacy global RNG and, when loaded, torch and Brian2."""
    random.seed(1234)
    np.random.seed(1234)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(1234)
    if "brian2" in sys.modules:
        sys.modules["brian2"].seed(1234)
    yield
