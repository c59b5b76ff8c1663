"""nwave against its peers on the reference workload of the spec (performance.md), in one run.

Entry point::

    bash benchmarks/install_peers.sh  # snnTorch, SpikingJelly, Norse (each optional), torch kept
    python benchmarks/bench_peers.py [--steps 100 500] [--repeat 15] [--retries 2]
                                     [--no-memory] [--no-recurrent] [--only NAME ...]
                                     [--json results.json]

Workload: ``700 -> Linear -> LIF(256) -> Linear -> LIF(20)``, batch 32, T = 100 and 500,
Bernoulli input (p = 0.05), beta = 0.95 (tau 20 ms at dt 1 ms), threshold 1.0, subtraction
reset, atan surrogate (alpha 2), loss = sum of output spikes, float32, CPU,
``torch.set_num_threads(2)``; the same weights (no biases) for every implementation. A second
table adds recurrent weights ``[256, 256]`` on the hidden layer.

Rows (each in its fastest idiomatic CPU form; the notes printed under the tables, and
docs/benchmarks.md, list every deviation from the workload):

* ``proxy``: the floor: the two input matmuls (forward and backward) plus one elementwise pass
  per layer, nothing else (recurrent table: plus the T recurrent matmuls, forward and backward);
* ``nwave layers``: ``LIFSynapse -> LIFLayer(spike_grad=atan()) -> ...``, batch-first
  ``[B, T, N]``, ``prepare_net`` before each batch, as a user runs them; the same with the
  compiled loop switched off (``NWAVE_NO_EXTENSION=1``: the pure-PyTorch fallback);
* ``nwave engine``: the dense ``x @ W`` then ``nwave_core.engine.lif_sequence`` directly
  (the layers' synapses take the event-driven product instead: the difference between the
  two rows);
* ``snnTorch`` ``Leaky`` (recurrent: ``RLeaky``), the matmul hoisted out of the time loop;
* ``SpikingJelly`` multi-step ``LIFNode`` (``step_mode='m'``, its registered CPU operator);
* ``Norse`` ``LIFBoxCell`` lifted over time (``Lift``); recurrent: ``LIFRecurrent``.

Timing: forward (autograd on, as in training) and forward+backward, median over ``--repeat``
rounds after two warm-up rounds (a variant slower than one second runs one round in three); the
variants run in interleaved rounds so that a load coming and going on the machine touches all of
them alike. Ratios are to the proxy of the same run;
only they compare across machines. A row whose spread (75th / 25th percentile) exceeds 1.25 is
flagged ``*``; a table with a flagged row is timed again (``--retries``), keeping the least
disturbed run. Other processes on the machine still show: re-run when it is busy.

Peak memory: each variant runs again in a fresh subprocess (build the model and input, then
three forward+backward passes); the column is the peak resident set of those passes (``VmHWM``
of /proc/self/status, reset just before them) minus the resident set just before them, in MiB:
what the training step itself adds on top of the interpreter, torch, the model and the input.
(Not ``ru_maxrss``: Linux carries it over fork and exec, so a child of the benchmark process
would report the parent's peak.)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

N_IN, N_HID, N_OUT, BATCH = 700, 256, 20, 32
P_INPUT, BETA, THRESHOLD, ALPHA, DT = 0.05, 0.95, 1.0, 2.0, 1e-3
THREADS = 2
#: a variant slower than this (forward+backward, seconds) runs one round in three
SLOW_S = 1.0
#: a spread (75th / 25th percentile) above this flags a disturbed measurement
DISTURBED = 1.25


# -- the shared workload -------------------------------------------------------------------------


@dataclass
class Workload:
    steps: int
    recurrent: bool
    x: Tensor  # [B, T, N_IN] batch-first
    w1: Tensor  # [N_IN, N_HID]: current = x @ w1
    w2: Tensor  # [N_HID, N_OUT]
    w_rec: Tensor | None  # [N_HID, N_HID]: recurrent input = s_prev @ w_rec

    @property
    def x_time_first(self) -> Tensor:
        return self.x.transpose(0, 1).contiguous()


def make_workload(steps: int, recurrent: bool, seed: int = 0) -> Workload:
    gen = torch.Generator().manual_seed(seed)

    def uniform(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=gen) * 2 - 1

    # a scale at which both layers spike at a few percent (as benchmarks/bench_engine.py)
    w1 = uniform(N_IN, N_HID) * (4.0 / math.sqrt(N_IN))
    w2 = uniform(N_HID, N_OUT) * (2.0 / math.sqrt(N_HID))
    w_rec = uniform(N_HID, N_HID) / math.sqrt(N_HID) if recurrent else None
    x = torch.bernoulli(torch.full((BATCH, steps, N_IN), P_INPUT), generator=gen)
    return Workload(steps, recurrent, x, w1, w2, w_rec)


@dataclass
class Runner:
    """One implementation built on one workload."""

    forward: Callable[[], tuple[Tensor, Tensor]]  # (hidden spikes, output spikes)
    params: list[Tensor]
    env: dict[str, str] = field(default_factory=dict)

    def loss(self) -> tuple[Tensor, Tensor, Tensor]:
        s1, s2 = self.forward()
        return s2.sum(), s1, s2

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _param(t: Tensor) -> nn.Parameter:
    return nn.Parameter(t.detach().clone())


# -- the implementations ---------------------------------------------------------------------


class _RecurrentMatmuls(torch.autograd.Function):
    """The recurrent floor: ``a[:, t] @ W`` for every step (T matmuls ``[B, N] x [N, N]``);
    backward: ``g[:, t] @ W^T`` for every step (T matmuls) and one matmul for ``W``'s gradient,
    as a recurrent layer's backward needs at least."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, weight: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(a, weight)
        out = torch.empty_like(a)
        for a_t, out_t in zip(a.unbind(1), out.unbind(1)):
            torch.mm(a_t, weight, out=out_t)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        a, weight = ctx.saved_tensors
        grad = grad.contiguous()
        grad_a = torch.empty_like(a)
        weight_t = weight.t()
        for g_t, out_t in zip(grad.unbind(1), grad_a.unbind(1)):
            torch.mm(g_t, weight_t, out=out_t)
        n = a.shape[-1]
        return grad_a, a.reshape(-1, n).t() @ grad.reshape(-1, n)


def build_proxy(w: Workload) -> Runner:
    w1, w2 = _param(w.w1), _param(w.w2)
    w_rec = _param(w.w_rec) if w.recurrent else None

    def forward() -> tuple[Tensor, Tensor]:
        a1 = w.x @ w1  # the matmul and one elementwise pass per layer
        if w_rec is not None:  # plus the T recurrent matmuls (forward and backward)
            a1 = a1 + _RecurrentMatmuls.apply(a1, w_rec)
        a1 = a1 * 0.5
        return a1, (a1 @ w2) * 0.5

    return Runner(forward, [p for p in (w1, w2, w_rec) if p is not None])


def build_nwave_layers(w: Workload, compiled: bool = True) -> Runner:
    from nwave_core.neurons import prepare_net
    from nwave_plugins.layers import LIFLayer, LIFSynapse
    from nwave_plugins.surrogates import atan

    tau = -DT / math.log(BETA)  # beta = exp(-dt / tau) = 0.95
    topology = "RC" if w.recurrent else "FF"
    model = nn.Sequential(
        LIFSynapse(N_IN, N_HID),
        LIFLayer(N_HID, taus=tau, thresholds=THRESHOLD, reset_mechanism="subtraction", dt=DT,
                 spike_grad=atan(ALPHA), layer_topology=topology),
        LIFSynapse(N_HID, N_OUT),
        LIFLayer(N_OUT, taus=tau, thresholds=THRESHOLD, reset_mechanism="subtraction", dt=DT,
                 spike_grad=atan(ALPHA)))
    with torch.no_grad():
        model[0].weight.copy_(w.w1)
        model[2].weight.copy_(w.w2)
        if w.recurrent:
            model[1].recurrent_weights.copy_(w.w_rec)

    def forward() -> tuple[Tensor, Tensor]:
        prepare_net(model)  # once per batch: fresh state
        s1 = model[1](model[0](w.x))
        return s1, model[3](model[2](s1))

    env = {} if compiled else {"NWAVE_NO_EXTENSION": "1"}
    return Runner(forward, list(model.parameters()), env)


def build_nwave_engine(w: Workload) -> Runner:
    from nwave_core.engine import lif_sequence
    from nwave_plugins.surrogates import ATan

    w1, w2 = _param(w.w1), _param(w.w2)
    w_rec = _param(w.w_rec) if w.recurrent else None
    surrogate = ATan(ALPHA)

    def forward() -> tuple[Tensor, Tensor]:
        s1, _ = lif_sequence(w.x @ w1, BETA, THRESHOLD, surrogate, reset="subtraction",
                             recurrent_weight=w_rec)
        s2, _ = lif_sequence(s1 @ w2, BETA, THRESHOLD, surrogate, reset="subtraction")
        return s1, s2

    return Runner(forward, [p for p in (w1, w2, w_rec) if p is not None])


def _linear(weight: Tensor, cls: type = nn.Linear, **kwargs: Any) -> nn.Linear:
    """A bias-free linear layer computing ``x @ weight``."""
    layer = cls(weight.shape[0], weight.shape[1], bias=False, **kwargs)
    with torch.no_grad():
        layer.weight.copy_(weight.t())
    return layer


def build_snntorch(w: Workload) -> Runner:
    import snntorch as snn
    from snntorch import surrogate

    x = w.x_time_first  # snnTorch's convention: time first
    fc1, fc2 = _linear(w.w1), _linear(w.w2)
    options = {"beta": BETA, "threshold": THRESHOLD, "spike_grad": surrogate.atan(alpha=ALPHA),
               "reset_mechanism": "subtract", "reset_delay": False}
    if w.recurrent:
        lif1 = snn.RLeaky(linear_features=N_HID, all_to_all=True, **options)
        with torch.no_grad():
            lif1.recurrent.weight.copy_(w.w_rec.t())
            lif1.recurrent.bias.zero_()
    else:
        lif1 = snn.Leaky(**options)
    lif2 = snn.Leaky(**options)
    params = [*fc1.parameters(), *fc2.parameters(), *lif1.parameters()]

    def forward() -> tuple[Tensor, Tensor]:
        cur1 = fc1(x)  # all steps at once: the matmul hoisted out of the loop
        spk1 = []
        if w.recurrent:
            spk, mem = lif1.reset_mem()
            for cur in cur1.unbind(0):
                spk, mem = lif1(cur, spk, mem)
                spk1.append(spk)
        else:
            mem = lif1.reset_mem()
            for cur in cur1.unbind(0):
                spk, mem = lif1(cur, mem)
                spk1.append(spk)
        s1 = torch.stack(spk1)
        cur2 = fc2(s1)
        mem, spk2 = lif2.reset_mem(), []
        for cur in cur2.unbind(0):
            spk, mem = lif2(cur, mem)
            spk2.append(spk)
        return s1, torch.stack(spk2)

    return Runner(forward, params)


def build_spikingjelly(w: Workload) -> Runner:
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    if w.recurrent:
        raise NotImplementedError("no recurrent LIF in SpikingJelly's multi-step path")
    x = w.x_time_first  # multi-step modules take [T, B, ...]

    def lif() -> nn.Module:
        # H = V - V / tau + X: tau = 20 gives beta = 0.95; v_reset=None: subtraction (soft) reset
        return neuron.LIFNode(tau=1.0 / (1.0 - BETA), decay_input=False, v_threshold=THRESHOLD,
                              v_reset=None, surrogate_function=surrogate.ATan(alpha=ALPHA),
                              detach_reset=False, step_mode="m")

    net = nn.Sequential(_linear(w.w1, layer.Linear, step_mode="m"), lif(),
                        _linear(w.w2, layer.Linear, step_mode="m"), lif())

    def forward() -> tuple[Tensor, Tensor]:
        functional.reset_net(net)
        s1 = net[1](net[0](x))
        return s1, net[3](net[2](s1))

    return Runner(forward, list(net.parameters()))


def build_norse(w: Workload) -> Runner:
    import norse.torch as norse
    from norse.torch.functional.reset import reset_subtract

    x = w.x_time_first  # Norse's convention: time first
    tau_mem_inv = (1.0 - BETA) / DT  # v += dt * tau_mem_inv * (i - v): beta = 0.95
    # Norse integrates dt * tau_mem_inv * i: the input current is scaled by 1 / (1 - beta) so
    # that the membrane sees the same v = 0.95 v + I
    scale = 1.0 / (1.0 - BETA)
    if w.recurrent:
        # LIFRecurrent: current-based LIF; tau_syn_inv = 1 / dt empties the current each step,
        # leaving v = 0.95 v + I (+ recurrent); its input weights are applied step by step
        p = norse.LIFParameters(tau_syn_inv=torch.as_tensor(1.0 / DT),
                                tau_mem_inv=torch.as_tensor(tau_mem_inv),
                                v_th=torch.as_tensor(THRESHOLD), v_reset=torch.as_tensor(0.0))
        hidden = norse.LIFRecurrent(N_IN, N_HID, p=p, dt=DT, autapses=True,
                                    input_weights=(w.w1.t() * scale).contiguous(),
                                    recurrent_weights=(w.w_rec.t() * scale).contiguous())
        fc1 = None
    else:
        fc1 = _linear(w.w1 * scale)
        hidden = norse.Lift(norse.LIFBoxCell(_box_params(tau_mem_inv, reset_subtract), dt=DT))
    fc2 = _linear(w.w2 * scale)
    out = norse.Lift(norse.LIFBoxCell(_box_params(tau_mem_inv, reset_subtract), dt=DT))
    params = [*hidden.parameters(), *fc2.parameters()]
    if fc1 is not None:
        params += list(fc1.parameters())

    def forward() -> tuple[Tensor, Tensor]:
        s1, _ = hidden(fc1(x) if fc1 is not None else x)
        s2, _ = out(fc2(s1))
        return s1, s2

    return Runner(forward, params)


def _box_params(tau_mem_inv: float, reset_method: Any) -> Any:
    import norse.torch as norse

    return norse.LIFBoxParameters(tau_mem_inv=torch.as_tensor(tau_mem_inv),
                                  v_th=torch.as_tensor(THRESHOLD),
                                  v_reset=torch.as_tensor(0.0), reset_method=reset_method)


@dataclass
class Variant:
    name: str
    build: Callable[[Workload], Runner]
    package: str | None = None  # the optional package it needs
    recurrent: bool = True  # whether it runs the recurrent table


VARIANTS = [
    Variant("proxy (matmuls + 1 elementwise pass)", build_proxy),
    Variant("nwave layers (LIFSynapse/LIFLayer)", build_nwave_layers),
    Variant("nwave layers, pure-PyTorch loop", lambda w: build_nwave_layers(w, compiled=False)),
    Variant("nwave engine (lif_sequence), dense x @ W", build_nwave_engine),
    Variant("snnTorch Leaky / RLeaky", build_snntorch, "snntorch"),
    Variant("SpikingJelly LIFNode multi-step", build_spikingjelly, "spikingjelly",
            recurrent=False),
    Variant("Norse LIFBoxCell lifted / LIFRecurrent", build_norse, "norse"),
]

NOTES = [
    ("All rows share the weights and the input; the `spikes` column (hidden / output rate at "
     "the largest T) shows the workloads agree."),
    ("nwave: `LIFLayer(taus=-dt/ln 0.95)` (beta = 0.95 up to float32 rounding of exp), threshold "
     "1, subtraction reset, `atan()` surrogate (alpha 2); spike when v >= threshold."),
    ("nwave, pure-PyTorch loop: the same layers with `NWAVE_NO_EXTENSION=1` (the fallback when no "
     "C++ compiler is available; the synapses then take the dense product too)."),
    ("nwave layers: the synapses compute `x @ W` event-driven for spike input "
     "(`nwave_core.engine.synaptic_current`: only the nonzero inputs' weight rows are added, "
     "forward and weight gradient); the engine row takes the dense `x @ W`, so the two rows "
     "differ by that product."),
    ("snnTorch: `Leaky(beta=0.95, reset_mechanism='subtract', reset_delay=False)`, "
     "`surrogate.atan(alpha=2)`, time-first input, the input matmul over all steps, the loop over "
     "`cur.unbind(0)`; spikes when v > threshold (strict); recurrent: `RLeaky(all_to_all=True)` "
     "whose recurrent `nn.Linear` has a bias (kept at zero, trained)."),
    ("SpikingJelly: `LIFNode(tau=20, decay_input=False, v_reset=None)`: v = v - v/tau + x "
     "(beta = 0.95, rounded differently), soft (subtraction) reset, `surrogate.ATan(alpha=2)`, "
     "`step_mode='m'`, `layer.Linear(step_mode='m')`; 2.0 has no `backend` argument: on CPU it "
     "dispatches to its registered operator (a per-step torch loop). No recurrent LIF in its "
     "multi-step path: not in the recurrent table."),
    ("Norse: `Lift(LIFBoxCell)` (Norse 1.1 has no multi-step LIFBox module) with "
     "`tau_mem_inv = 50/s`, `reset_method=reset_subtract`; Norse integrates "
     "dt*tau_mem_inv*(i - v), so the input weights are scaled by 20 for the same "
     "v = 0.95 v + I; surrogate SuperSpike "
     "(`method='super'`, alpha 100: no atan in Norse). Recurrent: `LIFRecurrent` (current-based "
     "LIF; `tau_syn_inv = 1/dt` empties the current every step, so v = 0.95 v + I + rec), reset "
     "to zero (its only reset, hence its lower spike rates), input weights applied inside the "
     "time loop (Norse's recurrent modules own their input weights). `Lift` indexes `x[ts]` at "
     "every step of a tensor that requires grad: its backward grows with T^2."),
    ("proxy: `(x @ W1) * 0.5`, `(. @ W2) * 0.5`, sum: the matmuls every implementation runs, "
     "plus one elementwise pass per layer. Recurrent table: the proxy adds the T recurrent "
     "matmuls [32, 256] x [256, 256] forward, T backward and one for the recurrent weights' "
     "gradient (the floor of any recurrent layer), and an addition."),
]


def available(variant: Variant) -> bool:
    if variant.package is None:
        return True
    try:
        importlib.metadata.version(variant.package)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# -- timing --------------------------------------------------------------------------------------


@dataclass
class Result:
    fwd: list[float] = field(default_factory=list)
    fwd_bwd: list[float] = field(default_factory=list)
    rates: tuple[float, float] | None = None
    memory_mib: float | None = None
    error: str | None = None

    @staticmethod
    def _median(xs: list[float]) -> float:
        return 1e3 * statistics.median(xs)

    @staticmethod
    def _spread(xs: list[float]) -> float:
        q = statistics.quantiles(xs, n=4)
        return q[2] / q[0]

    def summary(self) -> dict[str, Any]:
        if self.error:
            return {"error": self.error}
        return {"fwd_ms": self._median(self.fwd), "fwd_bwd_ms": self._median(self.fwd_bwd),
                "spread_fwd": self._spread(self.fwd),
                "spread_fwd_bwd": self._spread(self.fwd_bwd),
                "rates": self.rates, "memory_mib": self.memory_mib}


def worst_spread(results: dict[str, Result]) -> float:
    """The largest 75th / 25th percentile ratio over the rows: how disturbed a run was."""
    return max((Result._spread(xs) for r in results.values() if not r.error
                for xs in (r.fwd, r.fwd_bwd) if len(xs) >= 4), default=1.0)


def time_once(runner: Runner, backward: bool) -> float:
    runner.zero_grad()
    with runner.environment():
        start = time.perf_counter()
        loss, _, _ = runner.loss()
        if backward:
            loss.backward()
        return time.perf_counter() - start


def bench(steps: int, recurrent: bool, variants: list[Variant], repeat: int
          ) -> dict[str, Result]:
    workload = make_workload(steps, recurrent)
    runners: dict[str, Runner] = {}
    results: dict[str, Result] = {}
    for v in variants:
        results[v.name] = Result()
        try:
            runners[v.name] = v.build(workload)
        except Exception as error:  # noqa: BLE001 - reported in the table
            results[v.name].error = f"{type(error).__name__}: {error}"
    for name, runner in runners.items():
        with torch.no_grad(), runner.environment():
            _, s1, s2 = runner.loss()
        results[name].rates = (float(s1.float().mean()), float(s2.float().mean()))
    for round_ in range(-2, repeat):  # two warm-up rounds
        for name, runner in runners.items():
            done = results[name].fwd_bwd
            if round_ >= 1 and round_ % 3 and done and statistics.median(done) > SLOW_S:
                continue  # a slow variant: one round in three (at least 5 when repeat >= 15)
            fwd, fwd_bwd = time_once(runner, False), time_once(runner, True)
            if round_ >= 0:
                results[name].fwd.append(fwd)
                results[name].fwd_bwd.append(fwd_bwd)
    return results


# -- peak memory, one fresh process per variant ------------------------------------------------


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_child(name: str, steps: int, recurrent: bool) -> None:
    """Peak resident set of three forward+backward passes, over the RSS before them.

    The peak is ``VmHWM`` (the high-water mark of this address space), reset to the current RSS
    just before the passes where the kernel allows it (``/proc/self/clear_refs``).
    ``ru_maxrss`` would do the same in a process started fresh from a shell, but Linux carries
    it over fork and exec, so a child of this (large) process would report the parent's peak.
    """
    torch.set_num_threads(THREADS)
    variant = next(v for v in VARIANTS if v.name == name)
    runner = variant.build(make_workload(steps, recurrent))
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    before = _status_kib("VmRSS")
    for _ in range(3):
        time_once(runner, backward=True)
    peak = _status_kib("VmHWM")
    print(json.dumps({"peak_mib": peak / 1024, "delta_mib": (peak - before) / 1024}))


def measure_memory(name: str, steps: int, recurrent: bool) -> float | None:
    if not sys.platform.startswith("linux"):
        return None  # /proc/self/status: Linux
    command = [sys.executable, os.path.abspath(__file__), "--memory-child", name, str(steps),
               "1" if recurrent else "0"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        print(f"memory of {name!r} failed: {result.stderr.strip()[-500:]}", file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])["delta_mib"]


# -- report --------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from nwave_core.engine import extension_status

    return {"date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "cpu": cpu, "cores": str(os.cpu_count()), "threads": str(torch.get_num_threads()),
            "python": platform.python_version(), "torch": torch.__version__,
            "snntorch": version("snntorch"), "spikingjelly": version("spikingjelly"),
            "norse": version("norse"), "nwave engine": extension_status()}


def table(results: dict[int, dict[str, Result]], steps: list[int]) -> str:
    proxy = VARIANTS[0].name
    head = ["implementation"]
    for s in steps:
        head += [f"T={s} fwd ms (x proxy)", f"T={s} fwd+bwd ms (x proxy)"]
    head += [f"peak MiB T={s}" for s in steps] + [f"spikes T={steps[-1]}"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for name in results[steps[0]]:
        cells = [name]
        for s in steps:
            r, p = results[s][name], results[s][proxy]
            if r.error:
                cells += ["-", "-"]
                continue
            flags = []
            for kind in ("fwd", "fwd_bwd"):
                value = Result._median(getattr(r, kind))
                base = Result._median(getattr(p, kind))
                spread = Result._spread(getattr(r, kind))
                flags.append(f"{value:.1f} ({value / base:.2f})"
                             + ("*" if spread > DISTURBED else ""))
            cells += flags
        for s in steps:
            m = results[s][name].memory_mib
            cells.append("-" if m is None else f"{m:.0f}")
        rates = results[steps[-1]][name].rates
        cells.append("-" if rates is None or name == proxy else
                     f"{rates[0]:.3f} / {rates[1]:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    parser.add_argument("--no-recurrent", action="store_true", help="skip the recurrent table")
    parser.add_argument("--only", nargs="+", default=None,
                        help="run only the variants whose name contains one of these words "
                             "(the proxy always runs)")
    parser.add_argument("--retries", type=int, default=2,
                        help="re-run a table whose spread flags a disturbed measurement, up to "
                             "this many times, keeping the least disturbed run")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--memory-child", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    if args.memory_child:
        name, steps, recurrent = args.memory_child
        memory_child(name, int(steps), recurrent == "1")
        return

    variants = [v for v in VARIANTS if v is VARIANTS[0] or args.only is None
                or any(word.lower() in v.name.lower() for word in args.only)]
    missing = [v.name for v in variants if not available(v)]
    variants = [v for v in variants if available(v)]
    info = machine()
    print(" | ".join(f"{k}: {v}" for k, v in info.items()))
    for name in missing:
        print(f"skipped (not installed; bash benchmarks/install_peers.sh): {name}")
    report: dict[str, Any] = {"machine": info, "tables": {}}
    for recurrent in ([False] if args.no_recurrent else [False, True]):
        label = "recurrent hidden layer" if recurrent else "feed-forward"
        chosen = [v for v in variants if v.recurrent or not recurrent]
        results: dict[int, dict[str, Result]] = {}
        for steps in args.steps:
            best, best_spread = None, math.inf
            for attempt in range(args.retries + 1):
                print(f"timing {label}, T={steps} ...", file=sys.stderr, flush=True)
                run = bench(steps, recurrent, chosen, args.repeat)
                spread = worst_spread(run)
                if spread < best_spread:
                    best, best_spread = run, spread
                if spread <= DISTURBED:
                    break
                print(f"  disturbed (worst spread {spread:.2f})"
                      + (", re-running" if attempt < args.retries else ""), file=sys.stderr)
            results[steps] = best
            if not args.no_memory:
                for v in chosen:
                    if not results[steps][v.name].error:
                        results[steps][v.name].memory_mib = measure_memory(v.name, steps,
                                                                           recurrent)
        print(f"\n### {label}\n")
        print(table(results, args.steps))
        for steps in args.steps:
            for name, r in results[steps].items():
                if r.error:
                    print(f"\n{name} (T={steps}): {r.error}")
        report["tables"][label] = {str(s): {n: r.summary() for n, r in results[s].items()}
                                   for s in args.steps}
    print("\n`*`: spread (75th / 25th percentile) above 1.25: a disturbed measurement, re-run.")
    print("peak MiB: peak resident set (VmHWM) of a fresh process running three forward+backward "
          "passes, minus its resident set before the first one.\n")
    print("Notes:")
    for note in NOTES:
        print(f"- {note}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
