import numpy as np
import pytest

from workflow.contract import PARAM_NAMES
from workflow.seeds import network_seed
from workflow.simulation.prior import Prior

BOUNDS = {
    "J_EE": (0.5, 4.0), "J_IE": (0.5, 4.0), "J_EI": (-40.0, -1.0), "J_II": (-40.0, -1.0),
    "tau_syn_E": (0.1, 2.0), "tau_syn_I": (0.1, 8.0), "J_ext": (10.0, 50.0),
}  # fmt: skip


def test_draws_satisfy_bounds_and_constraints():
    prior = Prior(BOUNDS)
    x = prior.draw(7, range(500))
    assert x.shape == (500, 7)
    assert np.all(x >= prior.low) and np.all(x <= prior.high)
    j = {k: x[:, PARAM_NAMES.index(k)] for k in PARAM_NAMES}
    inh = np.minimum(np.abs(j["J_EI"]), np.abs(j["J_II"]))
    assert np.all(2 * j["J_EE"] <= inh)
    assert np.all(2 * j["J_IE"] <= inh)
    assert np.all(j["J_IE"] > j["J_EE"])


def test_constraints_can_be_switched_off():
    x = Prior(BOUNDS, constraints=False).draw(7, range(500))
    j_ee, j_ie = x[:, 0], x[:, 1]
    assert np.any(j_ie <= j_ee)  # about half the box violates J_IE > J_EE


def test_draw_independent_of_sharding_and_order():
    prior = Prior(BOUNDS)
    whole = prior.draw(11, range(100))
    shards = np.concatenate([prior.draw(11, range(a, min(a + 7, 100))) for a in range(0, 100, 7)])
    assert np.array_equal(whole, shards)
    backwards = prior.draw(11, list(range(99, -1, -1)))[::-1]
    assert np.array_equal(whole, backwards)
    assert not np.array_equal(whole, prior.draw(12, range(100)))


def test_network_seed_is_per_sample_and_in_range():
    seeds = [network_seed(3, i) for i in range(1000)]
    assert len(set(seeds)) == 1000
    assert all(1 <= s <= 2**31 - 2 for s in seeds)
    assert network_seed(3, 5) == network_seed(3, 5)


@pytest.mark.parametrize("bad", [{"J_EE": (4.0, 0.5)}, {"J_ext": (10.0, 10.0)}])
def test_bad_bounds_name_the_parameter(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        Prior({**BOUNDS, **bad})
