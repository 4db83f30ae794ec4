"""Recipes that train in bf16-mixed: they do so only where bf16 arithmetic is native (the step
counts were sized with its speed), the user's --precision always wins, and a bf16 recipe run
resumes bit for bit."""

from __future__ import annotations

import pytest
import torch

import genlab
from genlab import configure
from genlab.configure import resolve_config
from genlab.models import model_class

from helpers import assert_same_weights

BF16_RECIPES = [("cyclegan", "seasons")]


@pytest.mark.parametrize(("model", "data"), BF16_RECIPES)
@pytest.mark.parametrize("native", [True, False])
def test_a_bf16_recipe_follows_the_hardware(monkeypatch, model, data, native):
    monkeypatch.setattr(configure, "native_bf16", lambda accelerator: native)
    cfg = resolve_config(model, data, {})
    assert cfg.precision == ("bf16-mixed" if native else "32-true")
    steps = model_class(model).presets[data]["steps"]
    assert cfg.steps == steps  # the rest of the recipe applies either way


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("given", ["32-true", "bf16-mixed"])
def test_the_users_precision_wins_over_the_recipe(monkeypatch, native, given):
    monkeypatch.setattr(configure, "native_bf16", lambda accelerator: native)
    assert resolve_config("cyclegan", "seasons", {"precision": given}).precision == given


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
