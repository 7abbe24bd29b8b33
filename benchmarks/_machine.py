"""What every benchmark records with its figures: the CPU and how loaded the machine was."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages, or None where the OS has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


# Settings that make torch, MKL and oneDNN use older vector instructions than the CPU has:
# with all three at AVX2, an AVX-512 machine runs the kernels an AVX2-only CPU would.
ISA_LIMITS = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA")


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
        "isa_limits": {name: os.environ[name] for name in ISA_LIMITS if os.environ.get(name)},
    }


def cpu_label(machine: dict) -> str:
    """'AMD EPYC (avx512f, avx2)', plus the instruction limits in force, for a table's header."""
    label = f"{machine['cpu_model']} ({', '.join(machine['cpu_flags']) or 'no AVX2'})"
    limits = machine.get("isa_limits")
    if limits:
        label += ", kernels limited by " + " ".join(f"{k}={v}" for k, v in limits.items())
    return label


def publish(report: dict, table: str, json_path: str | None) -> None:
    """Print a benchmark's markdown table; with ``--json``, also write its full report there."""
    print(table)
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(report, indent=2))
