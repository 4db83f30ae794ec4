"""Shared fixtures: tiny data and tiny runs, so every test stays fast on 2 cores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: int = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m genlab ARGS`` in a fresh process; returns the completed process."""
    e = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "genlab", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=e, cwd=ROOT)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def tiny_gan_run(tmp_path_factory):
    """A 2-D GAN trained for 30 steps (shared by the read-only tests)."""
    import genlab

    out = tmp_path_factory.mktemp("runs") / "gan"
    genlab.train("gan", "grid25", out=out, steps=30, batch_size=64, seed=0, quiet=True)
    return out


@pytest.fixture(scope="session")
def tiny_vae_image_run(tmp_path_factory):
    """A conv VAE on 8x8 digits trained for 20 steps."""
    import genlab

    out = tmp_path_factory.mktemp("runs") / "vae"
    genlab.train("vae", "digits", out=out, steps=20, batch_size=32, seed=0, quiet=True,
                 overrides={"width": 8, "latent_dim": 4})
    return out
