import numpy as np
import pytest

from workflow.contract import FEATURE_NAMES, pathway_name
from workflow.simulation.features import catch22
from workflow.simulation.lfp import lfp_proxy, presynaptic_kernels


def _kernels(n_half=80, dt=0.0625):
    t = np.arange(-n_half, n_half + 1) * dt
    causal = t >= 1.0
    return {
        pathway_name("E", "E"): np.where(causal, np.exp(-(t - 1.0) / 2.0), 0.0),
        pathway_name("E", "I"): np.where(causal, 0.5 * np.exp(-(t - 1.0) / 3.0), 0.0),
        pathway_name("I", "E"): np.where(causal, -2.0 * np.exp(-(t - 1.0) / 5.0), 0.0),
        pathway_name("I", "I"): np.where(causal, -0.3 * np.exp(-(t - 1.0) / 4.0), 0.0),
    }


def _proxy(counts, decimate=10):
    return lfp_proxy(counts, presynaptic_kernels(_kernels()), {"E": 10.0, "I": 10.0}, 0.0625, 50.0, decimate)


def test_lfp_is_linear_in_the_counts():
    rng = np.random.default_rng(0)
    a = {p: rng.poisson(2.0, 8000).astype(float) for p in "EI"}
    b = {p: rng.poisson(1.0, 8000).astype(float) for p in "EI"}
    mix = {p: 2.0 * a[p] - 3.0 * b[p] for p in "EI"}
    np.testing.assert_allclose(_proxy(mix), 2.0 * _proxy(a) - 3.0 * _proxy(b), rtol=1e-9, atol=1e-9)


def test_lfp_is_causal_and_kernel_shaped():
    n = 8000
    counts = {p: np.zeros(n) for p in "EI"}
    counts["E"][4000] = 1.0
    y = lfp_proxy(counts, presynaptic_kernels(_kernels()), {"E": 1.0, "I": 1.0}, 0.0625, 0.0, 1)
    assert y.shape == (n,)
    assert np.abs(y[: 4000 + 16]).max() < 1e-12  # nothing before the spike plus the 1 ms onset (FFT round-off)
    np.testing.assert_allclose(
        y[4016 : 4016 + 50], np.exp(-np.arange(50) * 0.0625 / 2) + 0.5 * np.exp(-np.arange(50) * 0.0625 / 3)
    )


def test_lfp_drops_transient_after_decimation():
    counts = {p: np.ones(8000) for p in "EI"}
    y = _proxy(counts, decimate=10)
    assert y.shape == (800 - 80,)  # 50 ms transient at 0.625 ms


def test_missing_pathway_is_named():
    k = _kernels()
    del k["I_to_E"]
    with pytest.raises(KeyError, match="I_to_E"):
        presynaptic_kernels(k)


@pytest.mark.parametrize("trace, why", [(np.zeros(1000), "flat"), (np.full(1000, 3.2), "flat"),
                                         (np.r_[np.ones(500), np.nan, np.ones(499)], "non-finite"),
                                         (np.ones(10), "short")])  # fmt: skip
def test_catch22_on_bad_input_gives_nan_and_reason(trace, why):
    values, reason = catch22(trace)
    assert values.shape == (22,) and np.all(np.isnan(values))
    assert why in reason


def test_catch22_on_noise_is_finite_and_scale_invariant():
    x = np.random.default_rng(1).standard_normal(2000).cumsum()
    v1, r1 = catch22(x)
    v2, _ = catch22(5.0 * x + 3.0)
    assert r1 == "" and v1.shape == (len(FEATURE_NAMES),) and np.all(np.isfinite(v1))
    np.testing.assert_allclose(v1, v2, rtol=1e-6, atol=1e-9)


def test_kernel_pairing_paper_2024_swaps_the_cross_pathways():
    """paper_2024 drives E->I with I's counts and I->E with E's counts; correct uses the presynaptic ones."""
    from workflow.simulation.lfp import count_kernels

    k = _kernels()
    correct, paper = count_kernels(k, "correct"), count_kernels(k, "paper_2024")
    np.testing.assert_allclose(correct["E"], k["E_to_E"] + k["E_to_I"])
    np.testing.assert_allclose(paper["E"], k["E_to_E"] + k["I_to_E"])
    np.testing.assert_allclose(paper["I"], k["I_to_I"] + k["E_to_I"])
    assert not np.allclose(correct["E"], paper["E"])
    with pytest.raises(ValueError, match="kernel_pairing"):
        count_kernels(k, "postsynaptic")
