"""Helpers shared by the test files: the command line in-process, the user-error contract,
small image folders and tiny runs. Fixtures built on them live in conftest.py."""

from __future__ import annotations

import hashlib
import io
import tempfile
import warnings
from pathlib import Path

import numpy as np

# ----------------------------------------------------------------------------- the command line


def run_main(*args) -> int:
    """Run ``genlab ARGS`` in this process (``genlab.cli.main``); returns its exit code."""
    from genlab.cli import main

    try:
        main([str(a) for a in args])
    except SystemExit as e:
        return e.code
    return 0


def snapshot(root: Path, *, times: bool = True) -> dict[str, tuple]:
    """Every path under ``root`` with its content hash and (with ``times``) its modification time
    (folders as ("dir",)). Without times: what a file holds, however often it was rewritten."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_dir():
            out[rel] = ("dir",)
        else:
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            out[rel] = (digest, p.stat().st_mtime_ns) if times else (digest,)
    return out


def expect_user_error(capsys, *args, unchanged: Path | None = None) -> str:
    """Run ``genlab ARGS`` in-process and check the user-error contract: exit code 2, exactly one
    line on stderr starting with "error: ", no traceback, no warning shown before it, and, with
    ``unchanged``, every file under that folder as it was and nothing new. Returns the error line."""
    capsys.readouterr()
    before = snapshot(unchanged) if unchanged is not None else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = run_main(*args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"exit {code}; stderr: {err}"
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    shown = [str(w.message) for w in caught if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))]
    assert not shown, f"warnings before the error: {shown}"
    if unchanged is not None:
        assert snapshot(unchanged) == before, "a user file was created, changed or removed"
    return lines[0]


# ----------------------------------------------------------------------------- files a user hands in


def image(size=(12, 10), mode="RGB", seed=0):
    """A random-pixel PIL image of ``size`` (width, height) in ``mode``."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = (rng.random((size[1], size[0], 3)) * 255).astype("uint8")
    return Image.fromarray(pixels).convert(mode)


def png(size=(12, 10), mode="RGB", seed=0) -> bytes:
    """The bytes of a random-pixel PNG file."""
    buf = io.BytesIO()
    image(size, mode, seed).save(buf, format="PNG")
    return buf.getvalue()


def write_files(folder: Path, files: dict[str, bytes]) -> Path:
    """A folder holding ``files`` (relative name -> bytes; sub-folders are created)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def write_images(folder: Path, n: int, size=(12, 10), mode="RGB", ext=".png", seed=0) -> Path:
    """``n`` random images named img0{ext}, img1{ext}, ... in ``folder`` (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image(size, mode, seed * 1000 + i).save(folder / f"img{i}{ext}")
    return folder


def write_unpaired(a: Path, b: Path, n_a: int = 6, n_b: int = 5) -> str:
    """Two image folders, ``n_a`` RGB images of 20x24 in ``a`` and ``n_b`` gray ones of 30x18 in
    ``b`` (sizes and channel counts differ on purpose); returns the ``unpaired:A,B`` spec."""
    write_images(a, n_a, (20, 24), "RGB")
    write_images(b, n_b, (30, 18), "L", seed=1)
    return f"unpaired:{a},{b}"


def scratch_file(tmp_path_factory, name: str) -> Path:
    """A path in a new empty folder, for tests (hypothesis) that cannot take a fresh ``tmp_path``."""
    return Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp())) / name


# ----------------------------------------------------------------------------- tiny runs


def tiny_run(tmp_path_factory, model: str, data: str, *, name: str | None = None, **kwargs) -> Path:
    """Train ``model`` on ``data`` into a new run folder (``genlab.train`` keywords, quiet, seed 0)."""
    import genlab

    out = tmp_path_factory.mktemp("runs") / (name or model)
    genlab.train(model, data, out=out, **{"seed": 0, "quiet": True, **kwargs})
    return out


# ----------------------------------------------------------------------------- run weights


def weights(run: Path) -> dict:
    """A run folder's final weights (model.safetensors)."""
    from safetensors.torch import load_file

    return load_file(str(Path(run) / "model.safetensors"))


def assert_same_weights(a: Path, b: Path) -> None:
    """Two runs' final weights: the same keys, bit for bit."""
    import torch

    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
