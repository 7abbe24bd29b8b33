"""Keep freed memory in the process between a step's phases (Linux, glibc's malloc).

A training step frees gigabytes at a time: the sampler's key/value caches, then the
training pass's activations. By default glibc hands a freed top of the heap back to the
kernel, and the next phase takes it back page by page, each page faulted in and zeroed
again: on 2 CPU cores that was 2-3 s of a 18 s GRPO step (``benchmarks/bench_train.py``).
Raising the trim threshold keeps the pages, and turning off glibc's separate mappings for
large blocks (by default every block over 32 MiB at most, such as the LM head's 113 MB
gradient, is a fresh mapping, faulted in page by page each step and unmapped again) puts
every tensor in the heap, where freed blocks are reused. The process then holds its peak
between steps, as a caching allocator (CUDA's, jemalloc's) does; the peak itself is lower,
as a large gradient reuses the heap freed by the activations before it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4           # the number of blocks glibc may map separately: 0, none
_TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int


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
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
