"""Writing samples of a trained run to .png / .npy / .csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genlab.errors import BadInputError
from genlab.training.checkpoint import atomic_write


def draw(model, n: int, *, seed: int = 0, label: int | None = None, batch: int = 1000) -> torch.Tensor:
    """``n`` samples in data space, reproducible from ``seed``, drawn in batches."""
    y = None
    if label is not None:
        if not model.conditional:
            raise BadInputError("--class is only for conditional models (cgan, cvae)")
        k = model.info.num_classes
        if not 0 <= label < k:
            raise BadInputError(f"--class must be in 0..{k - 1}, got {label}")
    torch.manual_seed(seed)
    chunks = []
    for i in range(0, n, batch):
        m = min(batch, n - i)
        if label is not None:
            y = torch.full((m,), label, dtype=torch.long, device=model.device)
        elif model.conditional:  # every class in turn, in contiguous blocks across the chunks
            y = torch.arange(i, i + m, device=model.device) * model.info.num_classes // n
        chunks.append(model.sample(m, y=y).detach().cpu())
    return torch.cat(chunks)


def write_samples(run: Path, *, n: int, out: Path, seed: int = 0, ema: bool = False, label: int | None = None) -> None:
    from genlab.api import load
    from genlab.report.figures import save_samples

    model = load(run, ema=ema)
    ext = out.suffix.lower()
    if ext == ".csv" and model.info.is_image:
        raise BadInputError("--out .csv is for vector data; use .png or .npy for images")
    x = draw(model, n, seed=seed, label=label)
    out.parent.mkdir(parents=True, exist_ok=True)
    if ext == ".png":
        cfg = model.run_config
        modes = torch.tensor(cfg["modes"]) if cfg.get("modes") else None
        nrow = None
        if model.conditional and label is None and model.info.is_image:
            from genlab.models.conditional import class_grid

            x, nrow = class_grid(x, model.info.num_classes)  # one row per class
        save_samples(x, out, modes=modes, title=f"{cfg['model']} ({cfg['train']['data']})", nrow=nrow)
    elif ext == ".npy":
        atomic_write(out, lambda tmp: np.save(open(tmp, "wb"), x.numpy()))
    else:
        atomic_write(out, lambda tmp: np.savetxt(tmp, x.numpy(), delimiter=",", fmt="%.6g"))
