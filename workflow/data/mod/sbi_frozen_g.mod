COMMENT
Frozen (voltage-independent) conductance: the active Na and K channels of the kernel cells
held at their open probability at the resting potential (workflow/simulation/kernels/biophysics.py sets
g to the sum of the frozen NaTa_t and SKv3_1 conductances and e to V_rest, so the channels
carry no current at rest and only add conductance, as Hagen et al. 2022 did by setting
ena = ek = V_rest). A second leak, kept apart from pas so that g_pas stays the Hay 2011 leak
(which KernelApprox's g_eff adds the synaptic conductance to).

Written for this project. Units: S/cm2, mV, mA/cm2.
ENDCOMMENT

NEURON {
    SUFFIX SbiFrozenG
    NONSPECIFIC_CURRENT i
    RANGE g, e, i
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    g = 0 (S/cm2) <0, 1e9>
    e = -70 (mV)
}

ASSIGNED {
    v (mV)
    i (mA/cm2)
}

BREAKPOINT {
    i = g * (v - e)
}
