"""Membranes of the kernel cells (workflow.simulation.kernels.biophysics), with real NEURON and LFPy.

The linearised cell (``lin``) must reproduce the cell it linearises (dynamic Ih, Na/K frozen)
for small inputs; every membrane must rest at V_rest; bad arguments raise ValueError.
Cells are the project's ball-and-sticks cells (E: 27 segments, I: 11), simulated for 400 ms
at dt = 2^-4 ms: well under a second each.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from workflow.simulation.kernels import biophysics as KB

DT = 2**-4
VREST = dict(KB.DEFAULT_VREST_MV)
STEP_NA = 0.01  # 10 pA
STEP_DELAY, STEP_DUR, TSTOP = 50.0, 250.0, 400.0
SYN_WEIGHT_US = 1e-3  # 1 nS peak, Exp2Syn 0.2/1.8 ms, E_syn 0 mV
APICAL_Z_UM = {"E": 500.0, "I": 150.0}
TOLERANCE = 0.05  # lin vs dynamic Ih: relative error of peak and of the trace (L2)


@pytest.fixture(scope="module")
def build() -> Callable[..., Any]:
    """Factory of the project's ball-and-sticks cells with a chosen membrane."""
    import LFPy

    from workflow.simulation.kernels import ReferenceNetwork, ensure_mechanisms
    from workflow.simulation.kernels.reference_network import _cell_parameters

    ensure_mechanisms()

    def make(pop: str, biophysics: str, vrest_mV: float, **membrane: Any) -> Any:
        params = _cell_parameters(ReferenceNetwork(), pop, vrest_mV)
        params.update(
            custom_fun=[KB.insert_biophysics],
            custom_fun_args=[{"biophysics": biophysics, "vrest_mV": vrest_mV, **membrane}],
        )
        return LFPy.TemplateCell(delete_sections=True, dt=DT, tstop=TSTOP, **params)

    return make


def _somatic_response(
    build: Callable[..., Any], pop: str, biophysics: str, stimulus: str, amp_nA: float = STEP_NA
) -> np.ndarray:
    """Somatic deflection from V_rest (mV) for a current step at the soma or an apical synapse."""
    import LFPy

    cell = build(pop, biophysics, VREST[pop])
    if stimulus == "step":
        stim = LFPy.StimIntElectrode(  # noqa: F841 (must stay alive during the run)
            cell, idx=0, pptype="IClamp", amp=amp_nA, delay=STEP_DELAY, dur=STEP_DUR, record_current=False
        )
    else:
        syn = LFPy.Synapse(
            cell,
            idx=cell.get_closest_idx(z=APICAL_Z_UM[pop], section="apic"),
            syntype="Exp2Syn",
            weight=SYN_WEIGHT_US,
            e=0.0,
            tau1=0.2,
            tau2=1.8,
        )
        syn.set_spike_times(np.array([STEP_DELAY]))
    cell.simulate()
    return np.asarray(cell.somav) - VREST[pop]


def _peak(x: np.ndarray) -> float:
    return float(x[np.argmax(np.abs(x))])


# -- (a) lin reproduces the dynamic Ih for small inputs --------------------------------------------


@pytest.mark.parametrize("stimulus", ["step", "synapse"])
@pytest.mark.parametrize("pop", ["E", "I"])
def test_lin_matches_dynamic_ih_for_small_inputs(build, pop, stimulus):
    lin = _somatic_response(build, pop, "lin", stimulus)
    dyn = _somatic_response(build, pop, KB.REFERENCE_BIOPHYSICS, stimulus)
    assert abs(_peak(dyn)) > 0.3  # a real response, mV
    peak_error = abs(_peak(lin) - _peak(dyn)) / abs(_peak(dyn))
    l2_error = np.linalg.norm(lin - dyn) / np.linalg.norm(dyn)
    assert peak_error < TOLERANCE, f"{pop} {stimulus}: peak {_peak(lin):.4f} vs {_peak(dyn):.4f} mV"
    assert l2_error < TOLERANCE, f"{pop} {stimulus}: relative L2 error {l2_error:.4f}"


def test_linearisation_error_shrinks_with_the_input(build):
    """lin is the tangent of the dynamic cell: its error falls in proportion to the input."""
    errors = []
    for amp_nA in (STEP_NA, STEP_NA / 10):
        lin = _somatic_response(build, "I", "lin", "step", amp_nA)
        dyn = _somatic_response(build, "I", KB.REFERENCE_BIOPHYSICS, "step", amp_nA)
        errors.append(np.linalg.norm(lin - dyn) / np.linalg.norm(dyn))
    assert errors[1] < 0.2 * errors[0]


# -- (b) every membrane rests at V_rest ---------------------------------------------------------


@pytest.mark.parametrize("biophysics", [*KB.BIOPHYSICS, KB.REFERENCE_BIOPHYSICS])
@pytest.mark.parametrize("pop", ["E", "I"])
def test_every_membrane_rests_at_vrest(build, pop, biophysics):
    cell = build(pop, biophysics, VREST[pop])
    cell.simulate(rec_vmem=True)
    assert cell.vmem.shape[0] == cell.totnsegs
    assert np.abs(cell.vmem - VREST[pop]).max() < 0.01


def test_rest_holds_away_from_the_default_vrest(build):
    cell = build("E", "lin", -62.0)
    cell.simulate(rec_vmem=True)
    assert np.abs(cell.vmem + 62.0).max() < 0.01


# -- (c) the membranes differ measurably -------------------------------------------------------


def test_lin_and_passive_differ(build):
    lin = _somatic_response(build, "E", "lin", "step")
    passive = _somatic_response(build, "E", "passive", "step")
    # Ih and the frozen K conductance more than halve the input resistance
    assert abs(_peak(lin)) < 0.6 * abs(_peak(passive))
    assert np.linalg.norm(lin - passive) / np.linalg.norm(passive) > 0.3


def test_conductance_grows_from_passive_to_frozen_to_lin(build):
    g = {}
    for biophysics in KB.BIOPHYSICS:
        cell = build("E", biophysics, VREST["E"])
        g[biophysics] = KB.membrane_conductance_uS(cell, vrest_mV=VREST["E"])
    assert g["passive"] < g["frozen"] < g["lin"]
    # passive: Hay leak only, over the cell's membrane area
    area = {"soma": math.pi * 30 * 30, "dend": math.pi * 2 * 200, "apic": math.pi * 3 * 1000}  # um2
    leak = sum(KB.HAY2011_DENSITIES[s].g_pas_S_cm2 * a for s, a in area.items()) * 1e-2
    assert g["passive"] == pytest.approx(leak, rel=1e-6)


# -- the mechanisms agree with the Python equations ------------------------------------------


def test_linearised_ih_coefficients_match_python(build):
    import neuron

    vrest = VREST["E"]
    cell = build("E", "lin", vrest)
    neuron.h.finitialize(vrest)
    w_inf, dw_inf, tau = KB.ih_gate(vrest)
    for sec in cell.allseclist:
        mech = getattr(sec(0.5), KB.IH_LIN_MECHANISM)
        assert mech.winf == pytest.approx(w_inf, rel=1e-9)
        assert mech.dwinf == pytest.approx(dw_inf, rel=1e-9)
        assert mech.wtau == pytest.approx(tau, rel=1e-9)


def test_make_uniform_balances_the_resting_ih(build):
    vrest = VREST["E"]
    table = KB.conductance_table(vrest, biophysics="lin")
    cell = build("E", "lin", vrest)
    for sec in cell.allseclist:
        kind = KB.section_type(sec)
        i_h = table[kind]["Ih"] * (vrest - KB.EHCN_MV)  # mA/cm2, inward (< 0)
        for seg in sec:
            assert seg.e_pas == pytest.approx(vrest + i_h / table[kind]["pas"], abs=1e-9)
    passive = build("E", "passive", vrest)
    assert all(seg.e_pas == pytest.approx(vrest) for sec in passive.allseclist for seg in sec)


# -- pure functions ---------------------------------------------------------------------------


@pytest.mark.parametrize("v", [-154.9, -90.0, -70.55, -45.0])
def test_ih_slope_is_the_derivative_of_the_steady_state(v):
    h = 1e-4
    numeric = (KB.ih_gate(v + h)[0] - KB.ih_gate(v - h)[0]) / (2 * h)
    assert KB.ih_gate(v)[1] == pytest.approx(numeric, rel=1e-6)
    assert KB.ih_gate(v)[1] < 0  # Ih activates on hyperpolarisation


@pytest.mark.parametrize("v", [-66.0, -38.0])
def test_open_probabilities_are_continuous_at_removable_singularities(v):
    p = KB.nata_t_open_probability(v)
    assert p == pytest.approx(KB.nata_t_open_probability(v + 1e-6), rel=1e-4)
    assert 0 < p < 1 and 0 < KB.skv3_1_open_probability(v) < 1


def test_conductance_table():
    table = KB.conductance_table(VREST["E"], biophysics="passive")
    assert table["soma"]["total_dc"] == KB.HAY2011_DENSITIES["soma"].g_pas_S_cm2
    lin = KB.conductance_table(VREST["E"], biophysics="lin")
    frozen = KB.conductance_table(VREST["E"], biophysics="frozen")
    assert frozen["apic"]["Ih_quasi_active"] == 0 < lin["apic"]["Ih_quasi_active"]
    assert lin["soma"]["SKv3_1"] == frozen["soma"]["SKv3_1"] > lin["soma"]["pas"]


# -- (d) bad arguments ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"biophysics": "active", "vrest_mV": -70.0}, "biophysics"),
        ({"biophysics": None, "vrest_mV": -70.0}, "biophysics"),
        ({"biophysics": "lin", "vrest_mV": float("nan")}, "vrest_mV"),
        ({"biophysics": "lin", "vrest_mV": 0.0}, "vrest_mV"),
        ({"biophysics": "lin", "vrest_mV": True}, "vrest_mV"),
        ({"biophysics": "lin", "vrest_mV": "-70"}, "vrest_mV"),
        ({"biophysics": "lin", "vrest_mV": -70.0, "densities": {}}, "densities"),
        ({"biophysics": "lin", "vrest_mV": -70.0, "densities": {"soma": 1.0}}, "densities"),
        ({"biophysics": "lin", "vrest_mV": -70.0, "ehcn_mV": math.inf}, "ehcn_mV"),
    ],
)
def test_insert_biophysics_names_the_bad_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        KB.insert_biophysics(None, **kwargs)
    if name != "biophysics":
        with pytest.raises(ValueError, match=name):
            KB.conductance_table(**kwargs)


def test_insert_biophysics_needs_a_cell():
    with pytest.raises(ValueError, match="cell"):
        KB.insert_biophysics(None, biophysics="lin", vrest_mV=-70.0)


def test_densities_must_cover_every_section_type(build):
    soma_only = {"soma": KB.HAY2011_DENSITIES["soma"]}
    with pytest.raises(ValueError, match="densities"):
        build("E", "lin", -70.0, densities=soma_only)


@pytest.mark.parametrize("field", ["g_pas_S_cm2", "gbar_NaTa_t_S_cm2", "gbar_SKv3_1_S_cm2", "gbar_Ih_S_cm2"])
@pytest.mark.parametrize("bad", [-1e-5, float("nan"), "0.1"])
def test_channel_densities_name_the_bad_field(field, bad):
    values = {"g_pas_S_cm2": 1e-5, "gbar_NaTa_t_S_cm2": 0.0, "gbar_SKv3_1_S_cm2": 0.0, "gbar_Ih_S_cm2": 0.0}
    with pytest.raises(ValueError, match=field):
        KB.ChannelDensities(**{**values, field: bad})
    with pytest.raises(ValueError, match="g_pas_S_cm2"):
        KB.ChannelDensities(**{**values, "g_pas_S_cm2": 0.0})


def test_other_functions_name_the_bad_argument(build):
    for fun in (KB.ih_gate, KB.nata_t_open_probability, KB.skv3_1_open_probability):
        with pytest.raises(ValueError, match="v_mV"):
            fun(float("nan"))
    cell = build("E", "passive", -70.0)
    with pytest.raises(ValueError, match="vrest_mV"):
        KB.make_uniform(cell, vrest_mV=20.0)
    with pytest.raises(ValueError, match="vrest_mV"):
        KB.membrane_conductance_uS(cell, vrest_mV=None)
    with pytest.raises(ValueError, match="steady_state"):
        KB.membrane_conductance_uS(cell, vrest_mV=-70.0, steady_state="yes")
