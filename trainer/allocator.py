"""Keep freed memory in the process between a step's phases (Linux, glibc's malloc).

A training step frees gigabytes at a time: the sampler's key/value caches, then the
training pass's activations. By default glibc hands a freed top of the heap back to the
kernel, and the next phase takes it back page by page, each page faulted in and zeroed
again: on 2 CPU cores that was 2-3 s of a 18 s GRPO step (``benchmarks/bench_train.py``).
Raising the trim threshold keeps the pages; fixing the mmap threshold at its largest value
stops glibc from moving it, so tensors up to 32 MiB come from the heap, not from fresh
mappings. The peak memory of a step is unchanged; the process simply holds its peak
between steps, as a caching allocator (CUDA's, jemalloc's) does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's upper bound on 64-bit systems
_TRIM_THRESHOLD = 2**31 - 1              # mallopt takes an int


def keep_freed_memory() -> bool:
    """Tune glibc's malloc as above; returns False (and changes nothing) where the C
    library is not glibc or refuses a setting."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it (musl has mallopt as a stub)
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
