"""LFP-proxy kernels of the ball-and-sticks reference network (lfpykernels).

The LFP proxy of the point-neuron network is the z-component of the current dipole moment,
predicted by convolving population spike counts with spike-to-signal kernels H_YX. Each kernel
is computed once with :class:`lfpykernels.KernelApprox` from the multicompartment reference
network of Hagen et al. 2022 (PLOS Comput Biol 18(8): e1010353), as in Sandron et al. 2024,
and probed with :class:`lfpykernels.KernelApproxCurrentDipoleMoment`.

Pathways and naming
-------------------
There is one kernel per pathway *pre -> post*: ``E_to_E``, ``E_to_I``, ``I_to_E``, ``I_to_I``.
Hagen's example code indexes its tables ``[pre][post]`` ("<pre>:<post>") while its weight
*names* follow the paper's J_YX convention (post Y, pre X): in Hagen's ``run_pscan.py``
``weight_IE`` is commented "E onto I" and ``weight_EI`` "I onto E", and ``example_network.py``
puts ``weight_IE`` at ``[E][I]``. So the issue's weights map to

    E->E 1.5e-4 uS, E->I 1.25e-4 uS (J_IE), I->E 4.5e-3 uS (J_EI), I->I 2e-3 uS.

The issue's delay list "EE, EI, IE, II" follows Hagen's ``[pre][post]`` table order, so
E->I has 1.4 +- 0.4 ms and I->E 1.3 +- 0.5 ms. Every delay distribution is a normal truncated
below at 0.3 ms (Hagen's I:E entry computes its lower bound with loc 1.4 instead of 1.3, i.e.
truncates at 0.2 ms; we use 0.3 ms throughout, as the issue says). Multapses per connection
are normal distributions truncated to [1, 10] with loc 2 (E presynaptic) or 5 (I presynaptic)
and scale 0.4 (E->E), 0.6 (E->I), 0.9 (I->E), 1.1 (I->I), Hagen's values. Synapses from E
land on apical and basal sticks (not the soma), synapses from I anywhere (soma included).

What a kernel means (normalisation)
-----------------------------------
``KernelApprox`` scales the synaptic input of one representative postsynaptic cell by the
population out-degree K_YX / N_X (K_YX = C_YX N_X N_Y times the mean multapse count). A
kernel is therefore the z current dipole moment (nA um) of the *whole* postsynaptic population
evoked by *one* spike of *one* presynaptic neuron. It must be convolved with the spike count
per time bin (width dt) of the FULL-size presynaptic population (8192 E, 1024 I); a scaled
network's counts are multiplied by N(full)/N(simulated) first (see :mod:`workflow.simulation.lfp`).

Each kernel is a float64 array of length ``2 * round(tau / dt) + 1``; index ``round(tau / dt)``
is lag 0 (the presynaptic spike). Negative lags are zero by construction; so are lags below
the 0.3 ms minimum delay.

Cells: as the paper's pipeline made them (config ``kernels.biophysics``)
----------------------------------------------------------------------
The kernels of Sandron et al. 2024 come from the lab's ``ncpi`` code, which follows Hagen et al.
2022 and LFPykernels' example (necolab-ugr/ncpi ``ncpi/FieldPotential.py`` and
``examples/simulation/Hagen_model/simulation/python/analysis.py``; LFPy/LFPykernels
``examples/Hagen_et_al_2022_PLOS_Comput_Biol/example_network_kernel.py``): ball-and-sticks cells
with Hay et al. 2011 channels, Ih *linearised* around V_rest and Na/K *frozen*, made uniform at
V_rest (``lin``, the default). ``frozen`` freezes Ih too; ``passive`` keeps only the Hay 2011 leak
(soma 3.38e-5 S/cm2, sticks 5.89e-5 S/cm2), this project's kernels before. Membranes, equations
and sources: :mod:`workflow.simulation.kernels.biophysics`; own NMODL in ``data/mod``. Ra
100 ohm cm, cm 1 uF/cm2, 34 degC. Segments follow NEURON's d_lambda rule at 100 Hz (LFPy's
``lambda100``, as in Hagen's examples): 27 segments for E, 11 for I. Before the presynaptic
spike each cell settles for :data:`~workflow.simulation.kernels.compute.SETTLE_MS` (the ``lin``
cell relaxes to a rest below V_rest once ``g_eff`` is added, as in Hagen's pipeline).

``KernelApprox`` linearises the conductance synapses into current synapses (NEURON mechanism
``Exp2SynI``) and, with ``g_eff`` (default on), adds the mean conductance of the recurrent and
external synapses to the leak. ``Exp2SynI`` is not part of NEURON: ``mod/exp2syn_current.mod``
is compiled with ``nrnivmodl`` at run time (only if the mechanism is not loaded yet) into a
per-user cache, ``$SBI_NRNMECH_DIR`` or ``${XDG_CACHE_HOME:-~/.cache}/sbi-cortical-features/
nrnmech/<hash>``, never into the repository; see :func:`ensure_mechanisms`.

Data that could not be downloaded, and how it was derived
---------------------------------------------------------
* Morphologies (``data/ball_and_sticks_{E,I}.hoc``): written here from the geometry of
  Hagen's ball-and-sticks cells. E: soma 30 um x 30 um diameter, basal stick 200 um x 2 um
  downwards, apical stick 1000 um x 3 um upwards. I: soma 30 um x 15 um diameter and two
  200 um x 2 um sticks, one up and one down (symmetric).
* Presynaptic rates nu_X (effective leak through ``g_eff``), config
  ``kernels.presynaptic_rates_hz``: default E 2.571 Hz, I 5.058 Hz, the multicompartment (MC)
  reference network's rates that the paper's pipeline uses (project issue #9, after ncpi and
  Hagen et al. 2022; not recomputed here: the MC network cannot be simulated on this machine's
  budget). The LIF best fit fires at 6.5 / 9.6 Hz, the rates this project used before.
* Resting potentials V_rest (linearisation point of the synapses and Ih, v_init), config
  ``kernels.v_rest_mV``: default E -70.55 mV, I -69.36 mV, the median somatic potential of the MC
  network as ncpi takes it (``np.median(somav)`` in ``FieldPotential.create_kernel``; values from
  project issue #9). ``null`` derives V_rest as before, the steady state of the *passive* cell
  under mean synaptic input, isopotential approximation (:func:`resting_potentials`): about
  -73.6 mV (E) and -73.4 mV (I) at the LIF rates.
* The kernel amplitudes follow V_rest through the synaptic driving force: the I->E kernel of the
  default (-70.55 mV) is 2.2x the old derived one (-73.6 mV); ``results/kernels/sensitivity.png``
  shows what each choice does to the features.
"""

from workflow.simulation.kernels.compute import compute_kernels, kernel_attrs, kernels_from_config, n_lags
from workflow.simulation.kernels.io import KERNELS_FORMAT_VERSION, read_kernels, write_kernels
from workflow.simulation.kernels.mechanisms import ensure_mechanisms
from workflow.simulation.kernels.reference_network import (
    ReferenceNetwork,
    SynapsePlacement,
    resting_potentials,
)

__all__ = [
    "KERNELS_FORMAT_VERSION",
    "ReferenceNetwork",
    "SynapsePlacement",
    "compute_kernels",
    "ensure_mechanisms",
    "kernel_attrs",
    "kernels_from_config",
    "n_lags",
    "read_kernels",
    "resting_potentials",
    "write_kernels",
]
