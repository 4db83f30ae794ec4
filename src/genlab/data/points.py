"""User vectors: ``points:PATH`` with PATH a .csv or .npy file holding an (N, D) array.

A .csv is comma separated, one point per row; its first row may be a header of column names
(only when none of its cells is a number). Every problem - missing file, other extension,
wrong number of dimensions, text, empty cells, ragged rows, NaN/Inf, too few rows - is a
one-line ``BadInputError`` naming the file, what was wrong and what is expected.

There is no held-out part: both splits return every point (``meta["held_out"] = False``), so a
metric computed on split="test" of user points is computed on the training points.
"""

from __future__ import annotations

import csv
import os
from tokenize import TokenError
from pathlib import Path

import numpy as np
import torch

from genlab.data.base import DataBundle
from genlab.errors import BadInputError

EXPECTED = "expected an (N, D) array of finite numbers in a .csv or .npy file"
MIN_POINTS = 2  # fewer cannot give a spread, and every metric needs at least two


def _bad(path: Path, what: str) -> BadInputError:
    return BadInputError(f"points file {str(path)!r}: {what}; {EXPECTED}")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_npy(path: Path) -> np.ndarray:
    try:
        # allow_pickle=False: a .npy of Python objects could run code when loaded
        array = np.load(path, allow_pickle=False)
    # a damaged header reaches numpy's literal parser: SyntaxError or TokenError, not only ValueError
    except (ValueError, OSError, EOFError, SyntaxError, OverflowError, MemoryError, TokenError) as err:
        raise _bad(path, f"not a readable numeric .npy file ({err})") from None
    if not isinstance(array, np.ndarray):  # np.load returns an NpzFile for zip archives
        raise _bad(path, "not a single .npy array")
    if array.dtype.kind not in "biuf":
        raise _bad(path, f"holds {array.dtype} values, not numbers")
    if array.ndim != 2:
        raise _bad(path, f"has shape {tuple(array.shape)} ({array.ndim}-D)")
    return array


def _read_csv(path: Path) -> np.ndarray:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: drop an Excel BOM
            rows = [(number, [c.strip() for c in row]) for number, row in enumerate(csv.reader(f), 1)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise _bad(path, f"not a readable text .csv file ({err})") from None
    rows = [(number, row) for number, row in rows if any(row)]  # blank lines carry no point
    if not rows:
        raise _bad(path, "is empty")
    if not any(_is_number(cell) for cell in rows[0][1]):
        rows = rows[1:]  # a header of column names
    if not rows:
        raise _bad(path, "has a header but no rows")

    width = len(rows[0][1])
    for number, row in rows:
        if len(row) != width:
            raise _bad(path, f"row {number} has {len(row)} values but row {rows[0][0]} has {width}")
    try:
        return np.array([row for _, row in rows], dtype=np.float64)
    except ValueError:
        pass
    # The fast conversion failed: find the first offending cell to name it.
    for number, row in rows:
        for column, cell in enumerate(row, 1):
            if not _is_number(cell):
                shown = repr(cell) if cell else "empty"
                raise _bad(path, f"row {number}, column {column} is {shown}, not a number")
    raise _bad(path, "could not be read as numbers")  # unreachable in practice


def read_points(path: str | os.PathLike) -> np.ndarray:
    """Read and check a user points file; returns a float32 (N, D) array."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".npy"):
        raise _bad(path, f"has extension {suffix or '(none)'!r}")
    if not path.exists():
        raise _bad(path, "does not exist")
    if not path.is_file():
        raise _bad(path, "is not a file")
    array = _read_npy(path) if suffix == ".npy" else _read_csv(path)

    if array.shape[1] < 1:
        raise _bad(path, f"has shape {tuple(array.shape)}, with no columns")
    if array.shape[0] < MIN_POINTS:
        raise _bad(path, f"has {array.shape[0]} rows, at least {MIN_POINTS} are needed")
    with np.errstate(over="ignore"):  # 1e300 becomes inf in float32; caught just below
        array = array.astype(np.float32)
    finite = np.isfinite(array)
    if not finite.all():
        row, column = np.argwhere(~finite)[0]
        value = array[row, column]
        raise _bad(path, f"point {row + 1}, value {column + 1} is {value} (NaN, Inf or beyond float32)")
    return np.ascontiguousarray(array)


def points(arg=None, *, image_size=None, root=None, download=False, seed=0, split="train") -> DataBundle:
    """``points:PATH``; ``image_size``, ``root``, ``download`` and ``seed`` do not apply."""
    array = read_points(arg)
    return DataBundle(
        spec=f"points:{arg}",
        kind="vector",
        x=torch.from_numpy(array),
        meta={"path": str(Path(arg).expanduser().resolve()), "split": split, "held_out": False},
    )
