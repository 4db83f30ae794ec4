"""The exponential moving average of a network's weights (``--ema``), with no host synchronisation.

``torch.optim.swa_utils.AveragedModel`` reads its update counter on the host at every update
(``bool(n_averaged == 0)``), which stalls a GPU queue once per step; here the counter stays a
tensor and the first update's copy is a lerp of weight 1 (exact: ``end - (end - start) * 0``).
Same state as AveragedModel: ``module`` (the averaged copy) and ``n_averaged``.
"""

from __future__ import annotations

import copy
import itertools

import torch
from torch import nn


def warmed_decay(n: torch.Tensor, decay: float) -> torch.Tensor:
    """The decay of the update after ``n`` earlier ones, warmed up: min(decay, (1 + n) / (10 + n)),
    so a short run's average is not dominated by its random initial weights (0.999 alone keeps
    22% of them after 1,500 steps)."""
    return ((1 + n) / (10 + n)).clamp(max=decay)


class EMA(nn.Module):
    """A copy of ``module`` whose floating-point parameters and buffers follow the live ones:
    the first update copies them, update n >= 1 keeps ``warmed_decay(n, decay)`` of the average.
    Integer buffers (BatchNorm's batch counter) are copied."""

    def __init__(self, module: nn.Module, decay: float):
        super().__init__()
        self.module = copy.deepcopy(module)
        self.module.requires_grad_(False)
        self.decay = decay
        device = next(itertools.chain(module.parameters(), module.buffers())).device
        self.register_buffer("n_averaged", torch.tensor(0, dtype=torch.long, device=device))

    @torch.no_grad()
    def update_parameters(self, module: nn.Module) -> None:
        averaged = list(itertools.chain(self.module.parameters(), self.module.buffers()))
        current = list(itertools.chain(module.parameters(), module.buffers()))
        n = self.n_averaged
        weight = torch.where(n == 0, 1.0, 1.0 - warmed_decay(n.float(), self.decay))  # of the live weights
        weights: dict[torch.dtype, torch.Tensor] = {}
        for a, c in zip(averaged, current):
            if a.is_floating_point():
                if a.dtype not in weights:
                    weights[a.dtype] = weight.to(a.dtype)
                a.lerp_(c.detach(), weights[a.dtype])
            else:
                a.copy_(c)
        n.add_(1)
