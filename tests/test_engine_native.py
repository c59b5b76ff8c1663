"""The compiled loop's build: one compile for concurrent first uses, remembered failures, pruning."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nwave_core.engine import native

COMPILER = native.find_compiler()
needs_compiler = pytest.mark.skipif(COMPILER is None or os.name == "nt" or native.disabled(),
                                    reason="no C++ compiler, or NWAVE_NO_EXTENSION=1")


def logging_compiler(tmp_path: Path, real: str, refuse_native: bool = False,
                     refuse: str | None = None) -> Path:
    """A compiler wrapper that logs every compile (not --version) and may refuse a flag
    (-march=native with ``refuse_native``)."""
    log = tmp_path / "compiles.log"
    script = tmp_path / "cxx"
    flag = "-march=native" if refuse_native else refuse
    refuse = f'case "$*" in *{flag}*) echo "no {flag} here" >&2; exit 1;; esac' if flag else ""
    script.write_text(f"""#!/bin/sh
if [ "$1" = "--version" ]; then exec {real} --version; fi
echo "$*" >> {log}
{refuse}
exec {real} "$@"
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


@needs_compiler
def test_four_concurrent_first_uses_compile_once(tmp_path):
    cxx = logging_compiler(tmp_path, COMPILER)
    cache = tmp_path / "cache"
    env = {**os.environ, "CXX": str(cxx), "NWAVE_EXTENSION_DIR": str(cache)}
    env.pop("NWAVE_NO_EXTENSION", None)
    code = ("from nwave_core.engine import native; "
            "assert native.load() is not None, native.extension_status(); print('ok')")
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    compiles = (tmp_path / "compiles.log").read_text().splitlines()
    assert len(compiles) == 1, compiles
    assert len(list(cache.glob("nwave_engine_*.so"))) == 1


@needs_compiler
def test_a_refused_native_build_is_remembered(tmp_path):
    cxx = logging_compiler(tmp_path, COMPILER, refuse_native=True)
    cache = tmp_path / "cache"
    native.build(cache, str(cxx))
    first = (tmp_path / "compiles.log").read_text().splitlines()
    assert len(first) == 2 and "-march=native" in first[0] and "-march=native" not in first[1]
    assert len(list(cache.glob("*.failed"))) == 1
    (tmp_path / "compiles.log").unlink()
    for path in cache.glob("nwave_engine_*.so"):  # even with no library cached
        path.unlink()
    native.build(cache, str(cxx))
    again = (tmp_path / "compiles.log").read_text().splitlines()
    assert len(again) == 1 and "-march=native" not in again[0]  # native not tried again


@needs_compiler
def test_the_passes_share_torchs_openmp_pool_and_a_refused_fopenmp_is_remembered(tmp_path):
    # with torch on GNU OpenMP, the library joins its pool (-fopenmp); without, never
    native.load()
    assert ("-fopenmp" in native.diagnose()["flags"]) == native.torch_uses_gnu_openmp()
    if not native.torch_uses_gnu_openmp():
        pytest.skip("torch does not run GNU OpenMP here")
    cxx = logging_compiler(tmp_path, COMPILER, refuse="-fopenmp")
    cache = tmp_path / "cache"
    native.build(cache, str(cxx))
    first = (tmp_path / "compiles.log").read_text().splitlines()
    assert ["-fopenmp" in line for line in first] == [True, True, False]
    assert "-march=native" in first[2]
    assert len(list(cache.glob("*.failed"))) == 2
    (tmp_path / "compiles.log").unlink()
    for path in cache.glob("nwave_engine_*.so"):
        path.unlink()
    native.build(cache, str(cxx))
    again = (tmp_path / "compiles.log").read_text().splitlines()
    assert len(again) == 1 and "-fopenmp" not in again[0]  # -fopenmp not tried again


@needs_compiler
def test_a_build_that_fails_with_every_flag_set_remembers_nothing(tmp_path):
    cxx = logging_compiler(tmp_path, COMPILER, refuse="-O3")  # every compile fails
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="failed"):
        native.build(cache, str(cxx))
    assert not list(cache.glob("*.failed"))  # not the flags' fault: tried again next time


@needs_compiler
def test_old_builds_are_pruned(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    other_version = cache / "nwave_engine_v1_0123456789abcdef.so"
    stale = cache / f"nwave_engine_v{native.EXTENSION_ABI}_fedcba9876543210.so"
    recent = cache / f"nwave_engine_v{native.EXTENSION_ABI}_00000000ffffffff.so"
    unrelated = cache / "notes.txt"
    for path in (other_version, stale, recent, unrelated):
        path.write_text("x")
    old = time.time() - (native.PRUNE_AFTER_DAYS + 1) * 86400
    os.utime(stale, (old, old))
    native.build(cache, COMPILER)
    assert not other_version.exists() and not stale.exists()
    assert recent.exists() and unrelated.exists()
    assert len(list(cache.glob(f"nwave_engine_v{native.EXTENSION_ABI}_*.so"))) == 2


def test_the_source_ships_with_the_package():
    text = native.source_text()
    assert f"nwave_abi_version() {{ return {native.EXTENSION_ABI}; }}" in text
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    shipped = pyproject["tool"]["setuptools"]["package-data"]["nwave_core.engine"]
    assert set(native.SOURCES) <= set(shipped)


def test_diagnose_says_which_loop_and_how_to_fix(monkeypatch):
    monkeypatch.setenv("NWAVE_NO_EXTENSION", "1")
    info = native.diagnose()
    assert "NWAVE_NO_EXTENSION" in info["loops"] and "unset NWAVE_NO_EXTENSION" in info["fix"]
    monkeypatch.delenv("NWAVE_NO_EXTENSION")
    monkeypatch.setattr(native, "find_compiler", lambda: None)
    monkeypatch.setattr(native, "_STATE", {"tried": False, "lib": None, "reason": ""})
    info = native.diagnose()
    assert "no C++ compiler" in info["loops"] and "install a C++ compiler" in info["fix"]


def test_on_windows_doctor_says_exactly_why_the_pure_pytorch_loops_run(monkeypatch):
    monkeypatch.delenv("NWAVE_NO_EXTENSION", raising=False)
    monkeypatch.setattr(native, "find_compiler", lambda: "/usr/bin/g++")
    monkeypatch.setattr(native, "_STATE", {"tried": False, "lib": None, "reason": ""})
    monkeypatch.setattr(native, "on_windows", lambda: True)
    assert native.load() is None
    info = native.diagnose()
    assert info["loops"] == native.WINDOWS_REASON
    assert "cl.exe" in info["loops"] and "dllexport" in info["loops"] and "fcntl" in info["loops"]
    assert "same results" in info["fix"] and "WSL" in info["fix"]


def test_nwave_doctor_names_the_loop_and_the_fix(capsys, monkeypatch):
    from nwave_core.cli import main

    monkeypatch.setenv("NWAVE_NO_EXTENSION", "1")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "loops:" in out and "NWAVE_NO_EXTENSION" in out
    assert "fix:" in out and "compiler:" in out and "cache:" in out
    monkeypatch.delenv("NWAVE_NO_EXTENSION")
    status = main(["doctor"])
    out = capsys.readouterr().out
    assert (status == 0) == ("compiled loop" in out)
    if status == 0:
        assert "flags:" in out and "-O3" in out and "library:" in out


# -- closed-form surrogate kernels -------------------------------------------------------------

import torch  # noqa: E402

from nwave_core.engine import backward as engine_backward  # noqa: E402
from nwave_core.engine import lif_sequence, lif_sequence_reference  # noqa: E402
from nwave_plugins.surrogates import ATan, FastSigmoid, Sigmoid  # noqa: E402


class NotAtan(ATan):
    """Changes grad without declaring a kernel: the Python call must run."""

    def grad(self, x):
        return super().grad(x) * 2


def test_a_kernel_is_used_only_with_its_own_grad():
    assert native.closed_form(ATan(alpha=3.0))[0] == native.CLOSED_FORMS["atan"][0]
    assert native.closed_form(NotAtan()) is None
    assert native.closed_form(ATan(learnable=True)) is not None  # the engine skips it for theta


@needs_compiler
@pytest.mark.parametrize("surrogate", [ATan(alpha=2.0), FastSigmoid(slope=4.0),
                                       Sigmoid(slope=3.0), NotAtan()],
                         ids=["atan", "fast_sigmoid", "sigmoid", "python-grad"])
@pytest.mark.parametrize("reset, detach_reset", [("subtraction", False), ("subtraction", True),
                                                 ("none", False)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_closed_form_backward_equals_the_python_formula(monkeypatch, surrogate, reset,
                                                            detach_reset, dtype):
    monkeypatch.delenv("NWAVE_NO_EXTENSION", raising=False)
    if native.load() is None:
        pytest.skip(native.extension_status())
    used = []
    real = engine_backward._closed_pass
    monkeypatch.setattr(engine_backward, "_closed_pass",
                        lambda *a, **k: used.append(True) or real(*a, **k))
    gen = torch.Generator().manual_seed(6)
    current = (1.5 * torch.randn(3, 40, 9, generator=gen, dtype=torch.float64) + 0.4).to(dtype)
    weights = torch.randn(3, 40, 9, generator=gen, dtype=torch.float64).to(dtype)
    grads = []
    for fn in (lif_sequence, lif_sequence_reference):
        x = current.clone().requires_grad_()
        spikes, mem = fn(x, torch.tensor(0.9, dtype=dtype), 1.0, surrogate, reset=reset,
                         detach_reset=detach_reset)
        ((spikes * weights).sum() + mem.sum()).backward()
        grads.append(x.grad)
    assert len(used) == (0 if isinstance(surrogate, NotAtan) else 1)  # one pass in all
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else {}
    torch.testing.assert_close(grads[0], grads[1], **tol)


def edge_values(dtype: torch.dtype) -> torch.Tensor:
    """A dense sweep around the threshold, the far tails and the IEEE edge values."""
    info = torch.finfo(dtype)
    sweep = torch.linspace(-60, 60, 24001, dtype=torch.float64)
    edges = torch.tensor([0.0, -0.0, info.tiny, -info.tiny, info.tiny / 4, info.eps, -info.eps,
                          1e-3, -1e-3, 1e3, -1e3, 1e10, -1e10, info.max, -info.max,
                          float("inf"), float("-inf"), float("nan")], dtype=torch.float64)
    return torch.cat([sweep, edges]).to(dtype)


@needs_compiler
@pytest.mark.parametrize("surrogate", [ATan(alpha=0.5), ATan(alpha=2.0), ATan(alpha=7.3),
                                       FastSigmoid(slope=1.0), FastSigmoid(slope=25.0),
                                       Sigmoid(slope=3.0), Sigmoid(slope=25.0),
                                       ATan(alpha=3.0, learnable=True)],
                         ids=["atan0.5", "atan2", "atan7.3", "fast_sigmoid1", "fast_sigmoid25",
                              "sigmoid3", "sigmoid25", "atan-learnable"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_each_closed_form_kernel_equals_the_python_grad(monkeypatch, surrogate, dtype):
    """The C++ closed form against the surrogate's Python grad, the single source of truth."""
    monkeypatch.delenv("NWAVE_NO_EXTENSION", raising=False)
    if native.load() is None:
        pytest.skip(native.extension_status())
    x = edge_values(dtype)
    with torch.no_grad():
        expected = surrogate.grad(x).to(dtype)
    got = native.closed_form_values(surrogate, x)
    assert got.dtype == dtype and got.shape == x.shape
    assert torch.equal(torch.isnan(got), torch.isnan(expected))  # NaN in, NaN out
    assert bool((got[~torch.isnan(got)] >= 0).all())
    # a few units in the last place: the kernel's exp and the coefficients' rounding
    ulp = torch.finfo(dtype).eps
    torch.testing.assert_close(got, expected, rtol=8 * ulp, atol=torch.finfo(dtype).tiny,
                               equal_nan=True)


def test_a_surrogate_without_a_kernel_has_no_closed_form_values():
    with pytest.raises(ValueError, match="no compiled closed form"):
        native.closed_form_values(NotAtan(), torch.zeros(3))


@needs_compiler
@pytest.mark.parametrize("surrogate", [ATan(alpha=2.0), Sigmoid(slope=3.0), NotAtan()],
                         ids=["atan", "sigmoid", "python-grad"])
@pytest.mark.parametrize("reset, detach_reset", [("subtraction", False), ("subtraction", True),
                                                 ("none", False)])
@pytest.mark.parametrize("recurrent, learn_beta", [(True, False), (True, True), (False, True)],
                         ids=["recurrent", "recurrent-beta", "beta"])
def test_the_closed_form_per_step_and_per_block_backward_equals_the_reference(
        monkeypatch, surrogate, reset, detach_reset, recurrent, learn_beta):
    """The closed form inside the recurrent per-step calls and the per-block passes (beta's
    gradient), every gradient against the per-step autograd reference."""
    monkeypatch.delenv("NWAVE_NO_EXTENSION", raising=False)
    if native.load() is None:
        pytest.skip(native.extension_status())
    used = []
    real = engine_backward._closed_pass
    monkeypatch.setattr(engine_backward, "_closed_pass",
                        lambda *a, **k: used.append(True) or real(*a, **k))
    monkeypatch.setattr(engine_backward, "BLOCK_ELEMENTS", 4 * 5 * 7)  # several blocks
    gen = torch.Generator().manual_seed(8)
    b, steps, n = 4, 23, 7
    current = (1.5 * torch.randn(b, steps, n, generator=gen, dtype=torch.float64) + 0.4)
    weights = torch.randn(b, steps, n, generator=gen, dtype=torch.float64)
    w_rec = 0.4 * torch.randn(n, n, generator=gen, dtype=torch.float64)
    v0 = torch.randn(b, n, generator=gen, dtype=torch.float64)
    s0 = (torch.rand(b, n, generator=gen) < 0.3).double()
    results = []
    for fn in (lif_sequence, lif_sequence_reference):
        leaves = [current.clone().requires_grad_(),
                  torch.full((n,), 0.9, dtype=torch.float64, requires_grad=learn_beta),
                  w_rec.clone().requires_grad_(), v0.clone().requires_grad_(),
                  s0.clone().requires_grad_()]
        x, beta, w, v, s = leaves
        spikes, mem = fn(x, beta, 1.0, surrogate, reset=reset, detach_reset=detach_reset,
                         recurrent_weight=w if recurrent else None, v0=v,
                         s0=s if recurrent else None)
        ((spikes * weights).sum() + (mem * weights.flip(1)).sum()).backward()
        results.append([p.grad for p in leaves])
    assert bool(used) == (not isinstance(surrogate, NotAtan))
    for got, expected in zip(*results):
        if expected is None:
            assert got is None
        else:
            torch.testing.assert_close(got, expected)


@needs_compiler
def test_the_compiled_passes_give_the_same_bits_on_any_number_of_threads(monkeypatch):
    """Each row is computed alone: the passes split over threads give the same bits (a
    recurrent layer's mm is torch's, whose rounding may depend on the thread count)."""
    monkeypatch.delenv("NWAVE_NO_EXTENSION", raising=False)
    if native.load() is None:
        pytest.skip(native.extension_status())
    gen = torch.Generator().manual_seed(9)
    b, steps, n = 6, 60, 400  # several threads' worth of elements per pass
    current = 1.5 * torch.randn(b, steps, n, generator=gen) + 0.3
    weights = torch.randn(b, steps, n, generator=gen)
    results = []
    threads = torch.get_num_threads()
    try:
        for count in (1, 2, 3):
            torch.set_num_threads(count)
            for surrogate in (ATan(alpha=2.0), NotAtan()):
                x = current.clone().requires_grad_()
                spikes, mem = lif_sequence(x, 0.9, 1.0, surrogate)
                ((spikes * weights).sum() + mem.sum()).backward()
                results.append((count, spikes, mem, x.grad))
    finally:
        torch.set_num_threads(threads)
    for i, (count, *tensors) in enumerate(results):
        reference = results[i % 2]
        for got, expected in zip(tensors, reference[1:]):
            assert torch.equal(got, expected), f"{count} threads"


@pytest.mark.parametrize("b, steps", [(1, 1), (3, 1), (1, 7), (4, 9)])
def test_the_recurrent_weight_gradient_in_one_mm_is_the_sum_over_steps(b, steps):
    gen = torch.Generator().manual_seed(10)
    s = (torch.rand(b, steps, 5, generator=gen) < 0.4).double()
    gu = torch.randn(b, steps, 5, generator=gen, dtype=torch.float64)
    expected = sum((s[:, t].t() @ gu[:, t + 1] for t in range(steps - 1)),
                   torch.zeros(5, 5, dtype=torch.float64))
    got = engine_backward._weight_grad(s, gu)
    torch.testing.assert_close(got, expected)
    if steps == 1:
        assert torch.equal(got, torch.zeros(5, 5, dtype=torch.float64))


def test_the_one_mm_weight_gradient_does_not_cancel_a_large_first_step():
    """A gradient far larger at step 0 than elsewhere (a loss on early outputs): float32 keeps
    the float64 sum to float32 rounding, with no subtraction of boundary pairs to cancel."""
    gen = torch.Generator().manual_seed(3)
    s = (torch.rand(64, 100, 64, generator=gen) < 0.3).float()
    gu = torch.randn(64, 100, 64, generator=gen) * 1e-3
    gu[:, 0] = torch.randn(64, 64, generator=gen) * 10
    expected = torch.einsum("bti,btj->ij", s[:, :-1].double(), gu[:, 1:].double())
    got = engine_backward._weight_grad(s, gu).double()
    assert ((got - expected).norm() / expected.norm()).item() < 1e-5
