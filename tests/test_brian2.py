"""Brian2 backend (workflow.simulation.simulators.brian2_sim) and the NEST/Brian2 cross-check
(workflow.simulation.crosscheck).

Fast tests use the numpy and Cython ("runtime") targets on tiny networks; tests that compile
a C++ standalone project (about half a minute each) are marked slow.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from workflow.contract import PARAM_NAMES, SIMULATORS
from workflow.simulation.network import NetworkParams, make_theta
from workflow.simulation.simulators import SimSettings, rates_from_counts, simulate
from workflow.simulation.simulators.brian2_sim import model as b2model
from workflow.simulation.simulators.brian2_sim import standalone as b2standalone

SHORT = SimSettings(tstop_ms=400.0, transient_ms=100.0, dt_ms=0.0625, threads=1, brian2_target="runtime")
TINY = NetworkParams(scale=0.02)


@pytest.fixture(scope="module", autouse=True)
def standalone_cache(tmp_path_factory):
    """Standalone builds of this module go to a temporary directory, not the user cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv(b2standalone.CACHE_ENV, str(tmp_path_factory.mktemp("brian2-cache")))
    yield
    mp.undo()


def _settings(**kw) -> SimSettings:
    base = dict(
        tstop_ms=SHORT.tstop_ms, transient_ms=SHORT.transient_ms, dt_ms=0.0625, threads=1, brian2_target="runtime"
    )
    base.update(kw)
    return SimSettings(**base)


# --- wiring, drawn in numpy --------------------------------------------------------------


def test_scaled_wiring_follows_the_nest_rules():
    theta = make_theta()
    rng, brian_seed = b2model.streams(11)
    w = b2model.draw_wiring(theta, TINY, 0.0625, rng)
    n_e, n_i = TINY.N["E"], TINY.N["I"]
    assert w.v0_mV.shape == (n_e + n_i,)
    assert np.all(w.v0_mV >= TINY.E_L) and np.all(w.v0_mV < TINY.V_th)
    for pre, offset in (("E", 0), ("I", n_e)):
        # fixed in-degree K = p * N_full(pre) onto every neuron, with multapses, no autapses
        indeg = np.bincount(w.post[pre], minlength=n_e + n_i)
        assert np.all(indeg[:n_e] == TINY.indegree("E", pre)) and np.all(indeg[n_e:] == TINY.indegree("I", pre))
        assert not np.any(w.pre[pre] + offset == w.post[pre])
        assert w.pre[pre].min() >= 0 and w.pre[pre].max() < TINY.N[pre]
        sign = 1 if pre == "E" else -1
        assert np.all(sign * w.weight_pA[pre] > 0)
        steps = w.delay_ms[pre] / 0.0625
        assert np.allclose(steps, np.round(steps)) and w.delay_ms[pre].min() >= TINY.delay_min - 0.0625 / 2
    # weights ~ Normal(J, 0.1|J|): check the E->E pathway's moments
    ee = w.weight_pA["E"][w.post["E"] < n_e]
    assert abs(ee.mean() - theta["J_EE"]) < 0.01 * theta["J_EE"]
    assert abs(ee.std() - 0.1 * theta["J_EE"]) < 0.01 * theta["J_EE"]
    # same seed, same wiring; another seed, another
    w2 = b2model.draw_wiring(theta, TINY, 0.0625, b2model.streams(11)[0])
    assert np.array_equal(w.pre["E"], w2.pre["E"]) and np.array_equal(w.weight_pA["I"], w2.weight_pA["I"])
    assert b2model.streams(11)[1] == brian_seed != b2model.streams(12)[1]


def test_full_scale_wiring_is_bernoulli_without_autapses():
    """Pairwise Bernoulli on a 'full' network (N_full shrunk so the test stays small)."""
    net = NetworkParams(N_full={"E": 400, "I": 100}, n_ext={"E": 465, "I": 160})
    w = b2model.draw_wiring(make_theta(), net, 0.0625, np.random.default_rng(3))
    n_pairs_ee = 400 * 399
    n_ee = int(np.sum(w.post["E"] < 400))
    assert abs(n_ee - 0.2 * n_pairs_ee) < 5 * np.sqrt(n_pairs_ee * 0.16)
    pairs = w.pre["E"].astype(np.int64) * 1000 + w.post["E"]
    assert np.unique(pairs).size == pairs.size  # no multapses
    assert not np.any(w.pre["E"] == w.post["E"])


def test_propagator_is_continuous_where_tau_syn_equals_tau_m():
    exact = b2model.propagator_21(10.0, 10.0, 250.0, 0.1)
    near = b2model.propagator_21(10.0 * (1 + 1e-7), 10.0, 250.0, 0.1)
    assert exact == pytest.approx(0.1 / 250.0 * np.exp(-0.01), rel=1e-12)
    assert near == pytest.approx(exact, rel=1e-6)


def test_too_small_network_is_refused_with_the_population_named():
    with pytest.raises(ValueError, match="population I"):
        b2model.draw_wiring(make_theta(), NetworkParams(scale=0.0005), 0.0625, np.random.default_rng(0))


# --- the neuron model against NEST ---------------------------------------------------------


def test_single_neuron_matches_nest_step_for_step():
    """iaf_psc_exp in Brian2 reproduces NEST's membrane trace and spike steps exactly.

    One E neuron receives a fixed train of excitatory and inhibitory spikes (different
    synaptic time constants) strong enough to fire it repeatedly, so the propagators, the
    refractory clamp, delays and the spike-time convention are all exercised.
    """
    import brian2 as b2
    import nest

    dt, t_stop, delay = 0.0625, 60.0, 1.5
    theta = make_theta({"tau_syn_E": 0.5, "tau_syn_I": 2.0})
    net = NetworkParams(scale=1 / 8192)  # one E and one I neuron
    ex_times = np.round(np.arange(2.0, 40.0, 0.375) / dt) * dt
    in_times = np.round(np.arange(5.0, 40.0, 6.0) / dt) * dt
    w_ex, w_in, v0 = 2000.0, -2000.0, -60.0

    nest.ResetKernel()
    nest.set_verbosity("M_ERROR")
    nest.SetKernelStatus({"tics_per_ms": 1024, "resolution": dt})
    neuron = nest.Create(
        "iaf_psc_exp",
        params={
            "C_m": net.C_m["E"], "tau_m": net.tau_m, "E_L": net.E_L, "V_reset": net.V_reset,
            "V_th": net.V_th, "t_ref": net.t_ref, "tau_syn_ex": theta["tau_syn_E"],
            "tau_syn_in": theta["tau_syn_I"], "I_e": 0.0, "V_m": v0,
        },
    )  # fmt: skip
    for times, weight in ((ex_times, w_ex), (in_times, w_in)):
        gen = nest.Create("spike_generator", params={"spike_times": times.tolist()})
        nest.Connect(gen, neuron, syn_spec={"weight": weight, "delay": delay})
    mm = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": dt})
    rec = nest.Create("spike_recorder")
    nest.Connect(mm, neuron)
    nest.Connect(neuron, rec)
    nest.Simulate(t_stop)
    nest_v = np.asarray(mm.get("events", "V_m"))
    nest_t = np.asarray(mm.get("events", "times"))
    nest_spike_steps = np.round(np.asarray(rec.get("events", "times")) / dt).astype(int) - 1

    b2.start_scope()
    b2.prefs.codegen.target = "numpy"
    clock = b2.Clock(dt=dt * b2.ms)
    group = b2model.neuron_group(net, dt, clock, name="single")
    for name, value in b2model.parameter_values(theta, net, dt).items():
        setattr(group, name, value)
    group.lam_ext = 0.0  # no Poisson drive
    group.V = v0 * b2.mV
    # a NEST spike stamped t was emitted in step t/dt - 1, which Brian2 stamps t - dt
    idx = np.r_[np.zeros(ex_times.size, int), np.ones(in_times.size, int)]
    gen = b2.SpikeGeneratorGroup(2, idx, np.r_[ex_times, in_times] * b2.ms - dt * b2.ms, clock=clock)
    syn = b2.Synapses(
        gen, group, "w : amp", on_pre="I_ex_post += w * int(w > 0 * amp)\nI_in_post += w * int(w < 0 * amp)",
        delay=delay * b2.ms, clock=clock,
    )  # fmt: skip
    syn.connect(i=[0, 1], j=[0, 0])
    syn.w = [w_ex, w_in] * b2.pA
    vmon = b2.StateMonitor(group, "V", record=[0], when="end", clock=clock)
    smon = b2.SpikeMonitor(group[:1])
    b2.Network(gen, group, syn, vmon, smon).run(t_stop * b2.ms, namespace={})
    b2_v = vmon.V[0] / b2.mV
    b2_spike_steps = np.round(np.asarray(smon.t / b2.ms) / dt).astype(int)

    assert nest_spike_steps.size >= 3, "the input should fire the neuron several times"
    np.testing.assert_array_equal(b2_spike_steps, nest_spike_steps)
    # NEST records V after step s at (s + 1) dt, Brian2 (slot 'end') at s dt
    assert np.allclose(nest_t, (np.arange(nest_v.size) + 1) * dt)
    np.testing.assert_allclose(b2_v[: nest_v.size], nest_v, rtol=0, atol=1e-9)
    # and the binning puts both conventions into the same histogram bin
    n_bins = int(round(t_stop / dt))
    counts = b2model._bin_spikes(np.asarray(smon.t_), dt, n_bins)
    nest_idx = np.ceil(np.asarray(rec.get("events", "times")) / dt - 1e-6).astype(int) - 1
    np.testing.assert_array_equal(np.flatnonzero(counts), np.unique(nest_idx))


# --- whole network ---------------------------------------------------------------------------


def test_tiny_network_has_plausible_rates():
    res = simulate(make_theta(), TINY, SHORT, seed=3, simulator="brian2")
    assert set(res.counts) == {"E", "I"} and res.counts["E"].shape == (SHORT.n_bins,)
    assert 1.0 < res.rates_hz["E"] < 30.0 and 1.0 < res.rates_hz["I"] < 40.0
    assert res.rates_hz["I"] > res.rates_hz["E"]  # the best fit's interneurons fire faster
    assert res.rates_hz == rates_from_counts(res.counts, TINY.N, SHORT)
    assert res.simulator == "brian2" and res.n_vp == 1 and not res.aborted and res.t_done_ms == SHORT.tstop_ms


@pytest.mark.parametrize("target", ["numpy", "runtime", pytest.param("cpp_standalone", marks=pytest.mark.slow)])
def test_same_seed_and_target_give_the_same_spikes(target):
    settings = _settings(brian2_target=target)
    a = simulate(make_theta(), TINY, settings, seed=5, simulator="brian2")
    b = simulate(make_theta(), TINY, settings, seed=5, simulator="brian2")
    c = simulate(make_theta(), TINY, settings, seed=6, simulator="brian2")
    assert all(np.array_equal(a.counts[p], b.counts[p]) for p in "EI")
    assert not np.array_equal(a.counts["E"], c.counts["E"])


@pytest.mark.slow
def test_standalone_leaves_the_process_environment_alone(monkeypatch):
    """Brian2 sets LD_BIND_NOW=1 for its binary; later child processes (SLURM daemons) must not inherit it."""
    monkeypatch.delenv("LD_BIND_NOW", raising=False)
    before = dict(os.environ)
    simulate(make_theta(), TINY, _settings(brian2_target="cpp_standalone"), seed=2, simulator="brian2")
    assert dict(os.environ) == before


def test_silent_without_drive():
    res = simulate(make_theta({"J_ext": 1.0}), TINY, SHORT, seed=1, simulator="brian2")
    assert res.rates_hz == {"E": 0.0, "I": 0.0}


def test_runaway_is_stopped_early():
    theta = make_theta({"J_EE": 40.0, "J_IE": 40.0, "J_EI": -0.5, "J_II": -0.5, "J_ext": 80.0})
    settings = _settings(tstop_ms=1000.0, abort_rate_hz=150.0, chunk_ms=50.0)
    res = simulate(theta, TINY, settings, seed=1, simulator="brian2")
    assert res.aborted and res.t_done_ms < 200.0
    assert all(c[int(round(res.t_done_ms / settings.dt_ms)) + 1 :].sum() == 0 for c in res.counts.values())


def test_unknown_target_is_named():
    with pytest.raises(ValueError, match="brian2_target"):
        simulate(make_theta(), TINY, _settings(brian2_target="cuda"), seed=1, simulator="brian2")


@pytest.mark.slow
def test_standalone_compiles_once_and_reruns_with_each_samples_values():
    """Two samples, one compile; the second run uses its own wiring and seed (checked inside
    the backend against the run's synapse arrays) and reproduces the runtime target's spikes."""
    settings = _settings(brian2_target="cpp_standalone", abort_rate_hz=500.0)
    first = simulate(make_theta(), TINY, settings, seed=21, simulator="brian2")
    (model,) = b2standalone._STANDALONE.values()
    second = simulate(make_theta({"J_ext": 35.0}), TINY, settings, seed=22, simulator="brian2")
    assert b2standalone._STANDALONE and next(iter(b2standalone._STANDALONE.values())) is model
    assert second.wall_s < first.wall_s / 3  # no second compile
    runtime = simulate(make_theta({"J_ext": 35.0}), TINY, _settings(abort_rate_hz=500.0), seed=22, simulator="brian2")
    for p in "EI":
        np.testing.assert_array_equal(second.counts[p], runtime.counts[p])


@pytest.mark.slow
def test_standalone_stops_runaway():
    theta = make_theta({"J_EE": 40.0, "J_IE": 40.0, "J_EI": -0.5, "J_II": -0.5, "J_ext": 80.0})
    settings = _settings(brian2_target="cpp_standalone", tstop_ms=1000.0, abort_rate_hz=150.0, chunk_ms=50.0)
    res = simulate(theta, TINY, settings, seed=1, simulator="brian2")
    assert res.aborted and res.t_done_ms < 1000.0


# --- cross-simulator check -------------------------------------------------------------------


def _synthetic_kernels(dt_ms: float, tau_ms: float = 20.0) -> dict[str, np.ndarray]:
    """Causal exponential kernels (lag 0 at the centre); E and I with opposite signs."""
    from workflow.simulation.lfp import presynaptic_kernels

    n = int(round(tau_ms / dt_ms))
    t = np.arange(-n, n + 1) * dt_ms
    causal = np.where(t >= 0, np.exp(-np.clip(t, 0, None) / 3.0), 0.0)
    slow = np.where(t >= 0, np.exp(-np.clip(t, 0, None) / 8.0), 0.0)
    return presynaptic_kernels(
        {"E_to_E": 1e-3 * causal, "E_to_I": 2e-4 * slow, "I_to_E": -4e-3 * slow, "I_to_I": -5e-4 * causal}
    )


def test_crosscheck_small_case_runs_and_agrees_at_the_best_fit():
    from workflow.simulation import crosscheck as cc

    settings = _settings(tstop_ms=700.0, transient_ms=200.0, abort_rate_hz=200.0)
    spec = cc.CrosscheckSpec(
        net=NetworkParams(scale=0.03), settings=settings, kernels_by_pre=_synthetic_kernels(settings.dt_ms),
        decimate=10, n_seeds=3, seed=7, nperseg=128,
    )  # fmt: skip
    best = np.array([[make_theta()[k] for k in PARAM_NAMES]])
    wild = make_theta({"J_EE": 40.0, "J_IE": 40.0, "J_EI": -0.5, "J_II": -0.5, "J_ext": 80.0})
    runaway = np.array([[wild[k] for k in PARAM_NAMES]])
    params, ids = np.vstack([best, runaway]), [0, 1]
    runs = {sim: cc.run_simulator(sim, params, ids, spec) for sim in SIMULATORS}
    df = cc.compare(runs["nest"], runs["brian2"], fmin_hz=5.0, fmax_hz=400.0, rel_tol=0.1)
    assert list(df["sample_id"]) == ids
    best_row, runaway_row = df.iloc[0], df.iloc[1]
    assert best_row["rate_E_agree"] and best_row["rate_I_agree"] and best_row["psd_agree"], best_row.to_dict()
    assert best_row["agree"]
    assert runaway_row["n_aborted_nest"] == 3 and runaway_row["n_aborted_brian2"] == 3 and runaway_row["agree"]
    assert "runaway in both" in runaway_row["note"]
    # distinct network seeds per replicate, the same for both simulators
    assert np.array_equal(runs["nest"].seeds, runs["brian2"].seeds) and np.unique(runs["nest"].seeds).size == 6


def test_crosscheck_flags_a_real_difference(tmp_path):
    """Doubling one simulator's J_ext must fail the check; the table and figure are written."""
    from workflow.simulation import crosscheck as cc

    settings = _settings(tstop_ms=700.0, transient_ms=200.0)
    spec = cc.CrosscheckSpec(
        net=TINY,
        settings=settings,
        kernels_by_pre=_synthetic_kernels(settings.dt_ms),
        decimate=10,
        n_seeds=2,
        seed=3,
        nperseg=128,
    )
    theta = make_theta()
    base = np.array([[theta[k] for k in PARAM_NAMES]])
    shifted = base.copy()
    shifted[0, PARAM_NAMES.index("J_ext")] *= 1.5
    a = cc.run_simulator("brian2", base, [0], spec)
    b = cc.run_simulator("brian2", shifted, [0], spec)
    b.params = a.params  # pretend they are the same draw
    df = cc.compare(a, b, fmin_hz=5.0, fmax_hz=500.0, rel_tol=0.1)
    assert not df.iloc[0]["agree"]
    cc.write_runs(tmp_path / "a.h5", a)
    back = cc.read_runs(tmp_path / "a.h5")
    np.testing.assert_array_equal(back.rates, a.rates)
    assert back.simulator == "brian2" and back.attrs["brian2_target"] == "runtime"
    cc.plot(df, a, back, tmp_path / "fig.png", fmin_hz=5.0, fmax_hz=500.0)
    assert (tmp_path / "fig.png").stat().st_size > 10_000
