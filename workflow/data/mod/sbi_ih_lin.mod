COMMENT
Ih linearised around a fixed potential vr (quasi-active approximation; Remme & Rinzel 2011,
J Comput Neurosci 31:13; as used for the LFP kernels of Hagen et al. 2022, PLoS Comput Biol
18:e1010353). Kinetics of the underlying channel: Kole et al. (2006) as in Hay et al. (2011),
see sbi_ih.mod:

    I(v, w) = gbar w (v - ehcn),   dw/dt = (winf(v) - w) / wtau(v)

First order in v - vr and in the gate deviation dw = w - winf(vr):

    i      = gbar winf(vr) (v - ehcn) + gbar (vr - ehcn) dw
    ddw/dt = (winf'(vr) (v - vr) - dw) / wtau(vr)

The first term is the frozen conductance gbar winf(vr) (reversal ehcn); the second is the
quasi-active part (with winf' < 0 and vr < ehcn a slow extra conductance: it opposes slow
voltage changes). winf(vr), winf'(vr) and wtau(vr) are computed once, in INITIAL, so set vr
before finitialize. quasi_active = 0 drops the second term: the channel is then frozen at
its conductance at vr. At v = vr the current is the resting Ih, gbar winf(vr) (vr - ehcn),
which the cell's leak must balance (workflow/simulation/kernels/biophysics.py: make_uniform).

Written from these equations for this project. Units: S/cm2, mV, ms, mA/cm2.
ENDCOMMENT

NEURON {
    SUFFIX SbiIhLin
    NONSPECIFIC_CURRENT i
    RANGE gbar, ehcn, vr, quasi_active, i, winf, dwinf, wtau
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gbar = 0.0002 (S/cm2) <0, 1e9>
    ehcn = -45 (mV)
    vr = -70 (mV)
    quasi_active = 1 (1) <0, 1>
}

ASSIGNED {
    v (mV)
    i (mA/cm2)
    winf (1)
    dwinf (/mV)
    wtau (ms)
}

STATE {
    dw
}

INITIAL {
    coefficients(vr)
    if (quasi_active == 0) {
        dwinf = 0
    }
    dw = dwinf * (v - vr)  : steady state of the gate deviation at the initial potential
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    i = gbar * (winf * (v - ehcn) + dw * (vr - ehcn))
}

DERIVATIVE states {
    dw' = (dwinf * (v - vr) - dw) / wtau
}

PROCEDURE coefficients(vm (mV)) {
    LOCAL u, e, a, da, b, db
    UNITSOFF
    : alpha(v) = a1 u / (exp(u / k) - 1), u = v + 154.9, k = 11.9, a1 = 0.00643
    : alpha'(v) = a1 ((e - 1) - u e / k) / (e - 1)^2, e = exp(u / k)
    u = vm + 154.9
    if (fabs(u) < 1e-6) {
        a = 0.00643 * 11.9
        da = -0.00643 / 2
    } else {
        e = exp(u / 11.9)
        a = 0.00643 * u / (e - 1)
        da = 0.00643 * ((e - 1) - u * e / 11.9) / ((e - 1) * (e - 1))
    }
    : beta(v) = 0.193 exp(v / 33.1), beta' = beta / 33.1
    b = 0.193 * exp(vm / 33.1)
    db = b / 33.1
    winf = a / (a + b)
    wtau = 1 / (a + b)
    dwinf = (da * b - a * db) / ((a + b) * (a + b))
    UNITSON
}
