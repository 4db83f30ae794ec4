"""One process on one device in full precision: what Lightning Fabric would do there, without it.

Fabric earns its place with several processes (DDP) or mixed precision. A run on one device in
32-bit precision needs only the device, so the trainer uses :class:`SingleDevice` there and does
not import Fabric at all: the import alone costs 2-3 s on 2 CPU cores, more than a cached image
folder takes to open. The same device is chosen as Fabric would choose it (``auto``: CUDA, then
MPS, then the CPU).
"""

from __future__ import annotations

import torch

from genlab.errors import BadInputError


def resolve_device(accelerator: str) -> torch.device:
    mps = getattr(torch.backends, "mps", None)
    has_mps = mps is not None and mps.is_available()
    if accelerator == "cpu":
        return torch.device("cpu")
    if accelerator in ("cuda", "gpu"):
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if accelerator == "gpu" and has_mps:
            return torch.device("mps")
        raise BadInputError(f"cannot use accelerator={accelerator!r} here: no CUDA GPU is available; "
                            f"use --accelerator cpu (or auto)")
    if accelerator == "mps":
        if has_mps:
            return torch.device("mps")
        raise BadInputError("cannot use accelerator='mps' here: MPS is not available; use --accelerator cpu (or auto)")
    if torch.cuda.is_available():  # auto
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("mps") if has_mps else torch.device("cpu")


class SingleDevice:
    """The part of Fabric's interface the trainer and its callbacks use, for one process."""

    global_rank, world_size, is_global_zero = 0, 1, True

    def __init__(self, accelerator: str):
        self.device = resolve_device(accelerator)

    def launch(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)

    def barrier(self) -> None:
        pass
