"""The divergence guard, without a host synchronisation per update.

Every update's loss and gradient norm stay on the device. Whether the update is bad (a non-finite
loss, a non-finite gradient norm, or a norm above ``max_grad_norm``) is a 0/1 tensor that the
optimizer reads on the device, as mixed-precision scaling does: fused Adam takes it as
``found_inf`` and leaves the weights, its moments and its step count as they were. So a NaN or
an Inf never reaches the weights, and the host learns of it only when it next reads the run's
numbers (:meth:`Guard.drain`, once per logged step and before every checkpoint), where the
trainer applies ``nan_policy``. Under data parallelism the flag is the maximum over the ranks:
every rank skips the same updates (a NaN on one rank would otherwise leave the others stepping
alone, or waiting for it in the next collective).

An optimizer that cannot skip on the device (not fused Adam/AdamW, or under a gradient scaler,
which sets ``found_inf`` itself) falls back to reading the flag on the host before its step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

FUSABLE = (torch.optim.Adam, torch.optim.AdamW)


def fused(opt: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """``opt`` rebuilt as its fused kernel (one kernel for every parameter, and it can skip an update
    on the device), when it is Adam/AdamW with no state yet; otherwise ``opt`` unchanged. On 2 CPU
    cores the fused step also cost 3-6x less than the default one (137 vs 417 us for the 2-D GAN's
    nets, 519 vs 3,092 us for a 671k-parameter DCGAN, timed alone)."""
    if type(opt) not in FUSABLE or opt.state or any(g.get("differentiable") for g in opt.param_groups):
        return opt
    groups = [{**g, "fused": True, "foreach": None} for g in opt.param_groups]
    return type(opt)(groups, **{**opt.defaults, "fused": True, "foreach": None})


def skips_on_device(opt: torch.optim.Optimizer) -> bool:
    inner = getattr(opt, "optimizer", opt)  # Fabric's wrapper
    return type(inner) in FUSABLE and all(g.get("fused") for g in inner.param_groups)


@dataclass
class Update:
    step: int
    phase: str
    loss: torch.Tensor  # 0-dim, detached
    grad_norm: torch.Tensor  # 0-dim
    bad: torch.Tensor  # 0-dim float: 1 = skipped (agreed over the ranks)


@dataclass
class BadUpdate:
    step: int  # 0-based step of the update
    phase: str
    what: str  # "loss" or "gradient norm"
    value: float | None  # None: flagged by another rank

    def describe(self) -> str:
        return f"{self.what} is {self.value:.4g}" if self.value is not None else self.what


class Guard:
    """Flags bad updates on the device, skips them there, and reports them when drained."""

    def __init__(self, max_grad_norm: float, *, world_size: int = 1, host_checks: bool = False):
        self.max_grad_norm, self.world_size = max_grad_norm, world_size
        self.host_checks = host_checks  # a gradient scaler owns found_inf: read the flag on the host
        self.pending: list[Update] = []
        self._on_device: dict[int, bool] = {}  # id(optimizer) -> skips_on_device, asked once

    def flag(self, loss: torch.Tensor, grad_norm: torch.Tensor) -> torch.Tensor:
        """1.0 when this update must not reach the weights, else 0.0 (a NaN norm compares False)."""
        bad = torch.where(torch.isfinite(loss) & (grad_norm <= self.max_grad_norm), 0.0, 1.0)
        if self.world_size > 1:
            import torch.distributed as dist

            dist.all_reduce(bad, op=dist.ReduceOp.MAX)
        return bad

    def step(self, opt: torch.optim.Optimizer, step: int, phase: str, loss: torch.Tensor,
             grad_norm: torch.Tensor) -> torch.Tensor:
        """The optimizer's step unless the update is bad; the flag is kept for :meth:`drain`."""
        loss = loss.detach()
        bad = self.flag(loss, grad_norm)
        self.pending.append(Update(step, phase, loss, grad_norm, bad))
        on_device = self._on_device.get(id(opt))
        if on_device is None:
            on_device = self._on_device[id(opt)] = not self.host_checks and skips_on_device(opt)
        if not on_device:
            if not bad.item():
                opt.step()
            return bad
        inner = getattr(opt, "optimizer", opt)
        inner.found_inf, inner.grad_scale = bad, None
        try:
            opt.step()
        finally:
            del inner.found_inf, inner.grad_scale
        return bad

    def drain(self) -> list[tuple[bool, BadUpdate | None]]:
        """The updates since the last drain, in order: (skipped?, what was wrong). One host read."""
        pending, self.pending = self.pending, []
        if not pending:
            return []
        values = torch.stack([t.float() for u in pending for t in (u.loss, u.grad_norm, u.bad)]).tolist()
        out = []
        for i, u in enumerate(pending):
            loss, gn, bad = values[3 * i:3 * i + 3]
            if not bad:
                out.append((False, None))
            elif not math.isfinite(loss):
                out.append((True, BadUpdate(u.step, u.phase, "loss", loss)))
            elif not gn <= self.max_grad_norm:  # NaN compares False, as in flag()
                out.append((True, BadUpdate(u.step, u.phase, "gradient norm", gn)))
            else:  # flagged by another rank of a data-parallel run
                out.append((True, BadUpdate(u.step, u.phase, "another process's loss or gradient is not finite", None)))
        return out
