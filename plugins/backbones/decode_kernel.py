"""The Qwen2 backbone's fused decode step for CPU, compiled from ``qwen2_decode.cpp`` on first use.

A decode step at a few rows reads every weight matrix once and does little arithmetic besides. In
PyTorch it costs about 340 small ops and one oneDNN matmul per matrix, whose one-row kernels stream
weights at about half the machine's read bandwidth. The kernel runs all layers in one call, reading
each matrix row by row in place (no copy of the weights) for up to eight batch rows at once, and
splits the rows between PyTorch's threads. It also reads bf16 or int8 copies of the matrices
(``Qwen2Backbone.set_decode_weights``): half or a quarter of the bytes. On the 2-core development
machine a batch-1 step of the ``small`` model takes 5.7 ms in fp32 (the PyTorch path: 9.5), 3.3 in
bf16 and 2.1 in int8, and a batch-8 step 9.5 ms (PyTorch: 14.8); ``bench/decode.py`` measures them
against the time plain streaming reads of the weights take.

It is built with ``torch.utils.cpp_extension`` (a C++ compiler and ninja, which ``make install``
provides) for this CPU (``-march=native``) into PyTorch's extension cache (``TORCH_EXTENSIONS_DIR``),
once per source, compiler flags and CPU. Where the build fails the backbone keeps its PyTorch path
and warns once. ``LAURA_DECODE_KERNEL=0`` turns the kernel off.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import platform
import warnings
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("qwen2_decode.cpp")
# OpenMP: at::parallel_for uses PyTorch's own thread pool, and omp simd with -fno-math-errno lets GCC use
# glibc's vector expf (libmvec).
FLAGS = ["-O3", "-march=native", "-fopenmp", "-fno-math-errno"]
MAX_ROWS = 8  # up to here each weight row is read once for every row of the batch (beyond: oneDNN's matmuls)


def enabled() -> bool:
    return os.environ.get("LAURA_DECODE_KERNEL", "1") != "0"


def _cpu_signature() -> str:
    """What -march=native compiles for: the CPU model and its flags."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "\n".join(sorted({line for line in lines if line.startswith(("model name", "flags"))}))
    except OSError:
        return platform.processor() or platform.machine()


@functools.cache
def load():
    """``torch.ops.laura_qwen2`` (``decode_step``, ``head_rows``), built first if need be; None where
    the kernel is turned off or cannot be built here."""
    if not enabled():
        return None
    # Importing cpp_extension logs a warning about CUDA on machines without it; not ours to show.
    log = logging.getLogger("torch.utils.cpp_extension")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        from torch.utils.cpp_extension import load as build
    finally:
        log.setLevel(level)
    key = hashlib.sha256("\n".join([SOURCE.read_text(), *FLAGS, _cpu_signature(), torch.__version__]).encode())
    try:
        build(name=f"laura_qwen2_decode_{key.hexdigest()[:12]}", sources=[str(SOURCE)], extra_cflags=FLAGS,
              extra_ldflags=["-fopenmp", "-lmvec"], is_python_module=False, verbose=False)
    except (RuntimeError, OSError, ImportError) as e:
        detail = str(e)[-2000:]  # the end of a compiler's output says what went wrong
        warnings.warn(f"qwen2: the fused CPU decode step could not be built, so decoding runs the PyTorch "
                      f"path (about 1.7x slower at batch 1); it needs a C++ compiler and ninja. {detail}")
        return None
    return torch.ops.laura_qwen2
