"""Shared fixtures: tiny data and tiny runs, so every test stays fast on 2 cores."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import expect_user_error, tiny_run, write_unpaired

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """Under pytest-xdist (``make test`` runs two workers) each worker and every genlab process it
    starts computes on one thread, so the workers share the cores instead of oversubscribing them."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """The long quality checks first (marked ``slow``; ``make test`` keeps those also marked
    ``ci``), the rest in file order after them: the workers start on the long tests together and
    share out the short ones as they free up, rather than one worker ending the run alone on a
    four-minute test collected late. A stable sort, so every worker sees the same order."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def run_cli(*args: str, timeout: int = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m genlab ARGS`` in a fresh process; returns the completed process."""
    e = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "genlab", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=e, cwd=ROOT)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def user_error(capsys):
    """``user_error(*args, unchanged=FOLDER)``: runs genlab in-process, checks exit code 2, one
    "error: " line, no warning and (with ``unchanged``) no file touched; returns the line."""
    return functools.partial(expect_user_error, capsys)


@pytest.fixture(scope="session")
def tiny_gan_run(tmp_path_factory):
    """A 2-D GAN trained for 30 steps (shared by the read-only tests)."""
    return tiny_run(tmp_path_factory, "gan", "grid25", steps=30, batch_size=64)


@pytest.fixture(scope="session")
def tiny_vae_image_run(tmp_path_factory):
    """A conv VAE on 8x8 digits trained for 20 steps."""
    return tiny_run(tmp_path_factory, "vae", "digits", steps=20, batch_size=32,
                    overrides={"width": 8, "latent_dim": 4})


@pytest.fixture(scope="session")
def unpaired_domains(tmp_path_factory) -> tuple[Path, Path]:
    """Folders A and B for ``unpaired:A,B``: 6 RGB images of 20x24 in A, 5 gray ones of 30x18 in B."""
    top = tmp_path_factory.mktemp("domains")
    write_unpaired(top / "a", top / "b")
    return top / "a", top / "b"


@pytest.fixture(scope="session")
def tiny_cyclegan_run(unpaired_domains, tmp_path_factory):
    """A 16-px CycleGAN (width 4, one block) trained for 2 steps on ``unpaired_domains``."""
    a, b = unpaired_domains
    return tiny_run(tmp_path_factory, "cyclegan", f"unpaired:{a},{b}", steps=2, batch_size=4, image_size=16,
                    sample_every=0, overrides={"width": 4, "blocks": 1})


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Folder caches of every test (in-process and CLI subprocesses) go to a temporary folder,
    never the user's ~/.cache/genlab."""
    old = os.environ.get("GENLAB_CACHE")
    os.environ["GENLAB_CACHE"] = str(tmp_path_factory.mktemp("genlab-cache"))
    yield
    if old is None:
        os.environ.pop("GENLAB_CACHE", None)
    else:
        os.environ["GENLAB_CACHE"] = old
