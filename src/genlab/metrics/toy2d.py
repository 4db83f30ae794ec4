"""The 2-D mode-collapse protocol (PacGAN, Lin et al. 2018; VEEGAN, Srivastava et al. 2017).

A generated sample is *high quality* (HQ) if it lies within 3σ of its nearest mode centre. A
mode is *covered* if at least one HQ sample is assigned to it. The *reverse KL* compares the
histogram of HQ samples over modes (Q) with the true uniform mixture (P): ``Σ q log(q / p)``,
0 for perfect balance, ``log(M / m)`` when m of M modes are covered evenly.
"""

from __future__ import annotations

import torch
from torch import Tensor


def mode_histogram(samples: Tensor, modes: Tensor, std: float) -> tuple[Tensor, Tensor]:
    """Counts of HQ samples per mode, (M,), and the HQ mask, (N,)."""
    d = torch.cdist(samples.double(), modes.double())  # (N, M)
    dist, idx = d.min(dim=1)
    hq = dist <= 3 * std
    counts = torch.bincount(idx[hq], minlength=len(modes))
    return counts, hq


def mode_scores(samples: Tensor, modes: Tensor, std: float) -> dict[str, float]:
    """Modes covered, HQ fraction and reverse KL of ``samples`` (N, D) against ``modes`` (M, D)."""
    samples = samples.detach().float().cpu()
    finite = torch.isfinite(samples).all(dim=1)
    counts, hq = mode_histogram(samples[finite], modes.cpu(), std)
    n_hq = int(counts.sum())
    m = len(modes)
    if n_hq:
        q = counts.double() / n_hq
        nz = q > 0
        rkl = float((q[nz] * (q[nz] * m).log()).sum())
    else:
        rkl = float("inf")
    return {"modes": int((counts > 0).sum()), "hq": n_hq / max(len(samples), 1), "reverse_kl": rkl}
