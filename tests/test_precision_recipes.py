"""Recipes that train in bf16-mixed: they do so only where bf16 arithmetic is native (the step
counts were sized with its speed), the user's --precision always wins, and a bf16 recipe run
resumes bit for bit."""

from __future__ import annotations

import pytest
import torch

import genlab
from genlab import configure
from genlab.config import FP32
from genlab.configure import resolve_config
from genlab.models import model_class

from helpers import assert_same_weights

BF16_RECIPES = [("cyclegan", "seasons"), ("wgan-gp", "mnist5k"), ("lsgan", "mnist5k")]


@pytest.mark.parametrize(("model", "data"), BF16_RECIPES)
@pytest.mark.parametrize("native", [True, False])
def test_a_bf16_recipe_follows_the_hardware(monkeypatch, model, data, native):
    """Where bf16 is native the recipe runs as written; elsewhere in 32-true, with its fp32 settings
    (fewer steps: the same budget) in place of the bf16 ones, and the rest of the recipe as written."""
    monkeypatch.setattr(configure, "native_bf16", lambda accelerator: native)
    cfg = resolve_config(model, data, {})
    preset = model_class(model).presets[data]
    fp32 = preset[FP32]
    assert fp32["steps"] < preset["steps"]
    assert cfg.precision == ("bf16-mixed" if native else "32-true")
    assert cfg.steps == (preset["steps"] if native else fp32["steps"])
    assert resolve_config(model, data, {"steps": 7}).steps == 7  # the user's steps win either way
    flat = {**cfg.model_args, **vars(cfg)}
    for key, value in preset.items():
        if key not in (FP32, "precision", *fp32):
            assert flat[key] == value, key


@pytest.mark.parametrize(("model", "data"), BF16_RECIPES)
@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("given", ["32-true", "bf16-mixed"])
def test_the_users_precision_wins_and_picks_the_recipes_settings(monkeypatch, model, data, native, given):
    """The user's --precision runs on either machine, and the steps follow it: 32-true on a bf16
    machine trains the fp32 settings, bf16-mixed where bf16 is emulated the bf16 ones."""
    monkeypatch.setattr(configure, "native_bf16", lambda accelerator: native)
    preset = model_class(model).presets[data]
    cfg = resolve_config(model, data, {"precision": given})
    assert cfg.precision == given
    assert cfg.steps == (preset["steps"] if given == "bf16-mixed" else preset[FP32]["steps"])


def test_recipes_without_bf16_stay_in_full_precision(monkeypatch):
    monkeypatch.setattr(configure, "native_bf16", lambda accelerator: True)
    for model, data in (("gan", "mnist5k"), ("cgan", "shapes"), ("cyclegan", "mnist-style")):
        assert resolve_config(model, data, {}).precision == "32-true"


def test_native_bf16_reads_the_cpu_flags(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert not configure.native_bf16("cpu")
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert configure.native_bf16("cpu")
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert configure.native_bf16("cpu")


def test_a_bf16_recipe_run_records_its_precision_and_resumes_bit_exactly(tmp_path, monkeypatch):
    """The seasons recipe as a user runs it (default settings, a few steps): 6 straight == 3, stop,
    resume to 6, under bf16 autocast; config.json says which precision ran."""
    monkeypatch.setattr(configure, "native_bf16", lambda accelerator: True)  # bf16 is emulated, not refused, elsewhere
    opts = dict(seed=2, ckpt_every=3, sample_every=3)
    genlab.train("cyclegan", "seasons", out=tmp_path / "straight", steps=6, **opts)
    genlab.train("cyclegan", "seasons", out=tmp_path / "split", steps=3, **opts)
    genlab.train("cyclegan", "seasons", out=tmp_path / "split", steps=6, resume=True, **opts)
    assert_same_weights(tmp_path / "straight", tmp_path / "split")
    run = genlab.load(tmp_path / "split")
    assert run.config["train"]["precision"] == "bf16-mixed"
    x = genlab.load_data("seasons", split="test").x[:4]
    assert torch.isfinite(run.model.translate(x)).all()


def test_the_gradient_penalty_in_bf16_follows_the_fp32_one():
    """WGAN-GP's penalty differentiates the critic's input gradient (a double backward). Under
    CPU bf16 autocast, on the mnist5k recipe's critic, the input gradients' norms, the penalty and
    its gradient with respect to the critic stay close to 32-bit ones."""
    from genlab.data import load_data
    from genlab.losses import gradient_penalty
    from genlab.models import build_model, data_info

    torch.manual_seed(0)
    cfg = resolve_config("wgan-gp", "mnist5k", {})
    critic = build_model("wgan-gp", cfg.model_args, data_info(load_data("mnist5k"))).D
    real, fake = torch.rand(32, 1, 28, 28) * 2 - 1, torch.rand(32, 1, 28, 28) * 2 - 1
    eps = torch.rand(32, 1, 1, 1)

    def penalty_and_grads():
        critic.zero_grad()
        x = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (g,) = torch.autograd.grad(critic(x).sum(), x)
        gp = gradient_penalty(critic, real, fake, eps)
        gp.backward()
        grads = torch.cat([p.grad.flatten() for p in critic.parameters() if p.grad is not None])
        return g.flatten(1).norm(dim=1), gp.detach(), grads

    median = penalty_and_grads()[0].median()
    with torch.no_grad():  # scale the last layer so that the input gradients' norms straddle 1
        [p for p in critic.parameters() if p.dim() > 1 and p.grad is not None][-1].div_(median)
    norms, gp, grads = penalty_and_grads()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        norms16, gp16, grads16 = penalty_and_grads()
    assert norms.min() < 1 < norms.max()  # the penalty's both sides are in play
    assert torch.allclose(norms16, norms, rtol=0.03)
    assert gp16.item() == pytest.approx(gp.item(), rel=0.05)
    assert torch.nn.functional.cosine_similarity(grads16, grads, dim=0) > 0.99
