"""The optional compiled loops: build the C++ sources (``engine.cpp``, ``events.cpp``) into one
library on first use, cache it, load it with ctypes.

The library is built with the system's C++ compiler (``$CXX``, ``c++``, ``g++`` or ``clang++``)
into the first usable of ``$NWAVE_EXTENSION_DIR``, ``~/.cache/nwave/engine`` (or
``$XDG_CACHE_HOME/nwave/engine``) and a directory of this user's in the temporary directory.

- Builds take a file lock on the directory, so concurrent first uses (several processes) compile
  once; the others wait and load the cached file.
- ``-march=native`` is tried first (about 3x faster loops with AVX2 / AVX-512; the file is then
  cached per CPU). When torch's threads are GNU OpenMP (its runtime loaded in the process),
  ``-fopenmp`` is added: the passes that split their rows over threads then run on torch's own
  OpenMP pool. With their own threads they would compete for the cores with torch's workers,
  which keep spinning for a while after every parallel torch operation (docs/benchmarks.md
  measures the difference; clang gets ``-fopenmp=libgomp``). When the compiler refuses a flag set and a
  plainer one builds, a marker file remembers the refusal, and later processes go straight to
  the next one, down to the portable build (when every set fails, nothing is remembered).
- Libraries of other versions, and any not used for
  [`PRUNE_AFTER_DAYS`][nwave_core.engine.native.PRUNE_AFTER_DAYS], are deleted after a build.
  Loading a cached library refreshes its time stamp.

Without a compiler, on Windows, when the build fails (one ``RuntimeWarning``) or with
``NWAVE_NO_EXTENSION=1``, [`kernels`][nwave_core.engine.native.kernels] returns None and the engine
runs its pure-PyTorch loops. [`extension_status`][nwave_core.engine.native.extension_status] and
[`diagnose`][nwave_core.engine.native.diagnose] say which loops run and why.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = ["closed_form_values", "diagnose", "extension_status", "kernels", "ptr"]

#: the version the library reports (bumped with every change of its functions' signatures)
EXTENSION_ABI = 9
#: ``reset`` as the compiled loop's code
RESET_CODES = {"zero": 0, "subtraction": 1, "none": 2}
#: compiler flags: no -ffast-math and no FMA contraction, so the forward rounds as torch does
EXTENSION_FLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-ffp-contract=off", "-pthread")
#: tried first; the library is then cached per CPU
NATIVE_FLAGS = ("-march=native",)
#: added when torch's threads are GNU OpenMP: the compiled passes share torch's thread pool
OPENMP_FLAGS = ("-fopenmp",)
#: cached libraries unused for this long are deleted after a build
PRUNE_AFTER_DAYS = 30
#: every file this module writes in the cache directory starts with this
PREFIX = "nwave_engine_"

#: why Windows runs the pure-PyTorch loops (what ``nwave doctor`` prints)
WINDOWS_REASON = ("not supported on Windows: the build runs a GCC/Clang command line "
                  "(-shared -fPIC -ffp-contract=off -pthread) that MSVC's cl.exe does not take, "
                  "its exports lack the __declspec(dllexport) an MSVC DLL needs, and the cache "
                  "lock is POSIX (fcntl): pure-PyTorch loops")

_STATE: dict[str, Any] = {"tried": False, "lib": None, "reason": "not built yet"}
_LOCK = threading.Lock()
_DTYPE_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}


#: the C++ sources, shipped as package data next to this module; the .cpp files are compiled
#: into one library
SOURCES = ("parallel.h", "engine.cpp", "events.cpp")


def source_texts() -> dict[str, str]:
    """Each C++ source file's text, by file name."""
    package = resources.files(__package__)
    return {name: package.joinpath(name).read_text(encoding="utf-8") for name in SOURCES}


def source_text() -> str:
    """The C++ sources as one text (what a cached library's name is a hash of)."""
    return "".join(f"// {name}\n{text}" for name, text in source_texts().items())


def on_windows() -> bool:
    """Whether this is Windows, where the compiled loop is not built (`WINDOWS_REASON` says why)."""
    return os.name == "nt"


def disabled() -> bool:
    """Whether ``NWAVE_NO_EXTENSION`` asks for the pure-PyTorch loops."""
    return os.environ.get("NWAVE_NO_EXTENSION", "").strip().lower() not in ("", "0", "false",
                                                                               "no")


def find_compiler() -> str | None:
    """The C++ compiler the build uses: ``$CXX``, then ``c++``, ``g++``, ``clang++``."""
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name:
            path = shutil.which(name)
            if path:
                return path
    return None


def cache_dirs() -> list[Path]:
    """Where the compiled library is cached, in order of preference."""
    configured = os.environ.get("NWAVE_EXTENSION_DIR")
    if configured:
        return [Path(configured)]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    user = os.getuid() if hasattr(os, "getuid") else "user"
    return [Path(cache) / "nwave" / "engine",
            Path(tempfile.gettempdir()) / f"nwave-engine-{user}"]


def _cpu_signature() -> str:
    """The CPU model and feature flags: a library built with -march=native is cached per CPU."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = [line for line in f if line.startswith(("model name", "flags", "Features"))]
        return "".join(sorted(set(lines)))
    except OSError:
        return platform.processor()


@contextlib.contextmanager
def _file_lock(directory: Path) -> Iterator[None]:
    """An exclusive lock on ``directory/.lock`` across processes (a no-op without fcntl)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(directory / f".{PREFIX}lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _library_path(directory: Path, source: str, compiler: str, version: str,
                  flags: tuple[str, ...], native: bool) -> Path:
    key = hashlib.sha256("\0".join([source, compiler, version, *flags, platform.machine(),
                                    sys.platform, _cpu_signature() if native else ""]).encode())
    return directory / f"{PREFIX}v{EXTENSION_ABI}_{key.hexdigest()[:16]}.so"


def _prune(directory: Path, keep: set[Path]) -> None:
    """Delete libraries of other versions and those unused for PRUNE_AFTER_DAYS."""
    cutoff = time.time() - PRUNE_AFTER_DAYS * 86400
    current = f"{PREFIX}v{EXTENSION_ABI}_"
    for path in directory.glob(f"{PREFIX}*"):
        if path in keep or path.name == f".{PREFIX}lock" or path.is_dir():
            continue
        with contextlib.suppress(OSError):
            if not path.name.startswith(current) or path.stat().st_mtime < cutoff:
                path.unlink()


def build(directory: Path, compiler: str) -> ctypes.CDLL:
    """Compile (unless cached) and load the library in ``directory``; raises on any failure.

    Raises:
        OSError: the directory is unusable (the caller tries the next one).
        RuntimeError: the compiler failed with every set of flags, or the file is not this
            version's library.
    """
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True,
                             timeout=60, check=True).stdout
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if hasattr(os, "getuid") and directory.stat().st_uid != os.getuid():
        raise PermissionError(f"{directory} belongs to another user")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(f"{directory} is not writable")
    texts = source_texts()
    source = source_text()
    errors: list[str] = []
    library: Path | None = None
    refused: list[tuple[Path, str]] = []  # remembered once a plainer set builds
    with _file_lock(directory):
        for extra in _flag_sets(version):
            flags = (*EXTENSION_FLAGS, *extra)
            candidate = _library_path(directory, source, compiler, version, flags,
                                      NATIVE_FLAGS[0] in extra)
            failed = candidate.with_suffix(".failed")
            if candidate.exists():
                library = candidate
                with contextlib.suppress(OSError):
                    os.utime(candidate)  # in use: not pruned
                break
            if failed.exists():  # this compiler refused these flags before: not again
                errors.append(failed.read_text(errors="replace"))
                continue
            with tempfile.TemporaryDirectory(dir=directory, prefix=PREFIX) as tmp:
                for name, text in texts.items():
                    (Path(tmp) / name).write_text(text)
                units = [str(Path(tmp) / name) for name in texts if name.endswith(".cpp")]
                built = Path(tmp) / candidate.name
                result = subprocess.run([compiler, *flags, *units, "-o", str(built)],
                                        capture_output=True, text=True, timeout=300,
                                        check=False)
                if result.returncode == 0:
                    os.replace(built, candidate)  # atomic: readers see a whole file or none
                    library = candidate
                    _prune(directory, {candidate})
                    break
            message = f"{compiler} {' '.join(flags)} failed:\n{result.stderr.strip()[-2000:]}"
            errors.append(message)
            if extra:
                refused.append((failed, message))
        if library is not None:  # a plainer set built: the failures were the flags' doing
            for failed, message in refused:
                failed.write_text(message)
    if library is None:
        raise RuntimeError("\n".join(errors))
    lib = ctypes.CDLL(str(library))
    if lib.nwave_abi_version() != EXTENSION_ABI:
        raise RuntimeError(f"{library} is not this version's library")
    _declare(lib)
    _STATE.update(library=str(library), compiler=compiler, flags=" ".join(flags))
    return lib


def torch_uses_gnu_openmp() -> bool:
    """Whether torch's intra-op threads are an OpenMP pool whose runtime is loaded in this
    process's global scope (``GOMP_parallel`` resolves): a library built with ``-fopenmp``
    then runs its parallel regions on that same pool."""
    if "parallel backend: OpenMP" not in torch.__config__.parallel_info():
        return False
    try:
        return hasattr(ctypes.CDLL(None), "GOMP_parallel")
    except OSError:
        return False


def _flag_sets(version: str) -> list[tuple[str, ...]]:
    """The flags added to EXTENSION_FLAGS, in the order they are tried (``version``: the
    compiler's ``--version`` text; clang is asked for GNU OpenMP, not its own runtime)."""
    openmp: tuple[str, ...] = ()
    if torch_uses_gnu_openmp():
        openmp = ("-fopenmp=libgomp",) if "clang" in version.lower() else OPENMP_FLAGS
    sets = [(*NATIVE_FLAGS, *openmp), openmp, NATIVE_FLAGS, ()]
    return list(dict.fromkeys(sets))


def _declare(lib: ctypes.CDLL) -> None:
    i64, p, i32, f64 = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int, ctypes.c_double
    for name in _DTYPE_SUFFIX.values():
        signatures = {
            "forward": [i64, i64, i64, p, i64, i64, p, i64, p, i64, p, i64, p, i64, p, p, p, i64,
                        i64, i32, i32, f64, i32],
            "shift": [i64, i64, i64, p, i64, i64, p, i64, i64, p, i64, p, i64, i64, i32],
            "block": [i64, i64, i64, p, i32, p, p, i64, i64, p, i64, i64, p, i64, p, i64, p, i64,
                      p, i64, i64, i64, p, i64, i32],
            "fused": [i64, i64, i64, p, i64, i64, p, i64, i64, p, i64, p, i64, p, i64, i64, p, i64,
                      i64, p, i64, p, i64, i64, p, i64, i32, i32, f64, f64, i32],
            "closed_form": [i32, f64, f64, p, p, i64],
            "event_matmul": [i64, i64, i64, p, i64, p, p, i32],
            "event_weight_grad": [i64, i64, i64, p, i64, p, i64, p, i64, i32],
        }
        for function, argtypes in signatures.items():
            symbol = getattr(lib, f"nwave_{function}_{name}")
            symbol.argtypes = argtypes
            symbol.restype = None
        counter = getattr(lib, f"nwave_count_nonzero_{name}")
        counter.argtypes, counter.restype = [i64, p, i64, i32], i64


def load() -> ctypes.CDLL | None:
    """The compiled library, built on first use (once per process); None when unavailable."""
    if _STATE["tried"]:
        return _STATE["lib"]
    with _LOCK:
        if not _STATE["tried"]:
            lib, reason = None, "built and loaded"
            compiler = find_compiler()
            if on_windows():
                reason = WINDOWS_REASON
            elif compiler is None:
                reason = "no C++ compiler found (CXX, c++, g++, clang++): pure-PyTorch loops"
            else:
                error: Exception | None = None
                for directory in cache_dirs():
                    try:
                        lib = build(directory, compiler)
                        _STATE["directory"] = str(directory)
                        break
                    except OSError as dir_error:  # this directory is unusable: the next one
                        error = dir_error
                    except Exception as build_error:  # noqa: BLE001 - the fallback
                        error = build_error
                        break
                if lib is None:
                    reason = f"build failed, pure-PyTorch loops: {error}"
                    warnings.warn(f"nwave engine: the compiled loop is unavailable ({reason})",
                                  RuntimeWarning, stacklevel=3)
            _STATE.update(tried=True, lib=lib, reason=reason)
    return _STATE["lib"]


def extension_status() -> str:
    """Which loops the engine runs on CPU (float32/float64), and why.

    Builds the compiled loop if that has not been tried yet in this process.
    """
    if disabled():
        return "disabled by NWAVE_NO_EXTENSION: pure-PyTorch loops"
    lib = load()
    return f"compiled loop ({_STATE['reason']})" if lib is not None else str(_STATE["reason"])


def diagnose() -> dict[str, str]:
    """What ``nwave doctor`` prints about the engine: the loops, why, and how to fix it."""
    status = extension_status()
    compiler = find_compiler()
    info = {"loops": status,
            "compiler": compiler or "none found (CXX, c++, g++, clang++)",
            "cache": _STATE.get("directory") or ", ".join(map(str, cache_dirs())),
            "library": _STATE.get("library", "-"),
            "flags": _STATE.get("flags", "-")}
    if disabled():
        info["fix"] = "unset NWAVE_NO_EXTENSION to use the compiled loop"
    elif _STATE["lib"] is None:
        if on_windows():
            info["fix"] = ("none on Windows yet; the pure-PyTorch loops give the same results "
                           "(slower); under WSL (Linux) the compiled loop builds with g++")
        elif compiler is None:
            info["fix"] = "install a C++ compiler (e.g. apt install g++) or set CXX"
        else:
            info["fix"] = ("check the compiler error above; set NWAVE_EXTENSION_DIR to a "
                           "writable directory, or CXX to another compiler")
    elif "-march=native" not in info["flags"]:
        info["note"] = ("the compiler refused -march=native (remembered in the cache); delete "
                        "the cache's *.failed file to try again")
    elif torch_uses_gnu_openmp() and "-fopenmp" not in info["flags"]:
        info["note"] = ("the compiler refused -fopenmp (remembered in the cache): the compiled "
                        "passes start their own threads, which compete with torch's OpenMP "
                        "workers; install the compiler's OpenMP support (libgomp) and delete "
                        "the cache's *.failed file")
    return info


def kernels(*tensors: Tensor | None) -> tuple[Any, Any, Any, Any] | None:
    """``(forward, shift, block, fused)`` of the compiled library for these tensors' dtype, or None.

    None unless every tensor is on the CPU in one dtype of float32/float64 and the library
    is available (and not disabled).
    """
    first = tensors[0]
    if first.device.type != "cpu" or first.dtype not in _DTYPE_SUFFIX or disabled():
        return None
    if any(x is not None and (x.dtype != first.dtype or x.device.type != "cpu")
           for x in tensors):
        return None
    lib = load()
    if lib is None:
        return None
    suffix = _DTYPE_SUFFIX[first.dtype]
    return (getattr(lib, f"nwave_forward_{suffix}"), getattr(lib, f"nwave_shift_{suffix}"),
            getattr(lib, f"nwave_block_{suffix}"), getattr(lib, f"nwave_fused_{suffix}"))


#: closed-form surrogate gradients of engine.cpp: a surrogate's ``kernel`` name -> (the C++
#: KIND, its coefficients (c0, c1) from the surrogate's parameters)
CLOSED_FORMS: dict[str, tuple[int, Any]] = {
    "atan": (1, lambda p: (p["alpha"] / 2, math.pi / 2 * p["alpha"])),
    "fast_sigmoid": (2, lambda p: (p["slope"], 0.0)),
    "sigmoid": (3, lambda p: (p["slope"], 0.0)),
}


def closed_form(surrogate: Any) -> tuple[int, float, float] | None:
    """``(kind, c0, c1)`` when the surrogate declares a closed-form kernel the compiled backward
    evaluates in place, else None (the Python ``grad`` is called).

    Only while the declaring class's own ``grad`` is the one that runs: a subclass that
    changes ``grad`` without declaring its own kernel keeps the Python call.
    """
    cls = type(surrogate)
    for owner in cls.__mro__:
        name = owner.__dict__.get("kernel")
        if name:
            if name not in CLOSED_FORMS or cls.grad is not owner.__dict__.get("grad"):
                return None
            kind, coefficients = CLOSED_FORMS[name]
            c0, c1 = coefficients(surrogate.params())
            return kind, float(c0), float(c1)
    return None


def closed_form_values(surrogate: Any, x: Tensor) -> Tensor:
    """The surrogate's closed-form kernel evaluated by the compiled library on ``x`` (CPU,
    float32/float64), for the tests against its Python ``grad``.

    Raises:
        ValueError: the surrogate declares no kernel, or the library is unavailable.
    """
    closed = closed_form(surrogate)
    lib = load() if not disabled() else None
    if closed is None or lib is None or x.dtype not in _DTYPE_SUFFIX:
        raise ValueError(f"no compiled closed form for {surrogate!r} on {x.dtype}: "
                         f"{extension_status()}")
    x = x.detach().contiguous()
    out = torch.empty_like(x)
    kind, c0, c1 = closed
    getattr(lib, f"nwave_closed_form_{_DTYPE_SUFFIX[x.dtype]}")(kind, c0, c1, ptr(x), ptr(out),
                                                                 x.numel())
    return out


def ptr(x: Tensor | None, offset: int = 0) -> int | None:
    """The address of ``x``'s data (plus ``offset`` elements), or None."""
    return None if x is None else x.data_ptr() + offset * x.element_size()
