"""Latent interpolation: slerp itself, then ``genlab interpolate`` for every family with a Gaussian code."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

import genlab
from genlab.interpolate import code_path, lerp, manifold, seed_code, slerp
from helpers import run_main as call

FAMILIES = ["ae", "vae", "gan", "lsgan", "wgan-gp"]


# ----------------------------------------------------------------------------- the maths


def test_slerp_ends_at_the_codes_and_keeps_the_norm():
    a, b = seed_code(0, 64), seed_code(1, 64)
    t = torch.linspace(0, 1, 9)
    path = slerp(a, b, t)
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    norms = path.norm(dim=1)
    expect = (1 - t) * a.norm() + t * b.norm()
    assert torch.allclose(norms, expect, atol=1e-4)  # on the shell where Gaussian codes live
    # the straight line dips towards the origin, which a Gaussian decoder never saw in training
    assert lerp(a, b, t)[4].norm() < 0.8 * norms[4]


def test_slerp_moves_at_constant_angular_speed_in_the_plane_of_the_codes():
    a, b = seed_code(2, 16), seed_code(3, 16)
    path = slerp(a, b, torch.linspace(0, 1, 5))
    unit = path / path.norm(dim=1, keepdim=True)
    steps = torch.arccos((unit[1:] * unit[:-1]).sum(1).clamp(-1, 1))
    assert torch.allclose(steps, steps.mean().expand_as(steps), atol=1e-4)
    basis = torch.linalg.qr(torch.stack([a, b], 1))[0]  # (16, 2)
    residual = path - (path @ basis) @ basis.T
    assert residual.abs().max() < 1e-4


def test_slerp_of_parallel_codes_falls_back_to_the_line():
    a = torch.ones(4)
    out = slerp(a, 2 * a, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(out, torch.stack([a, 1.5 * a, 2 * a]))
    assert not torch.isnan(slerp(a, -a, torch.tensor([0.5]))).any()


def test_codes_depend_only_on_the_seeds():
    p1 = code_path([4, 5, 6], 8, 3)
    p2 = code_path([4, 5, 6], 8, 3)
    assert len(p1) == 2 and all(torch.equal(x, y) for x, y in zip(p1, p2))
    assert torch.equal(p1[0][-1], p1[1][0])  # the path is continuous at a seed


# ----------------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def image_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("interp")
    runs = {}
    for model in FAMILIES:
        runs[model] = root / model
        genlab.train(model, "digits", out=runs[model], steps=2, batch_size=16, sample_every=0,
                     overrides={"width": 8, "latent_dim": 6})
    runs["vae2"] = root / "vae2"
    genlab.train("vae", "digits", out=runs["vae2"], steps=2, batch_size=16, overrides={"width": 8, "latent_dim": 2})
    return runs


@pytest.mark.parametrize("model", FAMILIES)
def test_image_strip_for_every_family(image_runs, model, tmp_path, capsys):
    out = tmp_path / "strip.png"
    assert call("interpolate", image_runs[model], "--out", out, "--steps", "5", "--seeds", "1,2,3") == 0
    assert "seeds 1,2,3" in capsys.readouterr().out
    img = Image.open(out)
    tile = 8 * math.ceil(48 / 8) + 2 * math.ceil(48 / 8)  # 8x8 digits enlarged, padding included
    assert img.size == (5 * tile + 2 * math.ceil(48 / 8), 2 * tile + 2 * math.ceil(48 / 8))  # 5 frames x 2 pairs
    # neighbouring frames differ, and the row starts at seed 1 and ends at seed 2
    m = genlab.load(image_runs[model]).model
    from genlab.interpolate import decode

    row = decode(m, code_path([1, 2], m.latent_dim, 5)[0])
    assert not torch.equal(row[0], row[-1])


@pytest.mark.parametrize("model", ["vae", "gan"])
def test_gif_animation(image_runs, model, tmp_path):
    out = tmp_path / "anim.gif"
    assert call("interpolate", image_runs[model], "--out", out, "--steps", "6", "--seeds", "0,9") == 0
    gif = Image.open(out)
    assert gif.format == "GIF" and gif.n_frames == 2 * 6 - 2  # there and back
    assert min(gif.size) >= 128


def test_two_dimensional_latent_gives_the_manifold(image_runs, tmp_path):
    out = tmp_path / "manifold.png"
    assert call("interpolate", image_runs["vae2"], "--out", out, "--steps", "7") == 0
    tile = 8 * 6 + 2 * 6
    assert Image.open(out).size == (7 * tile + 12, 7 * tile + 12)
    m = genlab.load(image_runs["vae2"]).model
    grid = manifold(m, 7)
    assert grid.shape == (49, 1, 8, 8)
    # --no-grid gives the strip instead
    assert call("interpolate", image_runs["vae2"], "--out", out, "--steps", "4", "--no-grid", "--seeds", "0,1",
                "--overwrite") == 0
    assert Image.open(out).size == (4 * tile + 12, tile + 12)


def test_two_dimensional_data_plots_the_path(tiny_gan_run, tmp_path):
    png, gif = tmp_path / "path.png", tmp_path / "path.gif"
    assert call("interpolate", tiny_gan_run, "--out", png, "--steps", "6", "--seeds", "0,1,2") == 0
    img = Image.open(png).convert("RGB")
    colours = np.unique(np.asarray(img).reshape(-1, 3), axis=0)
    assert img.size[0] >= 300 and len(colours) > 20
    assert call("interpolate", tiny_gan_run, "--out", gif, "--steps", "3") == 0
    assert Image.open(gif).n_frames == 2 * 3 - 2


def test_random_seeds_are_reported_and_reproducible(image_runs, tmp_path, capsys):
    a = tmp_path / "a.png"
    assert call("interpolate", image_runs["gan"], "--out", a, "--steps", "3") == 0
    seeds = capsys.readouterr().out.strip().rsplit("seeds ", 1)[1].rstrip(")")
    b = tmp_path / "b.png"
    assert call("interpolate", image_runs["gan"], "--out", b, "--steps", "3", "--seeds", seeds) == 0
    assert a.read_bytes() == b.read_bytes()
