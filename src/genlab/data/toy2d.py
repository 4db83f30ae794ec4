"""Toy 2-D distributions for watching mode collapse: ring8, grid25 and swissroll.

ring8 and grid25 follow the PacGAN protocol (Lin et al. 2018): 8 Gaussians on the
unit circle with std 0.01, and 25 Gaussians on {-4,-2,0,2,4}^2 with std 0.05, equal weights.
They carry their mode centres and std so the toy2d metrics can count modes and high-quality
samples. Every set is materialised as 100,000 points, drawn from ``seed``; split="test" is an
independent draw (its own random stream) of the same size. ``image_size``, ``root`` and
``download`` are accepted for the common factory signature and ignored.
"""

from __future__ import annotations

import numpy as np
import torch

from genlab.data.base import DataBundle

N_POINTS = 100_000

RING_RADIUS, RING_STD = 1.0, 0.01
GRID_TICKS, GRID_STD = (-4.0, -2.0, 0.0, 2.0, 4.0), 0.05

# make_swiss_roll's (x, z) plane spans about [-12, 15]; dividing by 7.5 brings it near the
# scale of ring8, so the same network widths and learning rates suit all three sets.
SWISSROLL_SCALE, SWISSROLL_NOISE = 7.5, 0.25

# One random stream per split: the test points are a fresh draw, never a slice of the train ones.
_STREAM = {"train": 0, "test": 1}


def _rng(seed: int, split: str) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAM[split]])


def ring_centres(k: int = 8, radius: float = RING_RADIUS) -> np.ndarray:
    """(k, 2) points evenly spaced on a circle, the first on the positive x axis."""
    angles = 2 * np.pi * np.arange(k) / k
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def grid_centres(ticks: tuple[float, ...] = GRID_TICKS) -> np.ndarray:
    """(len(ticks)**2, 2) grid points, x varying slowest."""
    gx, gy = np.meshgrid(np.asarray(ticks), np.asarray(ticks), indexing="ij")
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def sample_mixture(centres: np.ndarray, std: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """n i.i.d. draws from an equal-weight isotropic Gaussian mixture: (n, D)."""
    component = rng.integers(0, len(centres), size=n)
    return centres[component] + rng.normal(0.0, std, size=(n, centres.shape[1]))


def _mixture_bundle(name: str, centres: np.ndarray, std: float, seed: int, split: str) -> DataBundle:
    points = sample_mixture(centres, std, N_POINTS, _rng(seed, split))
    return DataBundle(
        spec=name,
        kind="vector",
        x=torch.from_numpy(points.astype(np.float32)),
        modes=torch.from_numpy(centres.astype(np.float32)),
        mode_std=std,
        meta={"split": split, "seed": seed, "held_out": True},
    )


def ring8(arg=None, *, image_size=None, root=None, download=False, seed=0, split="train") -> DataBundle:
    return _mixture_bundle("ring8", ring_centres(), RING_STD, seed, split)


def grid25(arg=None, *, image_size=None, root=None, download=False, seed=0, split="train") -> DataBundle:
    return _mixture_bundle("grid25", grid_centres(), GRID_STD, seed, split)


def swissroll(arg=None, *, image_size=None, root=None, download=False, seed=0, split="train") -> DataBundle:
    from sklearn.datasets import make_swiss_roll  # sklearn is slow to import; only load it here

    # sklearn wants a 32-bit seed; derive it from our per-split stream so test != train.
    state = int(_rng(seed, split).integers(0, 2**31 - 1))
    points, _ = make_swiss_roll(N_POINTS, noise=SWISSROLL_NOISE, random_state=state)
    xz = points[:, [0, 2]] / SWISSROLL_SCALE  # the roll lies in the (x, z) plane; y is its depth
    return DataBundle(
        spec="swissroll",
        kind="vector",
        x=torch.from_numpy(np.ascontiguousarray(xz, dtype=np.float32)),
        meta={"split": split, "seed": seed, "held_out": True},
    )
