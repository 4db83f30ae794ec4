"""What every loader returns, the registry entry, and the tensor helpers the loaders share.

Kept apart from ``__init__`` so the loader modules can import these without a circular import;
``genlab.data`` re-exports everything public.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

# Embedded labelled sets hold out this fraction of every class for split="test". The seed is
# fixed (not the run seed) so that every run, whatever its seed, scores against the same images.
HOLDOUT_FRACTION = 0.1
HOLDOUT_SEED = 1234
CHUNK = 4096  # images converted at once when a whole set is asked for


def uint8_to_unit(images: np.ndarray | torch.Tensor, max_value: float = 255.0) -> torch.Tensor:
    """Integer pixels in [0, max_value] -> contiguous float32 in [-1, 1], shape unchanged."""
    x = torch.from_numpy(np.asarray(images, dtype=np.float32))  # a new array: read-only maps stay untouched
    return (x * (2.0 / max_value) - 1.0).contiguous()


def resize_images(x: torch.Tensor, size: int | None, *, chunk: int = CHUNK) -> torch.Tensor:
    """Resize a (N, C, H, W) batch to (N, C, size, size); ``None`` or the same size is a no-op.

    Bilinear with antialias: its triangle filter has no negative lobes, so values stay in
    [-1, 1] (the clamp only removes float rounding). Each image is resized on its own, so a
    batch gives exactly the rows of the whole set. Chunked so a 60k-image set does not need
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


class Pixels:
    """Images kept as their integer pixels and made float [-1, 1] a batch at a time.

    ``data`` is uint8 (N, C, H, W): an array in memory or a read-only memory map of a cache file,
    so a set costs one byte per pixel, and a mapped one only the pages its batches touch.
    ``take`` converts the rows asked for exactly as the whole set would be converted:
    ``uint8_to_unit``, then ``resize_images`` to ``size``, then gray repeated to ``channels``.
    """

    def __init__(self, data: np.ndarray, *, max_value: float = 255.0, size: int | None = None,
                 channels: int | None = None):
        if data.dtype != np.uint8 or data.ndim != 4:
            raise ValueError(f"Pixels holds uint8 (N, C, H, W) arrays, got {data.dtype} {data.shape}")
        self.data = data
        # a whole memory-mapped file (the folder cache): batches read their rows with pread, so
        # the process maps no pages of it (a map's pages count as its memory, read-ahead included)
        self._file = None
        if isinstance(data, np.memmap) and isinstance(data.base, mmap.mmap) and data.flags.c_contiguous:
            self._file = (str(data.filename), int(data.offset), int(np.prod(data.shape[1:])))
        self._fd: int | None = None
        self.max_value = max_value  # the pixel value that maps to +1 (scikit-learn's digits: 16)
        self.size = None if size == data.shape[-1] == data.shape[-2] else size  # None: as stored
        self.channels = channels if channels and channels != data.shape[1] else None  # None: as stored

    def __len__(self) -> int:
        return len(self.data)

    @property
    def shape(self) -> tuple[int, ...]:
        n, c, h, w = self.data.shape
        return (n, self.channels or c, *((self.size, self.size) if self.size else (h, w)))

    def _read(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` of the mapped file, read with one pread each (no pages mapped)."""
        path, offset, size = self._file
        if self._fd is None:
            self._fd = os.open(path, os.O_RDONLY)
        out = np.empty((len(idx), *self.data.shape[1:]), dtype=np.uint8)
        flat = out.reshape(len(idx), size)
        for j, i in enumerate(idx.tolist()):
            if os.preadv(self._fd, [flat[j]], offset + int(i) * size) != size:
                raise OSError(f"{path} ended before row {i}: the cache file was truncated")
        return out

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)

    def take(self, idx: torch.Tensor | np.ndarray | slice) -> torch.Tensor:
        """Rows ``idx`` (indices or a slice) as float32 (B, C, H, W) in [-1, 1]."""
        if self._file is not None and not isinstance(idx, slice) and hasattr(os, "preadv"):
            rows = self._read(np.asarray(idx).reshape(-1))
        else:
            rows = self.data[idx if isinstance(idx, slice) else np.asarray(idx)]
        x = resize_images(uint8_to_unit(rows, self.max_value), self.size)
        return x.expand(-1, self.channels, -1, -1).contiguous() if self.channels else x

    def full(self) -> torch.Tensor:
        """Every image in one float32 tensor, for callers that need the whole set (4 bytes a pixel)."""
        out = torch.empty(self.shape, dtype=torch.float32)
        for start in range(0, len(self), CHUNK):
            out[start : start + CHUNK] = self.take(slice(start, start + CHUNK))
        return out


class DataBundle:
    """A whole dataset, ready to batch.

    ``x`` is float32: images (N, C, H, W) in [-1, 1], vectors (N, D). For ``kind == "unpaired"``
    ``x`` holds domain A and ``x_b`` domain B. Image loaders hand their parts over as
    :class:`Pixels`: the bundle keeps the uint8 pixels (``source``, what batches are drawn from)
    and builds the float tensor only when ``x`` or ``x_b`` is read, once.
    """

    def __init__(self, spec: str, kind: str, x: torch.Tensor | Pixels, y: torch.Tensor | None = None,
                 num_classes: int = 0, class_names: list[str] | None = None,
                 x_b: torch.Tensor | Pixels | None = None, modes: torch.Tensor | None = None,
                 mode_std: float | None = None, meta: dict | None = None):
        self.spec = spec  # the spec string the user gave, e.g. "grid25" or "points:/a/b.csv"
        self.kind = kind  # "vector" | "image" | "unpaired"
        self.y = y  # (N,) int64 class labels, or None
        self.num_classes = num_classes
        self.class_names = list(class_names or [])
        self.modes = modes  # (M, D) known mode centres, for mode-collapse metrics
        self.mode_std = mode_std  # std of each mode
        self.meta = dict(meta or {})  # free-form extras (skipped files, native size, ...)
        self._parts = {"x": x, "x_b": x_b}  # as given: float tensors or Pixels
        self._floats: dict[str, torch.Tensor] = {}

    def source(self, part: str = "x") -> torch.Tensor | Pixels | None:
        """What batches of ``part`` ("x" or "x_b") are drawn from, not converted."""
        return self._parts[part]

    def _float(self, part: str) -> torch.Tensor | None:
        stored = self._parts[part]
        if not isinstance(stored, Pixels):
            return stored
        if part not in self._floats:
            self._floats[part] = stored.full()
        return self._floats[part]

    def _replace(self, part: str, value: torch.Tensor | Pixels | None) -> None:
        self._parts[part] = value
        self._floats.pop(part, None)

    @property
    def x(self) -> torch.Tensor:
        return self._float("x")

    @x.setter
    def x(self, value: torch.Tensor | Pixels) -> None:
        self._replace("x", value)

    @property
    def x_b(self) -> torch.Tensor | None:
        return self._float("x_b")

    @x_b.setter
    def x_b(self, value: torch.Tensor | Pixels | None) -> None:
        self._replace("x_b", value)

    @property
    def sizes(self) -> dict[str, int]:
        """Items in each part, without converting any: {"x": N} or {"x": N, "x_b": M}."""
        return {p: len(s) for p, s in self._parts.items() if s is not None}

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self._parts["x"].shape[1:])

    def __repr__(self) -> str:  # a plain repr would print the tensors
        labels = f", classes={self.num_classes}" if self.y is not None else ""
        return f"DataBundle({self.spec!r}, {self.kind}, n={self.sizes['x']}, shape={self.sample_shape}{labels})"


@dataclass(frozen=True)
class DatasetSpec:
    """One registry entry: how to build a dataset and how to describe it."""

    # factory(arg, *, image_size, root, download, seed, split[, cache_dir]) -> DataBundle
    factory: Callable[..., DataBundle]
    help: str  # one line for `genlab datasets`
    takes_arg: bool = False  # True for "points:PATH", "folder:PATH"
    arg: str = "PATH"  # how `genlab datasets` names the argument
    cached: bool = False  # decoded once into the on-disk cache: the factory also takes ``cache_dir``
    kind: str = "image"  # what its bundles hold: "vector", "image" or "unpaired" (known before loading)


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
