"""Two-sample scores between a real and a generated set of vectors (raw points or features).

- Fréchet distance (Heusel et al. 2017) and KID (Bińkowski et al. 2018) through torchmetrics,
  fed with precomputed features via a pass-through module, so the (possibly slow) extractor
  runs once per set and its output is shared with the other scores.
- Improved precision/recall (Kynkäänniemi et al. 2019, k=3) and density/coverage (Naeem et al.
  2020, k=5) through the ``prdc`` package.
- MMD² with an RBF kernel (Gretton et al. 2012), unbiased U-statistic, for low-dimensional
  vectors where Gaussian fits (FD) miss multimodality.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn


class PassThrough(nn.Module):
    """The "feature extractor" handed to torchmetrics when the features are already computed."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: Tensor) -> Tensor:
        return x


def frechet_distance(real: Tensor, fake: Tensor) -> float:
    """‖μ_r − μ_f‖² + Tr(Σ_r + Σ_f − 2(Σ_r Σ_f)^½) between Gaussian fits of (N, D) sets."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=PassThrough(real.shape[1]), reset_real_features=True)
    fid.set_dtype(torch.float64)
    fid.update(real.double(), real=True)
    fid.update(fake.double(), real=False)
    return float(fid.compute())


def kernel_distance(real: Tensor, fake: Tensor, *, subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0) -> tuple[float, float]:
    """KID: unbiased MMD² with the cubic polynomial kernel, mean and std over random subsets."""
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(subset_size, len(real), len(fake))
    with warnings.catch_warnings():  # it warns that it keeps every feature: ours are already in memory
        warnings.simplefilter("ignore")
        kid = KernelInceptionDistance(feature=PassThrough(real.shape[1]), subsets=subsets, subset_size=size)
    kid.update(real.double(), real=True)
    kid.update(fake.double(), real=False)
    from genlab.rng import seeded

    with seeded(seed):  # the subsets are drawn with torch.randperm
        mean, std = kid.compute()
    return float(mean), float(std)


def prdc(real: Tensor, fake: Tensor, *, k: int) -> dict[str, float]:
    """Precision, recall, density and coverage with k-nearest-neighbour balls (prdc package)."""
    from prdc import compute_prdc

    if min(len(real), len(fake)) <= k:
        return {name: math.nan for name in ("precision", "recall", "density", "coverage")}
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the set sizes
        out = compute_prdc(real_features=real.double().numpy(), fake_features=fake.double().numpy(), nearest_k=k)
    return {name: float(v) for name, v in out.items()}


def median_bandwidth(x: Tensor, y: Tensor, *, max_points: int = 2000) -> float:
    """The median pairwise distance of the pooled sets (the usual RBF bandwidth heuristic)."""
    pooled = torch.cat([x[:max_points // 2], y[:max_points // 2]]).double()
    d = torch.cdist(pooled, pooled)
    return float(d[torch.triu_indices(len(d), len(d), 1).unbind()].median())


def mmd2(x: Tensor, y: Tensor, *, bandwidths: Sequence[float] | None = None) -> tuple[float, list[float]]:
    """Unbiased MMD² between (N, D) and (M, D) sets under a sum of RBF kernels
    ``k(a, b) = Σ_σ exp(-‖a - b‖² / 2σ²)``; ``bandwidths=None`` uses the median heuristic.

    Returns the estimate (it can be slightly negative when the sets match) and the bandwidths.
    """
    x, y = x.double(), y.double()
    sigmas = list(bandwidths) if bandwidths else [median_bandwidth(x, y)]

    def kernel(a: Tensor, b: Tensor) -> Tensor:
        d2 = torch.cdist(a, b).pow(2)
        return sum(torch.exp(-d2 / (2 * s * s)) for s in sigmas)

    n, m = len(x), len(y)
    kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    # U-statistic: leave out the i == j terms of the within-set sums
    xx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    yy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(xx + yy - 2 * kxy.mean()), sigmas
