"""Data-parallel training through torch's own engine: ``torchrun --nproc-per-node N -m
entropy_lens train ...`` (gloo on the CPU, NCCL on GPUs).

Each process samples its share of a step's prompts (prompt ``i`` goes to process
``i mod N``; every response has its own seed, so a process samples exactly what a single
process would for those prompts), computes its gradient, and the gradients are summed so
the update is the token mean over the whole batch, as one process on the whole batch would
make it. Numbers that depend on the whole batch (PPO's advantage whitening, the 80/20
threshold, the logged metrics) are computed from all processes' values. Every process holds
the whole model and optimiser, so they stay identical; only process 0 writes the run
folder and its checkpoints.

Without ``torchrun`` (no ``WORLD_SIZE`` in the environment) everything here is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Group:
    """This process's place among the training processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    # -- what a process owns ------------------------------------------------------------
    def share(self, items: list) -> list:
        """This process's items: every ``world``-th one, from its rank."""
        return items[self.rank::self.world]

    # -- combining ----------------------------------------------------------------------
    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over processes, in place (on the collective's device)."""
        if self.active:
            import torch.distributed as dist

            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def total(self, value: float) -> float:
        """A number summed over processes."""
        if not self.active:
            return value
        return float(self.sum_(torch.tensor([value], dtype=torch.float64, device=self.device)).item())

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` holds in any process (one process's NaN skips the update in all)."""
        return self.total(float(flag)) > 0 if self.active else flag

    def gather(self, value: Any) -> list:
        """Every process's ``value`` (picklable), in rank order."""
        if not self.active:
            return [value]
        import torch.distributed as dist

        out: list = [None] * self.world
        dist.all_gather_object(out, value)
        return out

    def sum_gradients(self, parameters) -> None:
        """Sum each parameter's gradient over processes: each holds its tokens' share of the
        global token mean, so the sum is the whole batch's gradient."""
        if not self.active:
            return
        grads = [p.grad for p in parameters if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        self.sum_(flat)
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    @property
    def device(self) -> torch.device:
        import torch.distributed as dist

        return torch.device("cuda", self.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")


def setup(device: str) -> Group:
    """Join the process group ``torchrun`` started, if any; pins each process to its GPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Group()
    import torch.distributed as dist

    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(local_rank)
    _import_group_holders()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Group(rank=rank, world=world, local_rank=local_rank)


def _import_group_holders() -> None:
    """Import, before the process group exists, the modules that would otherwise keep it.

    ``torch.distributed.nn.functional`` (and FSDP's gradient scaler) take the default group
    as a default argument, evaluated when the module is first imported; transformers' model
    code imports both. Imported after ``init_process_group``, they hold the group for good:
    ``destroy_process_group`` then leaves its gloo threads running into the interpreter's
    shutdown, where one of them, dropping the last reference to a finished collective's
    tensors, waits for a GIL that no longer exists and the process aborts ("terminate
    called without an active exception"; one torchrun run in tens). Imported first, the
    default they hold is None.
    """
    import torch.distributed.fsdp  # noqa: F401
    import torch.distributed.nn  # noqa: F401
    import transformers.modeling_utils  # noqa: F401  (with whatever else it brings in)


def device_for(group: Group, device: str) -> str:
    """The device option for this process: its own GPU under torchrun on GPUs."""
    if group.active and (device == "auto" and torch.cuda.is_available() or device == "cuda"):
        return f"cuda:{group.local_rank}"
    return device


def teardown(group: Group) -> None:
    if group.active:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
