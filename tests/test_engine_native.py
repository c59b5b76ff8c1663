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


def logging_compiler(tmp_path: Path, real: str, refuse_native: bool = False) -> Path:
    """A compiler wrapper that logs every compile (not --version) and may refuse -march=native."""
    log = tmp_path / "compiles.log"
    script = tmp_path / "cxx"
    refuse = 'case "$*" in *-march=native*) echo "no native here" >&2; exit 1;; esac' \
        if refuse_native else ""
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


def test_diagnose_says_which_loop_and_how_to_fix(monkeypatch):
    monkeypatch.setenv("NWAVE_NO_EXTENSION", "1")
    info = native.diagnose()
    assert "NWAVE_NO_EXTENSION" in info["loops"] and "unset NWAVE_NO_EXTENSION" in info["fix"]
    monkeypatch.delenv("NWAVE_NO_EXTENSION")
    monkeypatch.setattr(native, "find_compiler", lambda: None)
    monkeypatch.setattr(native, "_STATE", {"tried": False, "lib": None, "reason": ""})
    info = native.diagnose()
    assert "no C++ compiler" in info["loops"] and "install a C++ compiler" in info["fix"]


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
    real = engine_backward._fused
    monkeypatch.setattr(engine_backward, "_fused",
                        lambda *a, **k: used.append(real(*a, **k)) or used[-1])
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
    assert used == [not isinstance(surrogate, NotAtan)]
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else {}
    torch.testing.assert_close(grads[0], grads[1], **tol)
