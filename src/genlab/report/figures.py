"""Sample figures: image grids (torchvision), 2-D scatter plots and 1-D histograms (matplotlib, Agg)."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from genlab.io import atomic_write


def save_grid(images: Tensor, path: str | Path, *, nrow: int | None = None, row_labels: list[str] | None = None,
              col_labels: list[str] | None = None) -> None:
    """(N, C, H, W) in [-1, 1] -> one PNG grid; ``row_labels`` (a conditional model's classes)
    are written left of the rows, ``col_labels`` (a translation model's columns) above them."""
    from torchvision.utils import make_grid

    nrow = nrow or max(1, int(math.ceil(math.sqrt(len(images)))))
    imgs = ((images.detach().float().cpu() + 1) / 2).clamp(0, 1)
    grid = make_grid(imgs, nrow=nrow, padding=2)  # (C, H', W')
    pic = _pil(grid)
    if row_labels or col_labels:
        pic = _labelled(pic, images.shape[-2:], nrow, row_labels or [], col_labels or [])
    atomic_write(path, lambda tmp: pic.save(tmp, format="PNG"))


def _pil(grid: Tensor):
    from PIL import Image

    arr = (grid.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy())
    return Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).convert("RGB")


def _labelled(pic, cell: tuple[int, int], nrow: int, rows: list[str], cols: list[str]):
    """The grid enlarged to at least 24 px per cell (so 8 px digits stay readable beside text),
    with a white margin holding the labels."""
    from PIL import Image, ImageDraw

    h, w = cell
    draw = ImageDraw.Draw(pic)
    widest = max((draw.textlength(t) for t in cols), default=0)  # a column's label fits above its cell
    k = max(1, math.ceil(24 / min(h, w)), math.ceil((widest + 6) / (w + 2)))
    pic = pic.resize((pic.width * k, pic.height * k), Image.NEAREST)
    draw = ImageDraw.Draw(pic)
    left = (max(draw.textlength(t) for t in rows) + 8) if rows else 0
    top = 14 if cols else 0
    out = Image.new("RGB", (int(pic.width + left), pic.height + top), "white")
    out.paste(pic, (int(left), top))
    draw = ImageDraw.Draw(out)
    step_y, step_x = (h + 2) * k, (w + 2) * k
    for i, text in enumerate(rows):
        draw.text((2, top + 2 * k + i * step_y + step_y // 2 - 6), text, fill="black")
    for j, text in enumerate(cols[:nrow]):
        draw.text((left + 2 * k + j * step_x, 1), text, fill="black")
    return out


def scatter_figure(points: Tensor, *, real: Tensor | None = None, modes: Tensor | None = None,
                   title: str = "", ax=None):
    """2-D scatter of generated points over the real data (grey) and the mode centres (red +)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    if points.shape[1] == 1:  # 1-D data: histograms of samples and data, modes as lines
        return fig, histogram_figure(points, real=real, modes=modes, title=title, ax=ax)
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


def histogram_figure(points: Tensor, *, real: Tensor | None = None, modes: Tensor | None = None,
                     title: str = "", ax=None):
    """1-D samples as a density histogram over the real data's (grey), mode centres as red lines."""
    import numpy as np

    pts = points.detach().float().cpu()[:, 0].numpy()
    pts = pts[np.isfinite(pts)]
    ref = real.detach().float().cpu()[:, 0].numpy() if real is not None else None
    both = pts if ref is None else np.concatenate([pts, ref])
    bins = np.histogram_bin_edges(both, bins=60) if len(both) else 10
    if ref is not None:
        ax.hist(ref, bins=bins, density=True, color="0.8", label="data")
    ax.hist(pts, bins=bins, density=True, color="tab:blue", alpha=0.6, label="samples")
    for m in (modes.cpu()[:, 0].tolist() if modes is not None else []):
        ax.axvline(m, color="tab:red", lw=0.8)
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def save_scatter(points: Tensor, path: str | Path, **kw) -> None:
    import matplotlib.pyplot as plt

    fig, _ = scatter_figure(points, **kw)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def save_samples(samples: Tensor, path: str | Path, *, real: Tensor | None = None,
                 modes: Tensor | None = None, title: str = "", nrow: int | None = None,
                 legend: tuple[list[str] | None, list[str] | None] = (None, None)) -> None:
    """Images -> grid (``legend``: labels of its rows and of its columns); vectors -> scatter
    (first two coordinates; a histogram for 1-D data)."""
    if samples.dim() == 4:
        save_grid(samples, path, nrow=nrow, row_labels=legend[0], col_labels=legend[1])
    else:
        save_scatter(samples, path, real=real, modes=modes, title=title)


def real_subset(x: Tensor, n: int = 2000, seed: int = 0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return x[torch.randperm(len(x), generator=g)[:n]]
