"""Embedded translation benchmarks with ground truth: ``mnist-style`` and ``seasons``.

Each has two domains related by a known, deterministic style transform T. The training sets
are unpaired — domain A and domain B are made from disjoint images, so no image of A has its
counterpart in B — while a held-out set of pairs (a, T(a)) is kept in ``meta["test_a"]`` and
``meta["test_b"]`` to score translations against the truth (PSNR, SSIM). ``split="test"``
returns those pairs as ``x`` and ``x_b`` (then row i of one is the translation of row i of the
other). Everything is computed offline from data that ships with the install.

- ``mnist-style``: A = mnist5k digits (white strokes on black), B = the same kind of digits
  with strokes thickened by a 3x3 dilation and inverted (thick dark ink on white paper).
- ``seasons``: the procedurally drawn ``shapes`` in a "summer" palette (warm shapes on grass
  green) -> a "winter" palette (cold blue shapes hatched with diagonal stripes, on snow).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from genlab.data.base import DataBundle, holdout_indices, resize_images, uint8_to_unit
from genlab.data.images import SHAPES_NATIVE_SIZE, mnist5k_file, draw_shapes

# Fixed seeds: these are benchmarks, so every run sees the same images whatever its seed.
SPLIT_SEED = 4321
SEASONS_N = {"train": 5000, "test": 500}
SEASONS_SEED = {"train": 0, "test": 1}


def _bundle(spec, x, x_b, test_a, test_b, split, native_size, transform) -> DataBundle:
    return DataBundle(
        spec=spec, kind="unpaired", x=x.contiguous(), x_b=x_b.contiguous(),
        meta={"split": split, "held_out": True, "native_size": native_size, "transform": transform,
              "paired": split == "test", "test_a": test_a, "test_b": test_b},
    )


def _halves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random halves of range(n): the images behind domain A and behind domain B."""
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    return np.sort(perm[: n // 2]), np.sort(perm[n // 2:])


# --- mnist-style ------------------------------------------------------------------------------


def thick_inverted(x: torch.Tensor) -> torch.Tensor:
    """T for mnist-style: (N, 1, H, W) in [-1, 1] -> strokes dilated by a 3x3 max filter (about
    one pixel thicker on each side), then inverted (dark ink on white)."""
    return -F.max_pool2d(x, 3, stride=1, padding=1)


def mnist_style(arg=None, *, image_size=None, root=None, download=False, seed=0, split="train") -> DataBundle:
    import gzip

    with gzip.open(mnist5k_file(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    pixels, labels = table[:, :-1], table[:, -1]
    digits = uint8_to_unit(pixels.reshape(-1, 1, 28, 28))
    test = torch.as_tensor(holdout_indices(labels, "test"))
    # The style is applied at the native 28 px, then both domains are resized alike, so the
    # strokes keep their proportions at any --image-size.
    test_a = resize_images(digits[test], image_size)
    test_b = resize_images(thick_inverted(digits[test]), image_size)
    if split == "test":
        x, x_b = test_a, test_b
    else:
        train = holdout_indices(labels, "train")
        ia, ib = _halves(len(train))
        x = resize_images(digits[train[ia]], image_size)
        x_b = resize_images(thick_inverted(digits[train[ib]]), image_size)
    return _bundle("mnist-style", x, x_b, test_a, test_b, split, 28, "mnist5k -> thick inverted strokes")


# --- seasons ----------------------------------------------------------------------------------


def _parts(s: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Decompose drawn shapes (N, 3, H, W) in [0, 1] into what the palettes recolour.

    The drawing puts a shape whose brightest channel is >= 0.6 on a background <= 0.24, so the
    brightest channel separates them: ``alpha`` (coverage, soft at edges), ``m`` (shape
    brightness), ``g`` (its green share, the one hue coordinate kept) and ``bg`` (background
    brightness).
    """
    m = s.amax(dim=1, keepdim=True)  # (N, 1, H, W)
    alpha = ((m - 0.25) / 0.35).clamp(0, 1)
    g = (s[:, 1:2] / m.clamp_min(1e-3)).clamp(0, 1)
    bg = s.mean(dim=1, keepdim=True).clamp(0, 0.25)
    return alpha, m.clamp(0.6, 1.0), g, bg


def _rgb(r, g, b) -> torch.Tensor:
    return torch.cat([r, g, b], dim=1)


def summer(s: torch.Tensor) -> torch.Tensor:
    """Warm shapes (red, orange, yellow) on grass green. (N, 3, H, W) in [0, 1] -> the same."""
    alpha, m, g, bg = _parts(s)
    shape = _rgb(m, m * (0.35 + 0.55 * g), m * (0.1 + 0.2 * g))
    grass = _rgb(0.15 + 0.8 * bg, 0.40 + 0.8 * bg, 0.10 + 0.8 * bg)
    return (1 - alpha) * grass + alpha * shape


def winter(s: torch.Tensor) -> torch.Tensor:
    """Cold shapes (blue to pale cyan) hatched with 2-px diagonal stripes, on snow.

    The stripes repeat every 4 pixels along the image grid, a period a generator with two
    stride-2 stages can place exactly; they make the transform a texture change, not only a
    recolouring.
    """
    alpha, m, g, bg = _parts(s)
    h, w = s.shape[-2:]
    diag = torch.arange(h)[:, None] + torch.arange(w)[None, :]
    stripes = 1.0 - 0.35 * ((diag % 4) < 2).to(s.dtype)  # (H, W)
    shape = _rgb(m * (0.25 + 0.35 * g), m * (0.45 + 0.35 * g), m) * stripes
    snow = _rgb(0.80 + 0.2 * bg, 0.86 + 0.2 * bg, 0.95 + 0.2 * bg)
    return (1 - alpha) * snow + alpha * shape


def seasons(arg=None, *, image_size=None, root=None, download=False, seed=0, split="train") -> DataBundle:
    size = image_size or SHAPES_NATIVE_SIZE
    test = torch.from_numpy(draw_shapes(SEASONS_N["test"], size, SEASONS_SEED["test"])[0])
    test_a, test_b = summer(test) * 2 - 1, winter(test) * 2 - 1  # [0, 1] -> [-1, 1]
    if split == "test":
        x, x_b = test_a, test_b
    else:
        drawn = torch.from_numpy(draw_shapes(SEASONS_N["train"], size, SEASONS_SEED["train"])[0])
        ia, ib = _halves(len(drawn))
        x, x_b = summer(drawn[ia]) * 2 - 1, winter(drawn[ib]) * 2 - 1
    return _bundle("seasons", x.clamp(-1, 1), x_b.clamp(-1, 1), test_a.clamp(-1, 1), test_b.clamp(-1, 1),
                   split, SHAPES_NATIVE_SIZE, "shapes: summer palette -> winter palette with stripes")
