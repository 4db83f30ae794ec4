"""Sample figures: image grids (torchvision) and 2-D scatter plots (matplotlib, Agg)."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from genlab.io import atomic_write


def save_grid(images: Tensor, path: str | Path, *, nrow: int | None = None) -> None:
    """(N, C, H, W) in [-1, 1] -> one PNG grid."""
    from torchvision.utils import save_image

    nrow = nrow or max(1, int(math.ceil(math.sqrt(len(images)))))
    imgs = ((images.detach().float().cpu() + 1) / 2).clamp(0, 1)
    atomic_write(path, lambda tmp: save_image(imgs, tmp, nrow=nrow, padding=2, format="png"))


def scatter_figure(points: Tensor, *, real: Tensor | None = None, modes: Tensor | None = None,
                   title: str = "", ax=None):
    """2-D scatter of generated points over the real data (grey) and the mode centres (red +)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    pts = points.detach().float().cpu()[:, :2]
    if real is not None:
        r = real.detach().float().cpu()[:, :2]
        ax.scatter(r[:, 0], r[:, 1], s=2, c="0.8", label="data", rasterized=True)
    ax.scatter(pts[:, 0], pts[:, 1], s=2, c="tab:blue", alpha=0.6, label="samples", rasterized=True)
    if modes is not None:
        m = modes.cpu()
        ax.scatter(m[:, 0], m[:, 1], marker="+", s=60, c="tab:red", label="modes")
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=9)
    return fig, ax


def save_scatter(points: Tensor, path: str | Path, **kw) -> None:
    import matplotlib.pyplot as plt

    fig, _ = scatter_figure(points, **kw)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def save_samples(samples: Tensor, path: str | Path, *, real: Tensor | None = None,
                 modes: Tensor | None = None, title: str = "", nrow: int | None = None) -> None:
    """Images -> grid; vectors -> scatter (first two coordinates)."""
    if samples.dim() == 4:
        save_grid(samples, path, nrow=nrow)
    else:
        save_scatter(samples, path, real=real, modes=modes, title=title)


def real_subset(x: Tensor, n: int = 2000, seed: int = 0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return x[torch.randperm(len(x), generator=g)[:n]]
