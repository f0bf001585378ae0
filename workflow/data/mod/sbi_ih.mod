COMMENT
Hyperpolarisation-activated cation current Ih with dynamic gating, for the ball-and-sticks
cells of the kernel reference network (workflow/simulation/kernels/biophysics.py uses it only as the
nonlinear reference against which the linearised SbiIhLin is checked).

Kinetics of Kole, Hallermann & Stuart (2006) J Neurosci 26:1677, as used by Hay et al. (2011)
PLoS Comput Biol 7:e1002107 (one activation gate, no inactivation, no temperature scaling):

    i     = gbar w (v - ehcn),            ehcn = -45 mV
    dw/dt = (winf(v) - w) / wtau(v)
    alpha = 0.00643 (v + 154.9) / (exp((v + 154.9) / 11.9) - 1)   (1/ms)
    beta  = 0.193 exp(v / 33.1)                                   (1/ms)
    winf  = alpha / (alpha + beta),  wtau = 1 / (alpha + beta)

Written from these equations for this project. Units: S/cm2, mV, ms, mA/cm2.
ENDCOMMENT

NEURON {
    SUFFIX SbiIh
    NONSPECIFIC_CURRENT i
    RANGE gbar, ehcn, g, i, winf, wtau
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gbar = 0.0002 (S/cm2) <0, 1e9>
    ehcn = -45 (mV)
}

ASSIGNED {
    v (mV)
    i (mA/cm2)
    g (S/cm2)
    winf (1)
    wtau (ms)
}

STATE {
    w
}

INITIAL {
    rates(v)
    w = winf
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar * w
    i = g * (v - ehcn)
}

DERIVATIVE states {
    rates(v)
    w' = (winf - w) / wtau
}

PROCEDURE rates(vm (mV)) {
    LOCAL u, a, b
    UNITSOFF
    u = vm + 154.9
    if (fabs(u) < 1e-6) {
        a = 0.00643 * 11.9  : limit of u / (exp(u / k) - 1) at u = 0 is k
    } else {
        a = 0.00643 * u / (exp(u / 11.9) - 1)
    }
    b = 0.193 * exp(vm / 33.1)
    winf = a / (a + b)
    wtau = 1 / (a + b)
    UNITSON
}
