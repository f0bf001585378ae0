COMMENT
Current-based double-exponential synapse, used by lfpykernels.KernelApprox for the
linearised synapses of the kernel reference network (KernelApprox appends "I" to the
conductance mechanism name "Exp2Syn", so the mechanism must be called Exp2SynI).

The NetCon weight is a peak current in nA: KernelApprox sets it to -g (V_rest - E_syn),
with g the peak conductance (uS). A positive weight gives an inward (depolarising) current,
i.e. a negative NONSPECIFIC_CURRENT. The time course is the normalised difference of two
exponentials, rise time constant tau1 < decay time constant tau2, peaking at |weight|.
ENDCOMMENT

NEURON {
    POINT_PROCESS Exp2SynI
    RANGE tau1, tau2, i
    NONSPECIFIC_CURRENT i
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
}

PARAMETER {
    tau1 = 0.1 (ms) <1e-9, 1e9>
    tau2 = 10 (ms) <1e-9, 1e9>
}

ASSIGNED {
    v (mV)
    i (nA)
    peak_norm (1)
}

STATE {
    rise (nA)
    decay (nA)
}

INITIAL {
    LOCAL t_peak
    : keep the two time constants apart so that the peak normalisation stays finite
    if (tau1 / tau2 > 0.9999) {
        tau1 = 0.9999 * tau2
    }
    rise = 0
    decay = 0
    t_peak = (tau1 * tau2) / (tau2 - tau1) * log(tau2 / tau1)
    peak_norm = 1 / (exp(-t_peak / tau2) - exp(-t_peak / tau1))
}

BREAKPOINT {
    SOLVE kinetics METHOD cnexp
    i = -(decay - rise)
}

DERIVATIVE kinetics {
    rise' = -rise / tau1
    decay' = -decay / tau2
}

NET_RECEIVE(weight (nA)) {
    rise = rise + weight * peak_norm
    decay = decay + weight * peak_norm
}
