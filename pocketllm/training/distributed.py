"""Several processes, one model: PyTorch DistributedDataParallel.

`torchrun --nproc_per_node=N -m pocketllm pretrain ...` starts N copies of the
program with RANK / WORLD_SIZE / LOCAL_RANK set.  Each copy reads its own part
of every global batch; gradients are averaged across copies after backward,
so all copies keep identical weights.  Only rank 0 writes files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")  # NCCL reduces tensors on the GPU

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def mean(self, value: float) -> float:
        """Average a number over all processes (for logging the global loss)."""
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def any(self, flag: bool) -> bool:
        """True on every process if it is true on any (e.g. a stop request)."""
        if not self.enabled:
            return flag
        t = torch.tensor([1 if flag else 0], device=self.device)
        dist.all_reduce(t)
        return bool(t.item())


    def share(self, value):
        """Rank 0's value of a small Python object, on every process."""
        if not self.enabled:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0, device=self.device if self.device.type == "cuda" else None)
        return box[0]

    def barrier(self):
        if self.enabled:
            dist.barrier()


def init_from_env(device: torch.device) -> Dist:
    """Join the process group when started by torchrun; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return Dist(dist.get_rank(), dist.get_world_size(), device)


def shutdown():
    if dist.is_initialized():
        # Wait for every rank first: rank 0 may still be writing checkpoints, and gloo
        # aborts a process whose peer tears the group down under it.
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()
