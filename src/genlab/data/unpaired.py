"""``unpaired:DIR_A,DIR_B``: two folders of images, one per domain, for translation models.

Each folder is read like ``folder:PATH`` (recursive, any sizes, shorter side resized to
``image_size`` — 64 when None — then centre-cropped; sub-folder labels are ignored). The two
domains need not hold the same number of images. When one domain is grayscale and the other
colour, the grayscale one is repeated to RGB, so both have the same shape (a translation model
maps images of one shape to the same shape, and the identity loss compares them directly).
Folder names may contain commas: the split is made at the comma where both sides are folders.
"""

from __future__ import annotations

from pathlib import Path

from genlab.data.base import DataBundle, Pixels
from genlab.data.folder import folder
from genlab.errors import BadInputError

USAGE = "write unpaired:DIR_A,DIR_B (two image folders separated by a comma)"


def split_pair(arg: str) -> tuple[str, str]:
    """``"a,b"`` -> ("a", "b"); with more commas, the one split whose both sides are folders."""
    cuts = [i for i, ch in enumerate(arg) if ch == ","]
    if not cuts:
        raise BadInputError(f"unpaired needs two folders; {USAGE}")
    if len(cuts) == 1:
        a, b = arg[:cuts[0]].strip(), arg[cuts[0] + 1:].strip()
    else:
        found = [(arg[:i].strip(), arg[i + 1:].strip()) for i in cuts
                 if Path(arg[:i].strip()).expanduser().is_dir() and Path(arg[i + 1:].strip()).expanduser().is_dir()]
        if len(found) != 1:
            raise BadInputError(f"cannot tell the two folders apart in {arg!r}; {USAGE}")
        a, b = found[0]
    if not a or not b:
        raise BadInputError(f"unpaired needs two folders, got {arg!r}; {USAGE}")
    return a, b


def unpaired(arg=None, *, image_size=None, root=None, download=False, seed=0, split="train",
             cache_dir=None) -> DataBundle:
    """Domain A in ``x``, domain B in ``x_b``; no held-out part (both splits return everything)."""
    dir_a, dir_b = split_pair(arg or "")
    a = folder(dir_a, image_size=image_size, split=split, cache_dir=cache_dir)
    b = folder(dir_b, image_size=image_size, split=split, cache_dir=cache_dir)
    xa, xb = a.source(), b.source()
    if xa.shape[1] != xb.shape[1]:  # one gray, one colour: gray -> RGB by repetition, batch by batch
        xa, xb = Pixels(xa.data, channels=3), Pixels(xb.data, channels=3)
    return DataBundle(
        spec=f"unpaired:{arg}",
        kind="unpaired",
        x=xa,
        x_b=xb,
        meta={"path_a": a.meta["path"], "path_b": b.meta["path"], "skipped": a.meta["skipped"] + b.meta["skipped"],
              "split": split, "held_out": False, "native_size": None},
    )
