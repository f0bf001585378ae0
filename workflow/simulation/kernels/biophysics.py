"""Membrane biophysics of the ball-and-sticks kernel cells: ``lin``, ``frozen``, ``passive``.

The LFP kernels are computed from a linear(ised) version of the active ball-and-sticks cells
of Hagen et al. 2022 (PLOS Comput Biol 18(8): e1010353). The paper's pipeline (the lab's
``ncpi``, following Hagen's LFPykernels examples) offers three membranes, all made to rest
uniformly at the resting potential V_rest:

``lin``
    Hay et al. 2011 channels with Ih *linearised* around V_rest (quasi-active approximation,
    Remme & Rinzel 2011) and every other active channel (NaTa_t, SKv3_1) *frozen* at its
    conductance at V_rest. This is what ncpi computes its kernels with.
``frozen``
    Every active conductance, Ih included, frozen at its value at V_rest: a passive cell with
    extra conductance.
``passive``
    Only the Hay 2011 leak (what the project computed before).

A fourth membrane, :data:`REFERENCE_BIOPHYSICS` (``"dynamic"``: the *dynamic* Ih with NaTa_t
and SKv3_1 frozen, Hagen's ``set_Ih_hay2011``), is the nonlinear cell that ``lin`` linearises.
It is here only to validate ``lin`` (tests/test_kernel_biophysics.py), not for kernels.

Channels and densities (per section type, S/cm2)
------------------------------------------------
==========  =========  =========  ==========  ====================
section     g_pas      NaTa_t     SKv3_1      Ih (gbar)
==========  =========  =========  ==========  ====================
soma        3.38e-5    2.04       0.693       2e-4
dend, apic  5.89e-5    0.0213     0.000261    2e-3 (10 x somatic)
==========  =========  =========  ==========  ====================

These are the Hay 2011 somatic and apical values (``L5PCbiophys3``) as Hagen transferred them
to the ball-and-sticks cells, basal stick included, with Ih set uniformly to ten times the
somatic density on both sticks. Reversal potentials: ehcn = -45 mV; in the ``lin`` and
``frozen`` cells Hagen sets ena = ek = V_rest, so the frozen Na and K channels carry no current
at rest and only add conductance (here: one :data:`FROZEN_MECHANISM` conductance with reversal
V_rest per segment; the Hay leak stays in ``pas``, where ``KernelApprox``'s ``g_eff`` adds the
synaptic conductance). Ra 100 ohm cm and cm 1 uF/cm2 come from the morphology files.

Making the cell uniform
-----------------------
Hagen's ``make_cell_uniform`` initialises the cell at V_rest and sets, per segment,
e_pas = V_rest + I_other / g_pas, where I_other is the segment's non-leak membrane current at
V_rest, so every segment's total membrane current vanishes at V_rest (:func:`make_uniform`).
In the ``passive`` cell this is e_pas = V_rest; in the ``lin`` and ``frozen`` cells the inward
resting Ih pulls e_pas below V_rest (about -16.8 mV on the sticks at the default V_rest of E).
Consequence for integration: a conductance added to g_pas *afterwards* (``g_eff``) moves the
resting potential of the ``lin``/``frozen`` cells towards e_pas (not of ``passive``), as it
does in Hagen's and ncpi's pipeline: with the default g_eff (about 115 nS for E, 51 nS for I,
spread uniformly) the soma settles about 9 mV (E) / 8 mV (I) below V_rest. The membranes are
linear, so the response around the new rest is unchanged; only the relaxation (slowest: the
quasi-active Ih, tau_w = 43 ms) overlaps the kernel if t_X is not several tau_w long.

Equations (written here, from the published rate equations)
-----------------------------------------------------------
* Ih, Kole et al. 2006 as used by Hay et al. 2011: I = gbar w (V - ehcn),
  alpha = 0.00643 (V + 154.9) / (exp((V + 154.9) / 11.9) - 1), beta = 0.193 exp(V / 33.1)
  (1/ms), w_inf = alpha / (alpha + beta), tau_w = 1 / (alpha + beta); no temperature factor
  (``mod/sbi_ih.mod``, mechanism ``SbiIh``).
* Linearised Ih: i = gbar w_inf(V_R) (V - ehcn) + gbar (V_R - ehcn) dw,
  d(dw)/dt = (w_inf'(V_R) (V - V_R) - dw) / tau_w(V_R) (``mod/sbi_ih_lin.mod``, ``SbiIhLin``;
  with ``quasi_active = 0`` the second term is dropped: Ih frozen at gbar w_inf(V_R)).
* NaTa_t (Colbert & Pan 2002 as in Hay 2011), frozen at g = gbar m_inf^3 h_inf with
  m: alpha = 0.182 (V + 38) / (1 - exp(-(V + 38) / 6)), beta = 0.124 (-V - 38) / (1 - exp((V + 38) / 6));
  h: alpha = -0.015 (V + 66) / (1 - exp((V + 66) / 6)), beta = -0.015 (-V - 66) / (1 - exp(-(V + 66) / 6)).
* SKv3_1 (Hay 2011), frozen at g = gbar m_inf, m_inf = 1 / (1 + exp((V - 18.7) / -9.7)).

None of these depends on temperature at steady state (the Q10 of NaTa_t scales only its time
constants), so the membranes are the same at any ``celsius``.

Sources (repository and path; read, not copied)
-----------------------------------------------
* LFPy/LFPykernels ``examples/Hagen_et_al_2022_PLOS_Comput_Biol/example_network_methods.py``:
  ``set_pas_hay2011``, ``set_frozen_hay2011``, ``set_Ih_hay2011``,
  ``set_Ih_linearized_hay2011`` (channels, densities per section, ena = ek = V_rest),
  ``make_cell_uniform`` (e_pas rule); ``.../example_network_kernel.py`` maps ``biophys`` =
  ``pas``/``frozen``/``lin`` to these functions followed by ``make_cell_uniform``;
  ``.../example_network_parameters.py``: the reference network itself uses
  ``set_active_hay2011`` (dynamic Ih, NaTa_t, SKv3_1; ena 50 mV, ek -85 mV).
* LFPy/LFPykernels ``examples/Hagen_et_al_2022_PLOS_Comput_Biol/mod/``: ``Ih.mod`` (Kole 2006
  kinetics, ehcn -45 mV), ``Ih_linearized_v2.mod`` and ``Ih_linearized_v2_frozen.mod`` (the
  linearisation, "linearized by Torbjorn Ness 2013"), ``NaTa_t.mod``/``NaTa_t_frozen.mod``,
  ``SKv3_1.mod``/``SKv3_1_frozen.mod`` (rate equations, gates frozen at V_R).
* LFPy/LFPykernels ``examples/Hagen_et_al_2022_PLOS_Comput_Biol/L5bPCmodelsEH/models/
  L5PCbiophys3_lin.hoc``: Hay 2011's somatic (NaTa_t 2.04, SKv3_1 0.693, Ih 2e-4, g_pas
  3.38e-5) and apical (NaTa_t 0.0213, SKv3_1 0.000261, g_pas 5.89e-5) densities.
* necolab-ugr/ncpi ``ncpi/neuron_utils.py`` (the same functions) and ``ncpi/FieldPotential.py``
  (``create_kernel``: V_rest = median somatic potential of the multicompartment network,
  ``np.median(somav[:, 200:])``); ``examples/simulation/Hagen_model/simulation/python/
  analysis.py``: ``biophys = ['set_Ih_linearized_hay2011', 'make_cell_uniform']``.
* :data:`DEFAULT_VREST_MV` (-70.55 mV E, -69.36 mV I): from the issue (median somatic potential
  of the multicompartment reference network); not recomputed here.

Mechanisms
----------
``SbiIh``, ``SbiIhLin`` and ``SbiFrozenG`` live in ``data/mod`` beside ``Exp2SynI`` and are
compiled and loaded with it by ``ensure_mechanisms`` (its build hash covers every ``.mod``
file of the folder). Units throughout: mV, ms, S/cm2, um2, uS.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

#: Membranes for the kernel cells, in the pipeline's naming.
BIOPHYSICS: tuple[str, ...] = ("lin", "frozen", "passive")

#: Nonlinear reference for validating ``lin``: dynamic Ih, NaTa_t and SKv3_1 frozen.
REFERENCE_BIOPHYSICS = "dynamic"

SECTION_TYPES: tuple[str, ...] = ("soma", "dend", "apic")

#: Median somatic potential (mV) of the multicompartment reference network, per population.
DEFAULT_VREST_MV: Mapping[str, float] = MappingProxyType({"E": -70.55, "I": -69.36})

#: Reversal potential of Ih (mV), Kole et al. 2006 / Hay et al. 2011.
EHCN_MV = -45.0

#: Accepted linearisation points (mV): subthreshold, away from the Ih rate singularity.
VREST_RANGE_MV: tuple[float, float] = (-120.0, -30.0)

IH_MECHANISM = "SbiIh"
IH_LIN_MECHANISM = "SbiIhLin"
FROZEN_MECHANISM = "SbiFrozenG"
MECHANISMS: tuple[str, ...] = (IH_MECHANISM, IH_LIN_MECHANISM, FROZEN_MECHANISM)


@dataclasses.dataclass(frozen=True)
class ChannelDensities:
    """Leak conductance and maximal channel conductances of one section type (S/cm2)."""

    g_pas_S_cm2: float
    gbar_NaTa_t_S_cm2: float
    gbar_SKv3_1_S_cm2: float
    gbar_Ih_S_cm2: float

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"ChannelDensities.{field.name} must be a finite number (S/cm2), got {value!r}")
            if value < 0 or (field.name == "g_pas_S_cm2" and value == 0):
                raise ValueError(
                    f"ChannelDensities.{field.name} must be {'> 0' if field.name == 'g_pas_S_cm2' else '>= 0'}"
                    f" S/cm2, got {value!r}"
                )


_HAY_SOMA = ChannelDensities(3.38e-5, 2.04, 0.693, 2e-4)
_HAY_STICK = ChannelDensities(5.89e-5, 0.0213, 0.000261, 2e-3)

#: Hay 2011 densities on the ball-and-sticks cells, as in Hagen's examples (module docstring).
HAY2011_DENSITIES: Mapping[str, ChannelDensities] = MappingProxyType(
    {"soma": _HAY_SOMA, "dend": _HAY_STICK, "apic": _HAY_STICK}
)


# -- validation ---------------------------------------------------------------------------------


def _check_vrest(vrest_mV: Any) -> float:
    if isinstance(vrest_mV, bool) or not isinstance(vrest_mV, (int, float)) or not math.isfinite(vrest_mV):
        raise ValueError(f"vrest_mV must be a finite number (mV), got {vrest_mV!r}")
    lo, hi = VREST_RANGE_MV
    if not lo <= vrest_mV <= hi:
        raise ValueError(f"vrest_mV must lie in [{lo}, {hi}] mV, got {vrest_mV!r}")
    return float(vrest_mV)


def _check_voltage(name: str, v_mV: Any) -> float:
    if isinstance(v_mV, bool) or not isinstance(v_mV, (int, float)) or not math.isfinite(v_mV):
        raise ValueError(f"{name} must be a finite number (mV), got {v_mV!r}")
    return float(v_mV)


def _check_biophysics(biophysics: Any, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if not isinstance(biophysics, str) or biophysics not in allowed:
        raise ValueError(f"biophysics must be one of {list(allowed)}, got {biophysics!r}")
    return biophysics


def _check_densities(densities: Any) -> Mapping[str, ChannelDensities]:
    if not isinstance(densities, Mapping) or not densities:
        raise ValueError(f"densities must be a non-empty mapping section type -> ChannelDensities, got {densities!r}")
    for key, value in densities.items():
        if not isinstance(value, ChannelDensities):
            raise ValueError(f"densities[{key!r}] must be a ChannelDensities, got {type(value).__name__}")
    return densities


# -- gating at steady state -----------------------------------------------------------------------


def _x_over_expm1(x: float, k: float) -> float:
    """x / (1 - exp(-x / k)), with its limit k at x = 0."""
    if abs(x) < 1e-9 * k:
        return k + x / 2.0
    return x / -math.expm1(-x / k)


def ih_gate(v_mV: float) -> tuple[float, float, float]:
    """Steady state of the Ih gate (Kole 2006 / Hay 2011) and its slope.

    Args:
        v_mV: membrane potential (mV).

    Returns:
        ``(w_inf, dw_inf/dV in 1/mV, tau_w in ms)``, as ``SbiIhLin`` computes them at ``vr``.

    Raises:
        ValueError: if ``v_mV`` is not a finite number.
    """
    v = _check_voltage("v_mV", v_mV)
    a1, a2, k, b1, b2 = 0.00643, 154.9, 11.9, 0.193, 33.1
    u = v + a2
    # alpha = a1 u / (exp(u/k) - 1) = a1 * x/(1 - exp(-x/k)) with x = -u
    a = a1 * _x_over_expm1(-u, k)
    if abs(u) < 1e-6:
        da = -a1 / 2.0
    else:
        e = math.exp(u / k)
        da = a1 * ((e - 1.0) - u * e / k) / (e - 1.0) ** 2
    b = b1 * math.exp(v / b2)
    db = b / b2
    s = a + b
    return a / s, (da * b - a * db) / s**2, 1.0 / s


def nata_t_open_probability(v_mV: float) -> float:
    """Steady-state open probability m_inf^3 h_inf of NaTa_t (Colbert & Pan 2002, Hay 2011).

    Raises:
        ValueError: if ``v_mV`` is not a finite number.
    """
    v = _check_voltage("v_mV", v_mV)
    m_a = 0.182 * _x_over_expm1(v + 38.0, 6.0)
    m_b = 0.124 * _x_over_expm1(-(v + 38.0), 6.0)
    h_a = 0.015 * _x_over_expm1(-(v + 66.0), 6.0)
    h_b = 0.015 * _x_over_expm1(v + 66.0, 6.0)
    m = m_a / (m_a + m_b)
    h = h_a / (h_a + h_b)
    return m**3 * h


def skv3_1_open_probability(v_mV: float) -> float:
    """Steady-state open probability m_inf of SKv3_1 (Hay 2011).

    Raises:
        ValueError: if ``v_mV`` is not a finite number.
    """
    v = _check_voltage("v_mV", v_mV)
    return 1.0 / (1.0 + math.exp((v - 18.7) / -9.7))


def conductance_table(
    vrest_mV: float,
    *,
    biophysics: str,
    densities: Mapping[str, ChannelDensities] = HAY2011_DENSITIES,
    ehcn_mV: float = EHCN_MV,
) -> dict[str, dict[str, float]]:
    """Membrane conductances at rest (S/cm2) per section type and channel, for reporting.

    Channels: ``pas`` (leak), ``NaTa_t`` and ``SKv3_1`` (frozen), ``Ih`` (gbar w_inf, the
    instantaneous part) and ``Ih_quasi_active`` (gbar (V_rest - ehcn) w_inf'(V_rest), the slow
    part that ``lin`` and ``dynamic`` add at steady state), and ``total_dc``, the steady-state
    slope conductance of the membrane at V_rest.

    Args:
        vrest_mV: resting (linearisation) potential (mV).
        biophysics: one of :data:`BIOPHYSICS` or :data:`REFERENCE_BIOPHYSICS`.
        densities: leak and channel densities per section type.
        ehcn_mV: Ih reversal potential (mV).

    Raises:
        ValueError: naming the bad argument.
    """
    vrest = _check_vrest(vrest_mV)
    biophysics = _check_biophysics(biophysics, (*BIOPHYSICS, REFERENCE_BIOPHYSICS))
    densities = _check_densities(densities)
    ehcn = _check_voltage("ehcn_mV", ehcn_mV)
    p_na, p_k = nata_t_open_probability(vrest), skv3_1_open_probability(vrest)
    w_inf, dw_inf, _ = ih_gate(vrest)
    table = {}
    for sec_type, d in densities.items():
        row = {"pas": d.g_pas_S_cm2, "NaTa_t": 0.0, "SKv3_1": 0.0, "Ih": 0.0, "Ih_quasi_active": 0.0}
        if biophysics != "passive":
            row["NaTa_t"] = d.gbar_NaTa_t_S_cm2 * p_na
            row["SKv3_1"] = d.gbar_SKv3_1_S_cm2 * p_k
            row["Ih"] = d.gbar_Ih_S_cm2 * w_inf
            if biophysics != "frozen":
                row["Ih_quasi_active"] = d.gbar_Ih_S_cm2 * (vrest - ehcn) * dw_inf
        row["total_dc"] = sum(row.values())
        table[sec_type] = row
    return table


# -- inserting the membrane ------------------------------------------------------------------------


def _sections(cell: Any) -> list[Any]:
    """The cell's own sections: ``cell.template.all`` (LFPy.TemplateCell) or ``cell.allseclist``."""
    template = getattr(cell, "template", None)
    seclist = getattr(template, "all", None) if template is not None else None
    if seclist is None:
        seclist = getattr(cell, "allseclist", None)
    if seclist is None:
        raise ValueError("cell must be an LFPy cell (with template.all or allseclist)")
    sections = list(seclist)
    if not sections:
        raise ValueError("cell has no sections")
    return sections


def section_type(sec: Any) -> str:
    """Section type of a NEURON section from its name: ``"T[0].apic[0]"`` -> ``"apic"``."""
    return sec.name().rsplit(".", 1)[-1].split("[", 1)[0]


def _insert(sec: Any, mechanism: str) -> None:
    try:
        sec.insert(mechanism)
    except ValueError as err:  # NEURON: "argument not a density mechanism name"
        raise RuntimeError(
            f"NEURON mechanism {mechanism!r} is not loaded: compile and load data/mod first "
            "(ensure_mechanisms, in a process that has not loaded an older build)"
        ) from err


def insert_biophysics(
    cell: Any,
    *,
    biophysics: str,
    vrest_mV: float,
    densities: Mapping[str, ChannelDensities] = HAY2011_DENSITIES,
    ehcn_mV: float = EHCN_MV,
) -> None:
    """LFPy ``custom_fun``: insert the chosen membrane on every section and make it rest at V_rest.

    Every section gets the Hay 2011 leak (``pas``); ``lin``/``frozen``/``dynamic`` add the
    frozen NaTa_t + SKv3_1 conductance (``SbiFrozenG``, reversal V_rest) and Ih: linearised
    at V_rest (``lin``, ``SbiIhLin``), frozen at V_rest (``frozen``, ``SbiIhLin`` with
    ``quasi_active = 0``) or dynamic (``dynamic``, ``SbiIh``). Then :func:`make_uniform`.
    Densities are uniform per section, so the result survives LFPy's later change of ``nseg``.

    Args:
        cell: the LFPy cell being built (``custom_fun`` receives it first).
        biophysics: one of :data:`BIOPHYSICS`, or :data:`REFERENCE_BIOPHYSICS` for validation.
        vrest_mV: resting potential (mV) of every segment, and linearisation point.
        densities: leak and channel densities per section type (S/cm2); must cover every
            section type of the cell.
        ehcn_mV: Ih reversal potential (mV).

    Raises:
        ValueError: naming the bad argument (also a section type missing from ``densities``).
        RuntimeError: if the mechanisms are not loaded.
    """
    biophysics = _check_biophysics(biophysics, (*BIOPHYSICS, REFERENCE_BIOPHYSICS))
    vrest = _check_vrest(vrest_mV)
    densities = _check_densities(densities)
    ehcn = _check_voltage("ehcn_mV", ehcn_mV)
    sections = _sections(cell)
    for sec in sections:
        if section_type(sec) not in densities:
            raise ValueError(f"densities has no entry for section type {section_type(sec)!r} (section {sec.name()})")
    p_na, p_k = nata_t_open_probability(vrest), skv3_1_open_probability(vrest)
    for sec in sections:
        d = densities[section_type(sec)]
        sec.insert("pas")
        sec.g_pas = d.g_pas_S_cm2
        sec.e_pas = vrest
        if biophysics == "passive":
            continue
        _insert(sec, FROZEN_MECHANISM)
        for seg in sec:
            mech = getattr(seg, FROZEN_MECHANISM)
            mech.g = d.gbar_NaTa_t_S_cm2 * p_na + d.gbar_SKv3_1_S_cm2 * p_k
            mech.e = vrest
        if biophysics == REFERENCE_BIOPHYSICS:
            _insert(sec, IH_MECHANISM)
            for seg in sec:
                mech = getattr(seg, IH_MECHANISM)
                mech.gbar = d.gbar_Ih_S_cm2
                mech.ehcn = ehcn
        else:
            _insert(sec, IH_LIN_MECHANISM)
            for seg in sec:
                mech = getattr(seg, IH_LIN_MECHANISM)
                mech.gbar = d.gbar_Ih_S_cm2
                mech.ehcn = ehcn
                mech.vr = vrest
                mech.quasi_active = 1.0 if biophysics == "lin" else 0.0
    make_uniform(cell, vrest_mV=vrest)


def make_uniform(cell: Any, *, vrest_mV: float) -> None:
    """Set e_pas per segment so that every segment's membrane current is zero at V_rest.

    Hagen's ``make_cell_uniform``: initialise at V_rest (``h.finitialize``, which resets the
    state of every cell in this NEURON instance), then e_pas = V_rest + I_other / g_pas with
    I_other the segment's non-leak current. Only ``pas`` and :data:`MECHANISMS` are allowed.

    Args:
        cell: an LFPy cell whose sections carry ``pas``.
        vrest_mV: resting potential (mV).

    Raises:
        ValueError: naming the bad argument (also a section without ``pas`` or with a
            mechanism whose current is not accounted for).
    """
    import neuron

    vrest = _check_vrest(vrest_mV)
    sections = _sections(cell)
    known = {"pas", *MECHANISMS}
    for sec in sections:
        mechs = {m.name() for seg in sec for m in seg}
        if "pas" not in mechs:
            raise ValueError(f"cell: section {sec.name()} has no pas mechanism")
        unknown = mechs - known
        if unknown:
            raise ValueError(
                f"cell: section {sec.name()} carries {sorted(unknown)}, whose current make_uniform ignores"
            )
    neuron.h.finitialize(vrest)
    neuron.h.fcurrent()
    for sec in sections:
        for seg in sec:
            i_other = sum(getattr(seg, m).i for m in MECHANISMS if hasattr(seg, m))  # mA/cm2
            seg.e_pas = vrest + i_other / seg.g_pas


def membrane_conductance_uS(cell: Any, *, vrest_mV: float, steady_state: bool = True) -> float:
    """Total membrane slope conductance (uS) of the cell at rest, from its NEURON segments.

    Sums leak (``g_pas``, including anything added to it later, e.g. ``g_eff``), the frozen
    conductance and Ih over all segments, weighted by segment area. ``steady_state=True``
    includes the quasi-active Ih term (the DC conductance, relevant for input resistance);
    ``False`` gives the instantaneous conductance (Ih gate held; relevant for the fast
    membrane time constant).

    Args:
        cell: an LFPy cell built with :func:`insert_biophysics`.
        vrest_mV: resting potential (mV); the linearisation point of a dynamic ``SbiIh``
            (``SbiIhLin`` uses its own ``vr``).
        steady_state: include the slow (quasi-active) Ih conductance.

    Raises:
        ValueError: naming the bad argument.
    """
    vrest = _check_vrest(vrest_mV)
    if not isinstance(steady_state, bool):
        raise ValueError(f"steady_state must be a bool, got {steady_state!r}")
    total = 0.0  # S/cm2 * um2
    for sec in _sections(cell):
        for seg in sec:
            g = seg.g_pas if hasattr(seg, "pas") else 0.0
            if hasattr(seg, FROZEN_MECHANISM):
                g += getattr(seg, FROZEN_MECHANISM).g
            for name in (IH_LIN_MECHANISM, IH_MECHANISM):
                if not hasattr(seg, name):
                    continue
                mech = getattr(seg, name)
                v0 = mech.vr if name == IH_LIN_MECHANISM else vrest
                w_inf, dw_inf, _ = ih_gate(v0)
                quasi = mech.quasi_active if name == IH_LIN_MECHANISM else 1.0
                g += mech.gbar * w_inf
                if steady_state:
                    g += quasi * mech.gbar * (v0 - mech.ehcn) * dw_inf
            total += g * seg.area()
    return total * 1e-2  # 1 S/cm2 * um2 = 1e-8 S = 1e-2 uS
