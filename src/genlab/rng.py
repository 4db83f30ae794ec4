"""Seeded draws that leave the caller's random stream alone.

Library calls (sampling, evaluation, interpolation, conditional scores) draw reproducible noise
from a seed. They do it inside :func:`seeded`: the process-wide generators are seeded for the
block and put back as they were after it, so ``genlab.evaluate(...)`` inside a user's script
never moves the user's own ``torch`` random stream.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | str | None = None) -> Iterator[None]:
    """The CPU generator (and ``device``'s, on a GPU) seeded with ``seed`` inside the block; their
    states restored after it."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    cuda = dev.type == "cuda"
    with torch.random.fork_rng(devices=[dev.index or 0] if cuda else [], device_type="cuda"):
        torch.default_generator.manual_seed(seed)
        if cuda:
            torch.cuda.manual_seed(seed)
        yield
