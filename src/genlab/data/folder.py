"""``folder:PATH``: every image under a folder, searched recursively.

- Formats: .png .jpg .jpeg .bmp .gif .webp (GIFs give their first frame). Files and folders
  whose names start with "." are ignored (.DS_Store, .git).
- Size: each image's shorter side is resized to ``image_size`` (64 when None, so a folder of
  mixed sizes gives a predictable shape), then the centre square is cropped; torchvision's
  antialiased bilinear resize.
- Channels: 1 when every image is grayscale (a grayscale mode, or colour channels that are all
  equal), else 3 and grayscale images are repeated to RGB. Transparent pixels are composited
  over white, the usual backdrop of icons and sprites.
- Labels: when the folder holds at least two immediate sub-folders with images, each is a
  class (sorted names -> labels 0..K-1); images lying directly in the top folder then have no
  class and are skipped.
- Other files, and image files that cannot be decoded (corrupt, truncated), are skipped,
  counted in ``meta["skipped"]`` and reported in one warning.
- Storage: the images are decoded once, in parallel, into the on-disk cache (``cache.py``,
  under ``cache_dir``) and read back as uint8 ``Pixels`` from a memory map, so later runs start
  at once and memory does not grow with the folder.

There is no held-out part: both splits return every image (``meta["held_out"] = False``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from genlab.data import cache
from genlab.data.base import DataBundle, Pixels
from genlab.errors import BadInputError
from genlab.runs import CONFIG, is_run

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
DEFAULT_SIZE = 64
GRAY_MODES = ("1", "L")
SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")


def visible_files(top: Path) -> list[Path]:
    """All files under ``top``, hidden ones excluded, in a stable (sorted) order."""
    return [top / name for name, _, _ in listing(top)]


def listing(top: Path) -> cache.Listing:
    """Every visible file as (path relative to ``top``, bytes, mtime in ns), in os.walk's order
    with sorted names (a folder's files, then its sub-folders'): what the cache key hashes, and
    what must still hold once the images are decoded. (-1, -1) for a broken link. Strings and
    ``os.scandir`` only: a 100,000-file folder is listed in a fraction of a second."""
    out: cache.Listing = []

    def walk(folder: str, prefix: str) -> None:
        try:
            with os.scandir(folder) as it:
                entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
        except OSError:  # os.walk skips an unreadable folder too
            return
        if any(e.name == CONFIG for e in entries) and is_run(Path(folder)):  # its samples are not data
            raise BadInputError(f"the image folder {os.fspath(top)!r} holds the genlab run {folder!r}, whose sample "
                                f"figures would be read as data; move the run out of the image folder")
        subfolders = []
        for e in entries:
            try:
                is_dir = e.is_dir()  # follows links, as os.walk does; linked folders are not entered
            except OSError:
                is_dir = False
            if is_dir:
                if not e.is_symlink():
                    subfolders.append(e)
                continue
            try:
                st = e.stat()
                out.append((prefix + e.name, st.st_size, st.st_mtime_ns))
            except OSError:
                out.append((prefix + e.name, -1, -1))
        for e in subfolders:
            walk(e.path, f"{prefix}{e.name}/")

    walk(os.fspath(top), "")
    return out


def is_image_name(path: Path | str) -> bool:
    name = path if isinstance(path, str) else path.name
    return name.lower().endswith(IMAGE_EXTENSIONS)  # visible names only: ".png" alone is hidden


class _Under(Sequence):
    """Files under ``top`` by relative name, made Paths only when read: a cached folder of
    100,000 images starts without building 100,000 Path objects."""

    def __init__(self, top: Path, names: list[str]):
        self.top, self.names = top, names

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.top / n for n in self.names[i]]
        return self.top / self.names[i]


def decode(path: Path):
    """Open and fully decode one image as an 8-bit PIL image in mode "L" or "RGB"."""
    from PIL import Image

    with Image.open(path) as img:
        img.load()  # decode now, so corrupt and truncated files fail here, not later
        has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
        if has_alpha:
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB")
        if img.mode in SIXTEEN_BIT_MODES:
            # PIL's convert("L") clips 16-bit values at 255 instead of scaling them.
            wide = np.asarray(img, dtype=np.float64)
            return Image.fromarray(np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8), mode="L")
        return img.convert("L" if img.mode in GRAY_MODES else "RGB")


def square(img, size: int) -> torch.Tensor:
    """PIL image -> uint8 (C, size, size): shorter side to ``size``, then the centre crop."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    pixels = torch.from_numpy(np.array(img, dtype=np.uint8))
    pixels = pixels[None] if pixels.ndim == 2 else pixels.permute(2, 0, 1)  # (H, W[, C]) -> (C, H, W)
    if min(pixels.shape[-2:]) != size:
        pixels = TF.resize(pixels, size, interpolation=InterpolationMode.BILINEAR, antialias=True)
    return TF.center_crop(pixels, [size, size])


def decode_file(path: Path, size: int) -> tuple[np.ndarray | None, str]:
    """One image file -> (uint8 (C, size, size) with C 1 or 3, ""), or (None, why) when it cannot
    be decoded. Runs in the cache's worker processes."""
    from PIL import Image

    try:
        img = decode(path)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        # UnidentifiedImageError and "image file is truncated" are OSErrors; some
        # decoders raise SyntaxError or ValueError on malformed headers.
        return None, type(err).__name__
    return square(img, size).numpy(), ""


def _class_folders(images: list[str]) -> list[str]:
    """Names of the immediate sub-folders holding images (relative names), when there are at least two."""
    names = sorted({n.split("/", 1)[0] for n in images if "/" in n})
    return names if len(names) >= 2 else []


def _warn_skipped(top: Path, skipped: list[tuple[Path, str]], total: int) -> None:
    examples = ", ".join(f"{p.relative_to(top)} ({why})" for p, why in skipped[:3])
    more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
    message = f"folder {str(top)!r}: skipped {len(skipped)} of {total} files: {examples}{more}"
    warnings.warn(message, stacklevel=4)  # 4: the line that called load_data


def folder(arg=None, *, image_size=None, root=None, download=False, seed=0, split="train",
           cache_dir=None) -> DataBundle:
    """``folder:PATH``; ``root``, ``download`` and ``seed`` do not apply."""
    top = Path(arg).expanduser()
    if not top.exists():
        raise BadInputError(f"image folder {str(top)!r} does not exist; expected a folder of images")
    if not top.is_dir():
        raise BadInputError(f"{str(top)!r} is not a folder; use folder:PATH with a folder of images")
    size = image_size or DEFAULT_SIZE

    files_now = listing(top)  # relative names: a large folder is handled as strings, not Paths
    names = [name for name, _, _ in files_now]
    images = [is_image_name(n) for n in names]
    skipped = [(top / n, "not an image file") for n, ok in zip(names, images) if not ok]
    candidates = [n for n, ok in zip(names, images) if ok]
    class_names = _class_folders(candidates)
    if class_names:
        skipped += [(top / n, "outside the class folders") for n in candidates if "/" not in n]
        candidates = [n for n in candidates if "/" in n]

    pixels, failed = None, []
    if candidates:
        pixels, failed = cache.cached_images(top, files_now, _Under(top, candidates), size, cache_dir=cache_dir,
                                             decode=decode_file, relist=lambda: listing(top))
    skipped += [(top / name, why) for name, why in failed]
    if pixels is None:  # the error alone, without a warning before it: one line for the user
        why = f"; skipped {len(skipped)} unreadable or non-image files" if skipped else ""
        raise BadInputError(
            f"no readable images in {str(top)!r} (looked for {', '.join(IMAGE_EXTENSIONS)}, recursively){why}"
        )
    if skipped:
        _warn_skipped(top, skipped, len(names))

    y = None
    if class_names:
        unreadable = {name for name, _ in failed}
        label = {name: i for i, name in enumerate(class_names)}
        y = torch.tensor([label[n.split("/", 1)[0]] for n in candidates if n not in unreadable], dtype=torch.int64)
    return DataBundle(
        spec=f"folder:{arg}",
        kind="image",
        x=Pixels(pixels),
        y=y,
        num_classes=len(class_names),
        class_names=class_names,
        meta={
            "path": str(top.resolve()),
            "skipped": len(skipped),
            "split": split,
            "held_out": False,
            "native_size": None,  # images may differ in size; every one was fit to `size`
        },
    )
