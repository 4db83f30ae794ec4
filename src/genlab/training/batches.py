"""What each update sees: its batch and its noise, as functions of ``(seed, batch counter)`` only.

So a resumed run reproduces an uninterrupted one bit for bit, and under data parallelism each
rank sees exactly its slice of what one process would see for the global batch.
"""

from __future__ import annotations

import numpy as np
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
        self.device, self.resident, self.pinned = torch.device("cpu"), None, False

    def place(self, device: torch.device, free_bytes: int | None) -> str:
        """Where batches for ``device`` come from: the whole set copied to the device once when it
        takes at most a quarter of its ``free_bytes`` ("resident": a batch is an index on the
        device, uint8 pixels made float there, exactly as on the host); else each batch's rows
        gathered on the host into pinned memory and copied without blocking ("pinned")."""
        self.device = torch.device(device)
        x = self.x
        exact = not isinstance(x, Pixels) or (x.size is None and x.channels is None)  # no resize on the device
        nbytes = x.data.nbytes if isinstance(x, Pixels) else x.numel() * x.element_size()
        if free_bytes is not None and exact and nbytes <= free_bytes // 4:
            data = torch.from_numpy(np.ascontiguousarray(x.data)) if isinstance(x, Pixels) else x
            self.resident = data.to(self.device)
            if isinstance(x, Pixels):
                scale = 2.0 / x.max_value
                self.take = lambda idx: (self.resident[idx].float() * scale - 1.0).contiguous()
            else:
                self.take = self.resident.__getitem__
            return "resident"
        self.pinned = self.device.type == "cuda"
        return "pinned" if self.pinned else "host"

    def indices(self, k: int) -> torch.Tensor:
        epoch, pos = divmod(k, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 7_777 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(len(self.x), generator=g)
            if self.resident is not None:  # once per epoch: the batches' indices live on the device too
                self._perm = self._perm.to(self.device)
        start = pos * self.bs + self.lo
        return self._perm[start:start + self.local]

    def batch(self, k: int) -> torch.Tensor:
        """This process's rows of batch ``k``, float32 (on the device once placed there)."""
        return self.rows(self.indices(k))

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        """Rows ``idx`` as float32 on this source's device."""
        x = self.take(idx)
        if self.pinned:
            x = x.pin_memory()
        return x.to(self.device, non_blocking=True)


def place_sources(sources: dict[str, BatchSource], labels: torch.Tensor | None,
                  device: torch.device) -> torch.Tensor | None:
    """Off the CPU, each set goes to the device when it fits in a quarter of its free memory, else
    its batches are pinned (``BatchSource.place``); returns the labels where the batches' indices are."""
    if device.type == "cpu":
        return labels
    free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else None
    for src in sources.values():
        if src.place(device, free) == "resident" and free is not None:
            free -= src.resident.nbytes
    return labels.to(device) if labels is not None and sources["x"].resident is not None else labels
