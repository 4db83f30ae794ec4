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

BF16_RECIPES = [("cyclegan", "seasons")]


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
