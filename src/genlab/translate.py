"""``genlab translate``: image files through a trained translation model, names kept.

The input is one image file or a folder searched recursively like ``folder:PATH`` (hidden files
skipped, other files ignored). Each image is brought to the model's channels and training
size the way the training data was (shorter side resized, centre square cropped) and written
under the output folder with the same relative path, name and format. Nothing is written when
any output file already exists, so a second run never replaces a first.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genlab.errors import BadInputError, unknown


def _inputs(source: Path) -> tuple[Path, list[Path]]:
    """(the folder names are relative to, the image files) for a file or a folder."""
    from genlab.data.folder import IMAGE_EXTENSIONS, is_image_name, visible_files

    if not source.exists():
        raise BadInputError(f"input {str(source)!r} does not exist; pass an image file or a folder of images")
    if source.is_file():
        if not is_image_name(source):
            raise BadInputError(f"input {str(source)!r} is not an image file ({', '.join(IMAGE_EXTENSIONS)})")
        return source.parent, [source]
    files = [p for p in visible_files(source) if is_image_name(p)]
    if not files:
        raise BadInputError(f"no image files in {str(source)!r} "
                            f"(looked for {', '.join(IMAGE_EXTENSIONS)}, recursively)")
    return source, files


def _load(path: Path, channels: int, size: int) -> torch.Tensor:
    """One image file -> (C, size, size) in [-1, 1], as the training data was prepared."""
    from PIL import Image

    from genlab.data.base import uint8_to_unit
    from genlab.data.folder import decode, square

    try:
        img = decode(path)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise BadInputError(f"cannot read image {str(path)!r} ({type(err).__name__})") from None
    img = img.convert("L" if channels == 1 else "RGB")
    return uint8_to_unit(square(img, size))


def _save(x: torch.Tensor, path: Path) -> None:
    """(C, H, W) in [-1, 1] -> an image file in the format its extension names."""
    from PIL import Image

    from genlab.io import atomic_write

    pixels = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    img = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    fmt = Image.registered_extensions()[path.suffix.lower()]
    atomic_write(path, lambda tmp: img.save(tmp, format=fmt))


def translate_path(run: str | Path, source: str | Path, *, out: str | Path, direction: str = "a2b",
                   batch: int = 32, ema: bool | None = None) -> list[Path]:
    """Translate the image(s) at ``source`` with the model in ``run``; returns the written paths.
    ``ema``: as for :func:`genlab.load` (the EMA weights when the run has them)."""
    from genlab.runs import load
    from genlab.models.cyclegan import DIRECTIONS

    if direction not in DIRECTIONS:
        raise unknown("direction", direction, DIRECTIONS)
    from genlab.runs import check_run_output

    source, out = Path(source).expanduser(), Path(out).expanduser()
    check_run_output(out, run, folder=True)
    top, files = _inputs(source)
    targets = [out / p.relative_to(top) for p in files]
    taken = [t for t in targets if t.exists()]
    if taken:
        raise BadInputError(f"{str(taken[0])!r} already exists ({len(taken)} of {len(targets)} outputs); "
                            "nothing was written: choose a new or empty --out folder")
    loaded = load(run, ema=ema)
    model = loaded.model
    if not model.translates:
        raise BadInputError(f"run {str(run)!r} holds a {loaded.name!r} model; "
                            "translate needs a translation model (cyclegan)")
    c, h, _ = model.info.shape
    for i in range(0, len(files), batch):
        x = torch.stack([_load(p, c, h) for p in files[i:i + batch]])
        y = model.translate(x, direction).cpu()
        for img, target in zip(y, targets[i:i + batch]):
            _save(img, target)
    return targets
