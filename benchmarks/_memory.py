"""Peak-memory probes for the benchmarks: process RSS on CPU, the caching allocator on CUDA."""

from __future__ import annotations

import resource
import sys

import torch


def _status_kib(field: str) -> int | None:
    """A ``kB`` field of /proc/self/status (Linux only), or None."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_bytes() -> int:
    """Resident set size now (falls back to the peak where /proc is missing)."""
    kib = _status_kib("VmRSS")
    return kib * 1024 if kib is not None else peak_rss_bytes()


def peak_rss_bytes() -> int:
    """Peak resident set size since start, or since the last successful :func:`reset_peak_rss`."""
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    # ru_maxrss is KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; False where unsupported.

    Without a reset, the peak also counts whatever was transient before the measured call.
    """
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


class PeakExtra:
    """Context manager: ``.bytes`` is the peak memory above the level at entry.

    CPU: peak RSS minus RSS at entry (run it in a fresh process, see bench_entropy.py).
    CUDA: ``torch.cuda.max_memory_allocated`` minus the allocation at entry.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.bytes = 0
        self.exact = True  # False where the peak could not be reset at entry

    def __enter__(self) -> PeakExtra:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        else:
            self.exact = reset_peak_rss()
            self._start = rss_bytes()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.bytes = torch.cuda.max_memory_allocated(self.device) - self._start
        else:
            self.bytes = max(0, peak_rss_bytes() - self._start)
