"""Tests of the LFP-proxy kernels (workflow.simulation.kernels, scripts/compute_kernels.py).

The fast tests use dt = 0.25 ms and tau = 20 ms (161 samples, a few seconds with NEURON);
the campaign's resolution (dt = 2^-4 ms, tau = 100 ms) is covered by a slow test.

Sign checks (z current dipole moment P_z = sum_i z_i I_i, transmembrane currents I_i positive
outwards, z up along the apical stick):

* E->E: excitatory synapses mostly on the apical stick around z = 500 um draw an inward
  current (a sink) high up; the return current leaves lower down, so P_z < 0.
* I->E: inhibitory synapses around z = -50 um (basal stick, soma) drive an outward current
  (a source) low down, returning through the long apical stick above, so again P_z < 0.
* E->I and I->I: the I cell is symmetric about its soma; E input at z = +50 um (sink above
  the centre) and I input at z = -100 um (source below it) both give P_z < 0, and much
  smaller dipoles than onto the long, asymmetric E cell.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from workflow import contract
from workflow.simulation import kernels as K
from workflow.simulation.kernels import reference_network as RN

REPO = Path(__file__).resolve().parent.parent
DT, TAU = 0.25, 20.0
#: presynaptic rates (Hz) of the tests: the LIF best fit's (the project's kernels before issue 9)
NU_X_HZ = {"E": 6.5, "I": 9.6}
N = 2 * round(TAU / DT) + 1
LAG0 = round(TAU / DT)


@pytest.fixture(autouse=True)
def _seed():
    """KernelApprox draws no random numbers for the dipole probe; seed numpy anyway."""
    np.random.seed(12345)


@pytest.fixture(scope="module")
def small_kernels() -> dict[str, np.ndarray]:
    return K.compute_kernels(K.ReferenceNetwork(), DT, TAU, NU_X_HZ)


# -- parameters and validation ---------------------------------------------------------------


def test_defaults_follow_the_reference_table():
    p = K.ReferenceNetwork()
    # J_YX naming: J_IE (E onto I) 1.25e-4 uS, J_EI (I onto E) 4.5e-3 uS
    assert p.weight_uS == {"E_to_E": 1.5e-4, "E_to_I": 1.25e-4, "I_to_E": 4.5e-3, "I_to_I": 2e-3}
    assert p.delay_loc_ms["E_to_I"] == 1.4 and p.delay_loc_ms["I_to_E"] == 1.3
    assert p.population_sizes == {"E": 8192, "I": 1024}
    assert p.biophysics == "lin"  # the paper's pipeline
    assert p.vrest_mV == {"E": -70.55, "I": -69.36}
    # multapses: about 2 per E connection and 5 per I connection
    assert p.mean_multapses("E", "E") == pytest.approx(2.0, abs=0.01)
    assert p.mean_multapses("I", "E") == pytest.approx(5.0, abs=0.01)
    # in-degree counts the presynaptic, out-degree the postsynaptic population
    assert p.indegree("I", "E") == pytest.approx(0.05 * 1024 * p.mean_multapses("I", "E"))
    assert p.outdegree("I", "E") == pytest.approx(0.05 * 8192 * p.mean_multapses("I", "E"))
    json.loads(p.to_json())


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"weight_uS": {"E_to_E": 1e-4}}, "weight_uS"),
        ({"weight_uS": {"E_to_E": -1e-4, "E_to_I": 1e-4, "I_to_E": 1e-3, "I_to_I": 1e-3}}, "weight_uS"),
        ({"syn_tau2_ms": {"E": 0.1, "I": 9.0}}, "syn_tau2_ms"),
        ({"connection_probability": 0.0}, "connection_probability"),
        ({"delay_min_ms": -1.0}, "delay_min_ms"),
        ({"vrest_mV": {"E": -70.0}}, "vrest_mV"),
        ({"multapse_loc": {"E": 20.0, "I": 5.0}}, "multapse_loc"),
    ],
)
def test_reference_network_rejects_bad_values(change, name):
    with pytest.raises(ValueError, match=name):
        K.ReferenceNetwork(**change)


def test_synapse_placement_validates():
    with pytest.raises(ValueError, match="sections"):
        K.SynapsePlacement(("axon",), (0.0,), (100.0,), (1.0,))
    with pytest.raises(ValueError, match="equal length"):
        K.SynapsePlacement(("apic",), (0.0, 1.0), (100.0,), (1.0,))


@pytest.mark.parametrize("nu", [{"E": 1.0}, {"E": 1.0, "I": -2.0}, {"E": float("nan"), "I": 1.0}])
def test_rates_are_checked(nu):
    with pytest.raises(ValueError, match="nu_X"):
        RN.check_rates(nu)


def test_n_lags():
    assert K.n_lags(2**-4, 100.0) == 3201
    with pytest.raises(ValueError, match="multiple"):
        K.n_lags(0.3, 1.0)
    with pytest.raises(ValueError, match="tau_ms"):
        K.n_lags(1.0, 0.5)


def test_dt_that_lfpykernels_cannot_grid_is_rejected():
    with pytest.raises(ValueError, match="power-of-two"):
        K.compute_kernels(K.ReferenceNetwork(), 0.1, 20.0, NU_X_HZ)


def test_unknown_biophysics_is_named():
    with pytest.raises(ValueError, match="biophysics"):
        K.ReferenceNetwork(biophysics="active")


def test_exp2syn_area():
    # numerical integral of the peak-normalised double exponential
    t = np.arange(0, 200, 1e-3)
    g = np.exp(-t / 9.0) - np.exp(-t / 0.1)
    assert RN.exp2syn_area_ms(0.1, 9.0) == pytest.approx(g.sum() * 1e-3 / g.max(), rel=1e-4)


# -- resting potentials ----------------------------------------------------------------------


def test_resting_potentials_lie_between_reversal_potentials():
    derived = K.ReferenceNetwork(vrest_mV=None)
    v = K.resting_potentials(derived, NU_X_HZ)
    for pop in contract.POPULATIONS:
        assert -80.0 < v[pop] < -60.0
    # more inhibition pulls V_rest towards E_I = -80 mV, more excitation towards 0 mV
    v_inh = K.resting_potentials(derived, {"E": 6.5, "I": 40.0})
    v_exc = K.resting_potentials(derived, {"E": 40.0, "I": 9.6})
    assert all(v_inh[p] < v[p] < v_exc[p] for p in contract.POPULATIONS)


def test_resting_potentials_override():
    p = K.ReferenceNetwork(vrest_mV={"E": -65.0, "I": -64.0})
    assert K.resting_potentials(p, NU_X_HZ) == {"E": -65.0, "I": -64.0}


# -- the mechanism ---------------------------------------------------------------------------


def test_current_synapse_with_positive_weight_depolarises():
    import LFPy

    K.ensure_mechanisms()
    cell = LFPy.TemplateCell(
        delete_sections=True, tstop=20.0, dt=DT, **RN._cell_parameters(K.ReferenceNetwork(), "E", -70.0)
    )
    syn = LFPy.Synapse(cell, idx=0, syntype="Exp2SynI", weight=0.1, tau1=0.2, tau2=1.8, record_current=True)
    syn.set_spike_times(np.array([5.0]))
    cell.simulate(rec_vmem=True)
    assert syn.i.min() < 0  # inward
    assert cell.somav.max() > -70.0 + 0.1
    assert cell.somav[: int(5.0 / DT)] == pytest.approx(-70.0)  # rests uniformly at V_rest before


# -- kernels ---------------------------------------------------------------------------------


def test_kernel_shape_and_finite(small_kernels):
    assert tuple(small_kernels) == contract.PATHWAY_NAMES
    for name, h in small_kernels.items():
        assert h.dtype == np.float64 and h.shape == (N,), name
        assert np.all(np.isfinite(h)), name
        assert np.any(h != 0), name


def test_kernels_are_causal(small_kernels):
    # nothing before the presynaptic spike; within the minimum delay (0.3 ms) only what is left
    # of the cells' settling to rest (compute.SETTLE_MS), far below the response
    first = LAG0 + int(np.floor(K.ReferenceNetwork().delay_min_ms / DT))
    for name, h in small_kernels.items():
        assert np.all(h[:LAG0] == 0.0), name
        assert np.max(np.abs(h[: first + 1])) < 1e-4 * np.max(np.abs(h)), name


def test_kernel_signs(small_kernels):
    for name, h in small_kernels.items():
        # the dominant deflection is negative (module docstring)
        assert h.min() < 0 and abs(h.min()) > 10 * max(h.max(), 0.0), name
        # and it comes within a few ms of the spike (delay plus synaptic time constants)
        assert 0.3 < (h.argmin() - LAG0) * DT < 10.0, name
    # the long, asymmetric E cell makes far larger dipoles than the symmetric I cell
    for pre in contract.POPULATIONS:
        assert abs(small_kernels[f"{pre}_to_E"]).max() > 5 * abs(small_kernels[f"{pre}_to_I"]).max()


def test_kernels_are_deterministic(small_kernels):
    again = K.compute_kernels(K.ReferenceNetwork(), DT, TAU, NU_X_HZ)
    for name in contract.PATHWAY_NAMES:
        np.testing.assert_array_equal(again[name], small_kernels[name])


def test_kernel_is_linear_in_the_weight_and_flips_with_the_driving_force():
    """Fixed V_rest, no g_eff: the kernel scales with w (E_rev - V_rest)."""
    base = K.ReferenceNetwork(vrest_mV={"E": -70.0, "I": -70.0}, g_eff=False)
    h = K.compute_kernels(base, DT, 10.0, NU_X_HZ)
    w = dict(base.weight_uS, E_to_E=2 * base.weight_uS["E_to_E"])
    doubled = K.compute_kernels(dataclasses.replace(base, weight_uS=w), DT, 10.0, NU_X_HZ)
    np.testing.assert_allclose(doubled["E_to_E"], 2 * h["E_to_E"], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(doubled["I_to_E"], h["I_to_E"])
    # an "excitatory" reversal potential 70 mV below V_rest reverses the E kernels exactly
    e_rev = dict(base.syn_e_rev_mV, E=-140.0)
    flipped = K.compute_kernels(dataclasses.replace(base, syn_e_rev_mV=e_rev), DT, 10.0, NU_X_HZ)
    np.testing.assert_allclose(flipped["E_to_E"], -h["E_to_E"], rtol=1e-9, atol=1e-12)


# -- file I/O --------------------------------------------------------------------------------


def _attrs() -> dict:
    return K.kernel_attrs(K.ReferenceNetwork(), DT, TAU, NU_X_HZ)


def test_h5_round_trip(tmp_path, small_kernels):
    import h5py

    path = tmp_path / "sub" / "kernels.h5"
    attrs = _attrs()
    K.write_kernels(path, small_kernels, attrs)
    kernels, read = K.read_kernels(path)
    assert list(kernels) == list(contract.PATHWAY_NAMES)
    for name in contract.PATHWAY_NAMES:
        np.testing.assert_array_equal(kernels[name], small_kernels[name])
    assert read["dt_ms"] == DT and read["tau_ms"] == TAU and read["lag0_index"] == LAG0
    assert read["probe"] == "current dipole moment z" and read["biophysics"] == "lin"
    assert read["nu_E_hz"] == 6.5 and read["nu_I_hz"] == 9.6
    for key in ("LFPy_version", "lfpykernels_version", "neuron_version"):
        assert read[key] not in ("", "absent")
    assert json.loads(read["package_versions"])["lfpykernels"] == "0.2.0"
    assert json.loads(read["reference_network"])["weight_uS"]["I_to_E"] == 4.5e-3
    with h5py.File(path) as f:
        for (pre, post), name in zip(contract.PATHWAYS, contract.PATHWAY_NAMES, strict=True):
            assert f[name].attrs["pre"] == pre and f[name].attrs["post"] == post
            assert f[name].attrs["units"] == "nA um"
    assert [p.name for p in path.parent.iterdir()] == ["kernels.h5"]  # no temporary left


def test_write_is_atomic(tmp_path, small_kernels):
    path = tmp_path / "kernels.h5"
    K.write_kernels(path, small_kernels, _attrs())
    before = path.read_bytes()
    with pytest.raises(TypeError):
        K.write_kernels(path, small_kernels, dict(_attrs(), bad=object()))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["kernels.h5"]


def test_write_rejects_bad_kernels(tmp_path, small_kernels):
    path = tmp_path / "kernels.h5"
    with pytest.raises(ValueError, match="exactly the datasets"):
        K.write_kernels(path, {"E_to_E": small_kernels["E_to_E"]}, _attrs())
    bad = dict(small_kernels, I_to_I=small_kernels["I_to_I"][:-2])
    with pytest.raises(ValueError, match="one odd length"):
        K.write_kernels(path, bad, _attrs())
    nan = dict(small_kernels, E_to_I=np.full(N, np.nan))
    with pytest.raises(ValueError, match="non-finite"):
        K.write_kernels(path, nan, _attrs())
    with pytest.raises(ValueError, match="imply"):
        K.write_kernels(path, small_kernels, dict(_attrs(), tau_ms=2 * TAU))
    assert not path.exists()


def test_read_rejects_incomplete_file(tmp_path):
    import h5py

    path = tmp_path / "kernels.h5"
    with h5py.File(path, "w") as f:
        f["E_to_E"] = np.zeros(N)
        f.attrs["dt_ms"], f.attrs["tau_ms"] = DT, TAU
    with pytest.raises(ValueError, match="missing kernel datasets"):
        K.read_kernels(path)


def test_rule_script(tmp_path):
    """scripts/compute_kernels.py with a stand-in for Snakemake's ``snakemake`` object."""
    out, log = tmp_path / "results" / "kernels.h5", tmp_path / "logs" / "kernels.log"
    script = REPO / "scripts" / "compute_kernels.py"
    code = (
        "import runpy, types\n"
        "kcfg = {'tau_ms': 10.0, 'biophysics': 'lin', 'v_rest_mV': {'E': -70.55, 'I': -69.36},"
        " 'presynaptic_rates_hz': {'E': 6.5, 'I': 3.0}}\n"
        "cfg = {'simulation': {'dt_ms': 0.5}, 'kernels': kcfg}\n"
        "params = types.SimpleNamespace(config=cfg)\n"
        f"sm = types.SimpleNamespace(log=[{str(log)!r}], output=[{str(out)!r}], params=params, rule='kernels')\n"
        f"runpy.run_path({str(script)!r}, init_globals={{'snakemake': sm}})\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr + log.read_text() if log.exists() else run.stderr
    kernels, attrs = K.read_kernels(out)
    assert attrs["dt_ms"] == 0.5 and attrs["tau_ms"] == 10.0
    assert attrs["nu_E_hz"] == NU_X_HZ["E"] and attrs["nu_I_hz"] == 3.0
    assert all(h.shape == (41,) for h in kernels.values())
    assert "wrote" in log.read_text()


@pytest.mark.slow
def test_campaign_resolution():
    """dt = 2^-4 ms, tau = 100 ms: 3201 samples, decayed to near zero at the far end.

    Passive cells decay with the membrane (< 0.1 % of the peak at 100 ms); the lin cells keep a
    slow tail of the quasi-active Ih (tau_w = 43 ms at V_rest), under 1 % of the peak at 100 ms.
    """
    for biophysics, tail in (("passive", 1e-3), ("lin", 1e-2)):
        h = K.compute_kernels(K.ReferenceNetwork(biophysics=biophysics), 2**-4, 100.0, NU_X_HZ)
        for name, k in h.items():
            assert k.shape == (3201,), name
            assert np.all(k[:1600] == 0.0), name
            assert abs(k[-1]) < tail * abs(k).max(), (biophysics, name)
