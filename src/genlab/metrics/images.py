"""Per-image scores: PSNR and SSIM, reconstruction, sharpness, and class coverage.

- :func:`psnr` and :func:`ssim` are the only PSNR and SSIM in genlab (reconstructions here,
  translations in ``translation.py``): torchmetrics' implementations, PSNR averaged per image.
  SSIM is computed on intensities, the images mapped from [-1, 1] to [0, 1] with data range 1,
  as Wang et al. (2004) define it: its luminance term (2μxμy + C1) / (μx² + μy² + C1) assumes
  non-negative pixel values, and on the nets' [-1, 1] a region whose mean is near 0 (a mid-grey,
  or a dark green's green channel) turns a small brightness error into a large loss (a flat
  0.50 against 0.55 scores 0.995 on intensities and 0.04 on [-1, 1]). PSNR does not depend on
  the shift (data range 2 on [-1, 1] is data range 1 on [0, 1]). SSIM's window is the standard
  Gaussian of Wang et al. (2004), 11 px with σ 1.5; on images smaller than 12 px it shrinks to
  the largest odd size that fits (7 px on 8×8 digits) and σ shrinks with it (σ = 1.5·k/11), so
  the window keeps the standard's shape (cut at ±3.3σ) rather than becoming a flat box.
- Reconstruction compares ``model.reconstruct(x)`` with held-out ``x`` in data space.
- Sharpness is the variance of the Laplacian (Pech-Pacheco et al. 2000), the classic blur
  measure; we report generated / real, so 1 means "as sharp as the data" and VAE blur shows
  up as a ratio well below 1.
- Class coverage counts which classes a held-out-accurate classifier sees in the samples: a
  mode-dropping generator on digits covers few classes with a low-entropy histogram.
- The classifier score is the Inception Score's formula (Salimans et al. 2016),
  exp E_x KL(p(y|x) || p(y)), on the dataset's own shipped classifier instead of Inception: from
  1 (every sample gets the same prediction) to K (each sample confidently one class, the K
  classes equally often). It reads legibility and diversity together, and it is honest only on a
  classifier that is not confident off the data (the shipped ones are trained to reject noise).
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


def ssim_window(size: int) -> tuple[int, float]:
    """(kernel size, σ) of SSIM's Gaussian window for images whose smaller side is ``size``."""
    k = min(11, size - 1 if size % 2 == 0 else size)
    return k, 1.5 * k / 11


def psnr(pred: Tensor, target: Tensor) -> float:
    """Mean per-image PSNR in dB of images in [-1, 1], (N, C, H, W); inf when they are equal."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    return float(peak_signal_noise_ratio(pred.double(), target.double(), data_range=2.0, dim=(1, 2, 3),
                                         reduction="elementwise_mean"))


def ssim(pred: Tensor, target: Tensor) -> float:
    """Mean SSIM of images in [-1, 1], (N, C, H, W), scored as intensities in [0, 1] with the
    window of :func:`ssim_window`."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    k, sigma = ssim_window(min(pred.shape[-2:]))
    intensity = lambda x: (x.double() + 1) / 2  # noqa: E731  [-1, 1] -> [0, 1]; double: SSIM's variances
    # are differences of means of squares, which float32 rounds visibly on bright flat regions
    return float(structural_similarity_index_measure(intensity(pred), intensity(target), data_range=1.0,
                                                     kernel_size=k, sigma=sigma))


def recon_scores(x: Tensor, x_hat: Tensor) -> dict[str, float]:
    """MSE per element; for images also mean per-image PSNR (dB) and SSIM."""
    out = {"recon_mse": float((x_hat.double() - x.double()).pow(2).mean())}
    if x.dim() == 4:
        out["psnr"], out["ssim"] = psnr(x_hat, x), ssim(x_hat, x)
        out["ssim_kernel"], out["ssim_sigma"] = ssim_window(min(x.shape[-2:]))
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


def classifier_score(probs: Tensor) -> float:
    """exp(E_x KL(p(y|x) || p(y))) of (N, K) class probabilities, p(y) their mean: 1 to K."""
    p = probs.double()
    marginal = p.mean(0, keepdim=True)  # (1, K)
    kl = (torch.xlogy(p, p) - torch.xlogy(p, marginal)).sum(1)  # (N,); 0 log 0 = 0
    return math.exp(max(0.0, float(kl.mean())))  # KL >= 0; rounding must not take it below 1


def class_scores(pred: Tensor, num_classes: int, probs: Tensor | None = None) -> dict:
    """From the classifier's (N,) predicted classes (and its (N, K) probabilities): coverage = share of classes that get at least a
    tenth of their fair share n/K of the samples (one stray misclassification does not count as
    covering a class); entropy of the predicted-class histogram divided by log K (1 = every class
    equally often); confidence = mean max-softmax (legible samples score near real data's);
    min_share = the rarest class's share of the samples (1/K when balanced); score = the
    classifier score of :func:`classifier_score`."""
    counts = class_histogram(pred, num_classes)
    n = float(counts.sum())
    covered = counts >= 0.1 * n / num_classes
    q = counts / max(n, 1.0)
    nz = q > 0
    entropy = max(0.0, float(-(q[nz] * q[nz].log()).sum()))  # one class: -0.0, shown as "-0"
    return {"coverage": float(covered.double().mean()), "entropy": entropy / math.log(num_classes),
            "confidence": float(probs.max(1).values.double().mean()) if probs is not None else math.nan,
            "min_share": float(q.min()), "score": classifier_score(probs) if probs is not None else math.nan,
            "histogram": [int(c) for c in counts]}
