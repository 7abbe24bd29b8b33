"""trainer/allocator.py: freed memory stays in the process (so the next phase of a step
does not fault it in again), where by default glibc hands it back to the kernel."""

import subprocess
import sys

import pytest

PROBE = """
import sys, torch
from entropy_lens_trainer.allocator import keep_freed_memory
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
x = torch.ones(32 << 20)  # 128 MiB (over glibc's largest threshold for a mapping of its own), every page touched
before = rss()
del x
print(applied, before - rss())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc: Linux only")
def test_freed_tensors_stay_in_the_process_only_when_asked():
    def run(mode):
        out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True).stdout
        applied, returned = out.split()
        return applied, int(returned)

    default_applied, default_returned = run("default")
    kept_applied, kept_returned = run("keep")
    assert default_applied == "None" and default_returned >= 120 << 20  # glibc unmapped the 128 MiB
    assert kept_applied == "True" and kept_returned < 4 << 20           # still in the process
