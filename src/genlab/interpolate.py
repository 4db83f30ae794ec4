"""Walks through a trained model's latent space: ``genlab interpolate RUN --out strip.png``.

Every model here maps a standard Gaussian code to data: the VAE decodes its prior N(0, I), a
GAN generator its noise, and the plain autoencoder a Gaussian fitted to its codes (mean and
std tracked during training), so ``eps ~ N(0, I)`` is the shared coordinate. Between the codes
of two seeds we move along the great circle (spherical interpolation, "slerp", White 2016):
in D dimensions a Gaussian code lies near the sphere of radius √D, and the straight line
between two such codes dips through the low-norm middle the decoder never saw in training.

Outputs:
- images: one row of decoded frames per pair of seeds (PNG), or an animation (GIF);
- a 2-D code (``latent_dim=2``) with image data: the decoded manifold, a k×k grid over the
  Gaussian's quantiles (Kingma & Welling 2014, Fig. 4);
- vectors: the path the decoded points take, over a cloud of samples (PNG or GIF).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import torch
from torch import Tensor

from genlab.errors import BadInputError
from genlab.models.base import Latent

METHODS = ("slerp", "lerp")
FORMATS = (".png", ".gif")
MAX_STEPS = 64
MIN_TILE = 48  # small images (8x8 digits) are enlarged to at least this many pixels per tile


# ----------------------------------------------------------------------------- paths in code space


def lerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Straight line: (D,), (D,), (T,) -> (T, D)."""
    t = t[:, None]
    return (1 - t) * a + t * b


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation: along the great circle from ``a`` to ``b``, norms blended linearly.

    (D,), (D,), (T,) -> (T, D). Falls back to the straight line when the two codes are
    (anti)parallel, where the great circle is not defined.
    """
    na, nb = a.norm(), b.norm()
    ua, ub = a / na.clamp_min(1e-12), b / nb.clamp_min(1e-12)
    omega = torch.arccos((ua * ub).sum().clamp(-1.0, 1.0))
    if omega.abs() < 1e-6 or (math.pi - omega).abs() < 1e-6:
        return lerp(a, b, t)
    t = t[:, None]
    direction = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / torch.sin(omega)
    return direction * ((1 - t) * na + t * nb)


def seed_code(seed: int, dim: int) -> Tensor:
    """The standard Gaussian code of ``seed``: the same on every machine."""
    return torch.randn(dim, generator=torch.Generator().manual_seed(seed))


def code_path(seeds: list[int], dim: int, steps: int, method: str = "slerp") -> list[Tensor]:
    """One (steps, dim) tensor of codes per consecutive pair of seeds."""
    if method not in METHODS:
        raise BadInputError(f"--method {method!r} is not known; valid: {', '.join(METHODS)}")
    fn = slerp if method == "slerp" else lerp
    t = torch.linspace(0.0, 1.0, steps)
    codes = [seed_code(s, dim) for s in seeds]
    return [fn(a, b, t) for a, b in zip(codes, codes[1:])]


# ----------------------------------------------------------------------------- the model's latent


def latent_of(model, *, name: str | None = None) -> Latent:
    """How to decode a standard Gaussian code with ``model`` (its ``latent()`` hook: AE, VAE, GAN,
    LSGAN, WGAN-GP); ``name``, the model's registry name, is for the refusals."""
    lat = model.latent()
    if lat is not None:
        return lat
    from genlab.models import MODELS

    name = name or type(model).__name__
    # the families with a code space: neither conditional (a code alone makes no sample) nor translating
    usable = " ".join(n for n, cls in MODELS.items() if not cls.conditional and not cls.translates)
    if model.conditional:
        raise BadInputError(f"interpolate does not support the conditional model {name!r} yet; use one of: {usable}")
    raise BadInputError(f"model {name!r} has no Gaussian latent space to interpolate; use a run of one of: {usable}")


@torch.no_grad()
def decode(model, codes: Tensor) -> Tensor:
    model.eval()
    return latent_of(model).decode(codes.to(model.device)).float().cpu()


# ----------------------------------------------------------------------------- figures


def _to_pil(grid: Tensor):
    """(C, H, W) in [0, 1] -> PIL image, enlarged (nearest) when tiles are tiny."""
    from PIL import Image

    arr = (grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    img = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    return img


def _tile_scale(size: int) -> int:
    return max(1, math.ceil(MIN_TILE / size))


def _image_grid(frames: Tensor, nrow: int):
    """(N, C, H, W) in [-1, 1] -> PIL grid with ``nrow`` images per row."""
    from PIL import Image
    from torchvision.utils import make_grid

    scale = _tile_scale(frames.shape[-1])
    grid = make_grid((frames + 1) / 2, nrow=nrow, padding=2, pad_value=1.0)
    img = _to_pil(grid)
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST) if scale > 1 else img


def _fig_to_pil(fig):
    import matplotlib.pyplot as plt
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _path_figure(model, paths: list[Tensor], seeds: list[int], upto: int | None = None, modes: Tensor | None = None):
    """Vectors: the decoded path (first two coordinates) over a cloud of the model's samples
    and the data's mode centres (``modes``) when known."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from genlab.rng import seeded

    with seeded(0, model.device):
        cloud = model.sample(1000).float().cpu().numpy()
    pts = torch.cat([decode(model, p) for p in paths]).numpy()  # (T, D)
    if pts.shape[1] == 1:  # 1-D data: each point's position along the path against its value
        cloud = np.column_stack([np.random.default_rng(0).uniform(0, len(pts) - 1, len(cloud)), cloud[:, 0]])
        pts = np.column_stack([np.arange(len(pts)), pts[:, 0]])
        modes = None if modes is None else torch.stack([torch.zeros(len(modes)), modes[:, 0]], dim=1)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(cloud[:, 0], cloud[:, 1], s=3, c="0.8", label="samples", rasterized=True)
    if modes is not None:
        m = modes.numpy()
        ax.scatter(m[:, 0], m[:, 1], marker="+", s=60, c="tab:red", label="modes")
    shown = pts if upto is None else pts[: upto + 1]
    ax.plot(shown[:, 0], shown[:, 1], "-", c="0.3", lw=1)
    ax.scatter(shown[:, 0], shown[:, 1], c=np.linspace(0, 1, len(pts))[: len(shown)], cmap="viridis",
               s=18, zorder=3, vmin=0, vmax=1)
    per = len(paths[0])
    for i, s in enumerate(seeds):
        j = 0 if i == 0 else i * per - 1  # seed i ends path i-1
        ax.annotate(f"seed {s}", tuple(pts[j, :2].tolist()), fontsize=8, xytext=(4, 4), textcoords="offset points")
    lo = np.minimum(cloud.min(0), pts.min(0))[:2]
    hi = np.maximum(cloud.max(0), pts.max(0))[:2]
    pad = 0.05 * np.maximum(hi - lo, 1e-3)
    ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
    ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
    if model.info.shape[0] >= 2:
        ax.set_aspect("equal", adjustable="box")
    else:
        ax.set_xlabel("position along the path (samples behind, grey)")
        ax.set_ylabel("x")
    ax.set_title(f"latent path, seeds {' → '.join(map(str, seeds))}", fontsize=9)
    fig.tight_layout()
    return fig


def manifold(model, k: int) -> Tensor:
    """A 2-D code's decoded manifold: (k*k, C, H, W), rows top to bottom = z₂ high to low."""
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, k))
    z1, z2 = torch.meshgrid(q, q.flip(0), indexing="xy")  # (k, k): x varies along a row
    return decode(model, torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1))


def is_image(model) -> bool:
    return model.info.is_image


def render(model, *, seeds: list[int], steps: int, method: str = "slerp", grid: bool | None = None,
           modes: Tensor | None = None):
    """The still figure as a PIL image: a strip per pair of seeds, a manifold, or a 2-D path
    (over the data's mode centres ``modes`` when known)."""
    lat = latent_of(model)
    if grid is None:
        grid = lat.dim == 2 and is_image(model)
    if grid:
        if lat.dim != 2 or not is_image(model):
            raise BadInputError(f"--grid needs image data and a 2-D latent (latent_dim=2); this run has "
                                f"latent_dim={lat.dim} on {'image' if is_image(model) else 'vector'} data")
        return _image_grid(manifold(model, steps), nrow=steps)
    paths = code_path(seeds, lat.dim, steps, method)
    if is_image(model):
        return _image_grid(torch.cat([decode(model, p) for p in paths]), nrow=steps)
    return _fig_to_pil(_path_figure(model, paths, seeds, modes=modes))


def render_frames(model, *, seeds: list[int], steps: int, method: str = "slerp", modes: Tensor | None = None) -> list:
    """Animation frames (PIL images): the decoded image, or the point moving along its path."""
    from PIL import Image

    lat = latent_of(model)
    paths = code_path(seeds, lat.dim, steps, method)
    if is_image(model):
        frames = torch.cat([p if i == 0 else p[1:] for i, p in enumerate(paths)])  # no repeated joints
        images = decode(model, frames)
        scale = max(_tile_scale(images.shape[-1]), math.ceil(128 / images.shape[-1]))
        out = []
        for x in images:
            img = _to_pil((x + 1) / 2)
            out.append(img.resize((img.width * scale, img.height * scale), Image.NEAREST))
        return out
    n = sum(len(p) for p in paths)
    return [_fig_to_pil(_path_figure(model, paths, seeds, upto=i, modes=modes)) for i in range(n)]


# ----------------------------------------------------------------------------- the command


def parse_seeds(text: str | None) -> list[int] | None:
    """"3,7" -> [3, 7]; None -> None (random seeds)."""
    if text is None:
        return None
    parts = [p.strip() for p in str(text).split(",")]
    try:
        seeds = [int(p) for p in parts]
    except ValueError:
        raise BadInputError(f"--seeds must be comma-separated non-negative integers such as 0,1, got {text!r}") from None
    if len(seeds) < 2 or any(s < 0 for s in seeds):
        raise BadInputError(f"--seeds needs at least two non-negative integers such as 0,1, got {text!r}")
    return seeds


def check_args(out: Path, steps: int) -> None:
    if Path(out).suffix.lower() not in FORMATS:
        raise BadInputError(f"--out must end in {' or '.join(FORMATS)}, got {str(out)!r}")
    if not 2 <= steps <= MAX_STEPS:
        raise BadInputError(f"--steps must be between 2 and {MAX_STEPS}, got {steps}")


def interpolate(run: str | Path, out: str | Path, *, steps: int = 10, seeds: list[int] | None = None,
                method: str = "slerp", grid: bool | None = None, ema: bool | None = None,
                overwrite: bool = False) -> list[int]:
    """Write the interpolation of run ``run`` to ``out`` (.png or .gif); returns the seeds used
    (none for the decoded manifold of ``grid``, which is drawn from quantiles, not seeds).
    ``ema``: as for :func:`genlab.load` (the EMA weights when the run has them). ``out`` follows
    the output rule (genlab.runs): an existing file is replaced only with ``overwrite``."""
    import random

    from genlab.io import atomic_write
    from genlab.runs import check_run_output, load

    out = Path(out)
    check_args(out, steps)
    check_run_output(out, run, overwrite=overwrite)
    if grid and seeds is not None:
        raise BadInputError("--grid draws the decoded manifold, which uses no seeds; drop --seeds or --grid")
    loaded = load(run, ema=ema)
    model = loaded.model
    lat = latent_of(model, name=loaded.name)  # refuse models without a Gaussian latent before any work
    if out.suffix.lower() == ".png":
        if grid is None:  # the manifold for a 2-D code on images, unless seeds were asked for
            grid = seeds is None and lat.dim == 2 and is_image(model)
        seeds = [] if grid else seeds or random.SystemRandom().sample(range(10_000), 2)
        img = render(model, seeds=seeds, steps=steps, method=method, grid=grid, modes=loaded.modes)
        atomic_write(out, lambda tmp: img.save(tmp, format="PNG"))
    else:
        if grid:
            raise BadInputError("--grid draws a still manifold; write it to a .png")
        seeds = seeds or random.SystemRandom().sample(range(10_000), 2)
        frames = render_frames(model, seeds=seeds, steps=steps, method=method, modes=loaded.modes)
        frames = frames + frames[-2:0:-1]  # there and back: the loop has no jump
        atomic_write(out, lambda tmp: frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                                                     duration=80, loop=0))
    return seeds
