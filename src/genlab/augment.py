"""Differentiable augmentation for the critic (DiffAugment, Zhao et al. 2020).

A critic trained on a few thousand images memorises them and stops guiding the generator.
DiffAugment applies the same random, differentiable transforms to every image the critic sees,
real and generated, in both phases; because the transforms are differentiable, the generator
still receives gradients through them, and because fakes are augmented too, the generator is
not taught to produce augmented-looking images (augmenting reals only leaks the transforms).

Policies (``--set augment=color,translation,cutout``, applied in that order):

- ``color``: per image, brightness + U(-0.5, 0.5), saturation × U(0, 2) (around the pixel's channel
  mean), contrast × U(0.5, 1.5) (around the image mean);
- ``translation``: per image, a shift of up to 1/8 of the side in each direction, zero-filled;
- ``cutout``: per image, a zeroed square of half the side at a random position (it may overhang).

Every random number comes from ``rand(n, *shape)`` (the model's seeded uniform noise), so an
augmented run resumes bit-exactly like any other. Images are in network units ([-1, 1]).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from genlab.errors import unknown

Rand = Callable[..., Tensor]  # rand(n, *shape) -> U[0, 1) on the images' device


def color(x: Tensor, rand: Rand) -> Tensor:
    n = len(x)
    x = x + (rand(n, 1, 1, 1).to(x.dtype) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (rand(n, 1, 1, 1).to(x.dtype) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (rand(n, 1, 1, 1).to(x.dtype) + 0.5) + mean


def _shifted_index(size: int, shift: Tensor) -> Tensor:
    """(N,) integer shifts -> (N, size) source indices into a 1-padded axis (0 and size+1 are zeros)."""
    idx = torch.arange(size, device=shift.device).unsqueeze(0) + shift.unsqueeze(1) + 1
    return idx.clamp(0, size + 1)


def translation(x: Tensor, rand: Rand, ratio: float = 0.125) -> Tensor:
    n, _, h, w = x.shape
    r_h, r_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    # integer shifts uniform on [-r, r]
    dy = (rand(n) * (2 * r_h + 1)).long().clamp(max=2 * r_h) - r_h
    dx = (rand(n) * (2 * r_w + 1)).long().clamp(max=2 * r_w) - r_w
    padded = torch.nn.functional.pad(x, [1, 1, 1, 1])
    iy, ix = _shifted_index(h, dy), _shifted_index(w, dx)  # (N, H), (N, W)
    rows = torch.gather(padded, 2, iy[:, None, :, None].expand(n, x.shape[1], h, w + 2))
    return torch.gather(rows, 3, ix[:, None, None, :].expand(n, x.shape[1], h, w))


def cutout(x: Tensor, rand: Rand, ratio: float = 0.5) -> Tensor:
    n, _, h, w = x.shape
    c_h, c_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    # top-left corners so that the square's centre is uniform over the image (it may overhang)
    top = (rand(n) * (h + 1 - c_h % 2)).long() - c_h // 2
    left = (rand(n) * (w + 1 - c_w % 2)).long() - c_w // 2
    ys = torch.arange(h, device=x.device)[None, :] - top[:, None]  # (N, H)
    xs = torch.arange(w, device=x.device)[None, :] - left[:, None]
    inside = ((ys >= 0) & (ys < c_h))[:, :, None] & ((xs >= 0) & (xs < c_w))[:, None, :]
    return x * (~inside).unsqueeze(1).to(x.dtype)


POLICIES: dict[str, Callable[[Tensor, Rand], Tensor]] = {"color": color, "translation": translation, "cutout": cutout}


def parse_policy(text: str) -> tuple[str, ...]:
    """"color,translation" -> ("color", "translation"); "" or "none" -> (); unknown names raise."""
    names = tuple(p.strip().lower() for p in text.split(",") if p.strip())
    if names in ((), ("none",)):
        return ()
    for name in names:
        if name not in POLICIES:
            raise unknown("augment policy", name, [*POLICIES, "none"])
    return names


def diff_augment(x: Tensor, policy: tuple[str, ...], rand: Rand) -> Tensor:
    """``x`` (N, C, H, W) through each transform of ``policy`` in turn; vectors pass unchanged."""
    if not policy or x.dim() != 4:
        return x
    for name in policy:
        x = POLICIES[name](x, rand)
    return x.contiguous()
