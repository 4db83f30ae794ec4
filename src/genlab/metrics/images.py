"""Per-image scores: reconstruction (MSE, PSNR, SSIM), sharpness, and class coverage.

- Reconstruction compares ``model.reconstruct(x)`` with held-out ``x`` in data space
  ([-1, 1], so PSNR and SSIM use a data range of 2). PSNR is averaged per image.
- Sharpness is the variance of the Laplacian (Pech-Pacheco et al. 2000), the classic blur
  measure; we report generated / real, so 1 means "as sharp as the data" and VAE blur shows
  up as a ratio well below 1.
- Class coverage counts which classes a held-out-accurate classifier sees in the samples: a
  mode-dropping generator on digits covers few classes with a low-entropy histogram.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


@torch.no_grad()
def reconstruct(model, x: Tensor, *, batch: int = 500) -> Tensor:
    return torch.cat([model.reconstruct(x[i:i + batch].to(model.device)).cpu() for i in range(0, len(x), batch)])


def ssim_kernel(size: int) -> int:
    """The usual 11-pixel Gaussian window, shrunk (odd) for small images such as 8x8 digits."""
    return min(11, size - 1 if size % 2 == 0 else size)


def recon_scores(x: Tensor, x_hat: Tensor) -> dict[str, float]:
    """MSE per element; for images also mean per-image PSNR (dB) and SSIM."""
    x, x_hat = x.double(), x_hat.double()
    out = {"recon_mse": float((x_hat - x).pow(2).mean())}
    if x.dim() == 4:
        from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

        out["psnr"] = float(peak_signal_noise_ratio(x_hat, x, data_range=2.0, reduction="none", dim=(1, 2, 3)).mean())
        ks = ssim_kernel(min(x.shape[-2:]))
        out["ssim"] = float(structural_similarity_index_measure(x_hat.float(), x.float(), data_range=2.0,
                                                                kernel_size=ks))
        out["ssim_kernel"] = ks
    return out


def laplacian_variance(images: Tensor) -> Tensor:
    """(N, C, H, W) -> (N,) variance of the Laplacian of each image's channel mean."""
    gray = images.double().mean(1, keepdim=True)  # colour does not matter for blur
    lap = F.conv2d(gray, LAPLACIAN.double().view(1, 1, 3, 3))  # valid: no border artefacts
    return lap.flatten(1).var(dim=1)


def sharpness(fake: Tensor, real: Tensor) -> dict[str, float]:
    f, r = float(laplacian_variance(fake).mean()), float(laplacian_variance(real).mean())
    return {"ratio": f / r if r > 0 else math.nan, "fake": f, "real": r}


def class_histogram(pred: Tensor, num_classes: int) -> Tensor:
    return torch.bincount(pred.long(), minlength=num_classes).double()


def class_scores(pred: Tensor, num_classes: int) -> dict:
    """Coverage = share of classes that get at least a tenth of their fair share n/K of the
    samples (one stray misclassification does not count as covering a class); entropy of the
    predicted-class histogram divided by log K (1 = every class equally often)."""
    counts = class_histogram(pred, num_classes)
    n = float(counts.sum())
    covered = counts >= 0.1 * n / num_classes
    q = counts / max(n, 1.0)
    nz = q > 0
    entropy = max(0.0, float(-(q[nz] * q[nz].log()).sum()))  # one class: -0.0, shown as "-0"
    return {"coverage": float(covered.double().mean()), "entropy": entropy / math.log(num_classes),
            "histogram": [int(c) for c in counts]}
