"""What every loader returns, the registry entry, and the tensor helpers the loaders share.

Kept apart from ``__init__`` so the loader modules can import these without a circular import;
``genlab.data`` re-exports everything public.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

# Embedded labelled sets hold out this fraction of every class for split="test". The seed is
# fixed (not the run seed) so that every run, whatever its seed, scores against the same images.
HOLDOUT_FRACTION = 0.1
HOLDOUT_SEED = 1234


@dataclass
class DataBundle:
    """A whole dataset in memory, ready to batch.

    Images are float32 (N, C, H, W) in [-1, 1]; vectors are float32 (N, D). For ``kind ==
    "unpaired"`` ``x`` holds domain A and ``x_b`` domain B.
    """

    spec: str  # the spec string the user gave, e.g. "grid25" or "points:/a/b.csv"
    kind: str  # "vector" | "image" | "unpaired"
    x: torch.Tensor
    y: torch.Tensor | None = None  # (N,) int64 class labels, or None
    num_classes: int = 0
    class_names: list[str] = field(default_factory=list)
    x_b: torch.Tensor | None = None  # domain B images for kind == "unpaired"
    modes: torch.Tensor | None = None  # (M, D) known mode centres, for mode-collapse metrics
    mode_std: float | None = None  # std of each mode
    meta: dict = field(default_factory=dict)  # free-form extras (skipped files, native size, ...)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def __repr__(self) -> str:  # the default repr would print the tensors
        labels = f", classes={self.num_classes}" if self.y is not None else ""
        return f"DataBundle({self.spec!r}, {self.kind}, n={len(self.x)}, shape={self.sample_shape}{labels})"


@dataclass(frozen=True)
class DatasetSpec:
    """One registry entry: how to build a dataset and how to describe it."""

    # factory(arg, *, image_size, root, download, seed, split) -> DataBundle
    factory: Callable[..., DataBundle]
    help: str  # one line for `genlab datasets`
    takes_arg: bool = False  # True for "points:PATH", "folder:PATH"
    arg: str = "PATH"  # how `genlab datasets` names the argument


def uint8_to_unit(images: np.ndarray | torch.Tensor, max_value: float = 255.0) -> torch.Tensor:
    """Integer pixels in [0, max_value] -> contiguous float32 in [-1, 1], shape unchanged."""
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    return (x * (2.0 / max_value) - 1.0).contiguous()


def resize_images(x: torch.Tensor, size: int | None, *, chunk: int = 4096) -> torch.Tensor:
    """Resize a (N, C, H, W) batch to (N, C, size, size); ``None`` or the same size is a no-op.

    Bilinear with antialias: its triangle filter has no negative lobes, so values stay in
    [-1, 1] (the clamp only removes float rounding). Chunked so a 60k-image set does not need
    two full float copies at once.
    """
    if size is None or tuple(x.shape[-2:]) == (size, size):
        return x.contiguous()
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    out = torch.empty((x.shape[0], x.shape[1], size, size), dtype=torch.float32)
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk]
        out[start : start + chunk] = TF.resize(
            part, [size, size], interpolation=InterpolationMode.BILINEAR, antialias=True
        ).clamp_(-1.0, 1.0)
    return out


def holdout_indices(labels: np.ndarray, split: str) -> np.ndarray:
    """Indices of ``split`` in a deterministic, per-class (stratified) 90/10 split.

    Stratified so that every class appears in the small test split too; sorted so the train
    split keeps the file's order.
    """
    rng = np.random.default_rng(HOLDOUT_SEED)
    test = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n_test = max(1, round(HOLDOUT_FRACTION * len(members)))
        test.append(rng.permutation(members)[:n_test])
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[np.concatenate(test)] = True
    return np.flatnonzero(is_test if split == "test" else ~is_test)
