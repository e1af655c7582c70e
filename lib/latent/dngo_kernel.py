"""DNGO's training steps in C (``dngo_kernel.c``), bit-identical to the NumPy code path, or ``None``.

DNGO's network is tiny (one hidden layer of 128 tanh units, batches of 10),
so NumPy spends most of a fit on the overhead of ~25 calls per Adam step.
``dngo_kernel.c`` does a step in two C calls: the matrix products go to the
BLAS routines NumPy's matmul itself calls for these shapes, in NumPy's own
OpenBLAS; everything else is written out operation by operation in NumPy's
order; the tanh between the two calls stays ``np.tanh``. The library is
compiled once per source version with the system C compiler into
``<cache>/native/`` and checked on load: a small fit through it must give
exactly the parameters of the NumPy path (:meth:`DNGO._adam_numpy`), or the
kernel is not used. No compiler, no NumPy OpenBLAS, a failed check or
``LATENT_NAS_NATIVE=0``: :func:`load` returns ``None`` and DNGO trains with
NumPy, to the same bits, only slower.
"""

from __future__ import annotations

import ctypes
import glob
import hashlib
import os
import platform
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np

from lib.paths import atomic_target, cache_dir

SOURCE = Path(__file__).with_name("dngo_kernel.c")
FLAGS = ["-O3", "-march=native", "-fPIC", "-shared", "-ffp-contract=off", "-fno-fast-math", "-fno-math-errno"]
ENV_VAR = "LATENT_NAS_NATIVE"
_BLAS_NAMES = (("scipy_cblas_dgemm64_", "scipy_cblas_dgemv64_", "scipy_cblas_ddot64_"),)

_LOADED: dict[str, object] = {}


class _Context(ctypes.Structure):
    _fields_ = [
        ("gemm", ctypes.c_void_p), ("gemv", ctypes.c_void_p), ("dot", ctypes.c_void_p),
        ("d", ctypes.c_int64), ("h", ctypes.c_int64),
        ("flat", ctypes.c_void_p), ("grad", ctypes.c_void_p), ("moment", ctypes.c_void_p), ("square", ctypes.c_void_p),
        ("x", ctypes.c_void_p), ("y", ctypes.c_void_p), ("z", ctypes.c_void_p),
        ("out", ctypes.c_void_p), ("delta", ctypes.c_void_p), ("delta1", ctypes.c_void_p),
    ]  # fmt: skip


class Kernel:
    """The compiled library with NumPy's BLAS routines bound; :meth:`train` runs a whole DNGO fit's Adam."""

    def __init__(self, library: ctypes.CDLL, blas: tuple[int, int, int]):
        self.library, self.blas = library, blas
        self._forward, self._step = library.dngo_forward, library.dngo_step
        self._forward.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64]
        self._step.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_double, ctypes.c_double]
        self._forward.restype = self._step.restype = None

    def train(self, flat: np.ndarray, xs: np.ndarray, ys: np.ndarray, hidden: int, epochs: int, batch_size: int,
              lr: float, rng: np.random.Generator) -> None:  # fmt: skip
        """Adam on ``flat = [W1, b1, W2, b2]`` in place, consuming ``rng`` as :meth:`DNGO._adam_numpy` does."""
        n, d = xs.shape
        buffers = dict(grad=np.empty_like(flat), moment=np.zeros_like(flat), square=np.zeros_like(flat),
                       x=np.empty_like(xs), y=np.empty_like(ys), z=np.empty((batch_size, hidden)),
                       out=np.empty(batch_size), delta=np.empty(batch_size), delta1=np.empty((batch_size, hidden)))  # fmt: skip
        context = _Context(*self.blas, d, hidden, flat.ctypes.data,
                           *(buffers[k].ctypes.data for k in ("grad", "moment", "square", "x", "y", "z", "out",
                                                               "delta", "delta1")))  # fmt: skip
        pointer = ctypes.byref(context)
        x_epoch, y_epoch, z = buffers["x"], buffers["y"], buffers["z"]
        batches = [(i, min(batch_size, n - i)) for i in range(0, n, batch_size)]
        activations = {m: z[:m] for _, m in batches}  # the first m rows: contiguous, as the NumPy path's array
        forward, step_fn, tanh, take = self._forward, self._step, np.tanh, np.take
        step = 0
        for _ in range(epochs):
            order = rng.permutation(n)
            take(xs, order, axis=0, out=x_epoch)
            take(ys, order, out=y_epoch)
            for i, m in batches:
                forward(pointer, i, m)
                tanh(activations[m], out=activations[m])
                step += 1
                step_fn(pointer, i, m, lr / (1 - 0.9**step), 1 - 0.999**step)


def _numpy_blas() -> tuple[int, int, int] | None:
    """Addresses of ``dgemm``, ``dgemv`` and ``ddot`` in the OpenBLAS NumPy itself uses, if it is the bundled one."""
    folder = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    for path in sorted(glob.glob(str(folder / "libscipy_openblas*.so*"))):
        library = ctypes.CDLL(path)  # already loaded by NumPy: the same handle
        for names in _BLAS_NAMES:
            try:
                return tuple(ctypes.cast(getattr(library, name), ctypes.c_void_p).value for name in names)
            except AttributeError:
                continue
    return None


def _cpu() -> str:
    """The CPU's model and instruction-set flags: ``-march=native`` code is built per CPU."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    return "|".join(sorted({line for line in lines if line.startswith(("model name", "flags"))}))


def _compile() -> Path | None:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source + " ".join(FLAGS + [compiler, _cpu()]).encode()).hexdigest()[:16]
    target = cache_dir() / "native" / f"dngo_kernel-{digest}.so"
    if not target.exists():
        with atomic_target(target, suffix=".so") as tmp:
            done = subprocess.run([compiler, *FLAGS, "-o", str(tmp), str(SOURCE), "-lm"], capture_output=True,
                                  text=True, timeout=120)  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(done.stderr.strip()[-2000:])
    return target


def _agrees(kernel: Kernel) -> bool:
    """Small fits through the kernel give exactly the NumPy path's parameters (batches of 10, 3 and 1 rows; small
    and arch2vec-sized networks)."""
    from lib.latent.predictors import DNGO

    generator = np.random.default_rng(12345)
    for n, inputs, hidden in ((23, 6, 9), (21, 16, 128)):
        xs, ys = generator.normal(size=(n, inputs)), generator.normal(size=n)
        model = DNGO(hidden=hidden, num_layers=1, epochs=3, batch_size=10)
        flats = []
        for native in (False, True):
            flat = np.random.default_rng(7).uniform(-1, 1, inputs * hidden + 2 * hidden + 1)
            rng = np.random.default_rng(8)
            if native:
                kernel.train(flat, xs, ys, hidden, 3, 10, model.lr, rng)
            else:
                model._adam_numpy(flat, xs, ys, rng)
            flats.append(flat)
        if not np.array_equal(*flats):
            return False
    return True


def load() -> Kernel | None:
    """The checked kernel, compiled on first use; ``None`` where it cannot be built or does not agree."""
    if "kernel" in _LOADED:
        return _LOADED["kernel"]  # type: ignore[return-value]
    kernel = None
    if os.environ.get(ENV_VAR, "1") != "0":
        try:
            blas = _numpy_blas()
            path = _compile() if blas else None
            if path is not None:
                candidate = Kernel(ctypes.CDLL(str(path)), blas)
                if _agrees(candidate):
                    kernel = candidate
                else:
                    warnings.warn("DNGO's C kernel disagrees with NumPy here; DNGO trains with NumPy", stacklevel=2)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            warnings.warn(f"DNGO's C kernel is not available ({exc}); DNGO trains with NumPy", stacklevel=2)
    _LOADED["kernel"] = kernel
    return kernel
