"""What each update sees: its batch and its noise, as functions of ``(seed, batch counter)`` only.

So a resumed run reproduces an uninterrupted one bit for bit, and under data parallelism each
rank sees exactly its slice of what one process would see for the global batch.
"""

from __future__ import annotations

import torch

from genlab.data.base import Pixels
from genlab.errors import BadInputError


def batch_seed(seed: int, k: int) -> int:
    """A distinct, reproducible seed per (run seed, batch counter)."""
    return (seed * 1_000_003 + k * 7_919 + 12_345) % (2**63 - 1)


def seed_noise(seed: int, device: torch.device) -> None:
    """Seed the generators the loss draws from. Only the CPU one (and the current GPU's):
    ``torch.manual_seed`` also queues seeds for every lazy device backend, recording a stack
    trace each time, which costs more than a whole 2-D GAN step."""
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.manual_seed(seed)


class BatchSource:
    """Batches drawn without replacement, epoch by epoch, from a reproducible permutation.

    ``x`` is a float tensor or the uint8 ``Pixels`` of an image set (``DataBundle.source``): then
    only the rows of each batch are made float, and memory does not grow with the data.
    """

    def __init__(self, x: torch.Tensor | Pixels, batch_size: int, seed: int, rank: int, world: int):
        if len(x) < batch_size:
            raise BadInputError(f"batch_size {batch_size} is larger than the dataset ({len(x)} items); "
                                f"use --batch-size {len(x)} or less")
        self.x, self.bs, self.seed = x, batch_size, seed
        self.take = x.take if isinstance(x, Pixels) else x.__getitem__  # rows -> float (B, ...)
        self.local = batch_size // world
        self.lo = rank * self.local
        self.per_epoch = len(x) // batch_size
        self._epoch, self._perm = -1, None

    def indices(self, k: int) -> torch.Tensor:
        epoch, pos = divmod(k, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 7_777 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(len(self.x), generator=g)
        start = pos * self.bs + self.lo
        return self._perm[start:start + self.local]

    def batch(self, k: int) -> torch.Tensor:
        """This process's rows of batch ``k``, float32 on the CPU."""
        return self.take(self.indices(k))
