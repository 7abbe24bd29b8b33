"""What every benchmark records with its figures: the CPU and how loaded the machine was."""

from __future__ import annotations

import os
import platform


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages, or None where the OS has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def cpu_info() -> dict:
    """CPU model and the vector extensions that set the CPU figures (Linux /proc/cpuinfo)."""
    model, flags = None, set()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model is None:
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {
        "cpu_model": model or platform.processor() or platform.machine(),
        "cpu_flags": [f for f in ("avx512f", "avx512_bf16", "avx2") if f in flags],
        "cpu_count": os.cpu_count(),
    }
