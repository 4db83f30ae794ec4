"""``--compile`` (torch.compile of every trained part) and ``--channels-last`` (conv nets in
channels-last memory format): same runs, same checkpoints, exact resume, clear refusals.

Tolerances, measured on CPU after 20 steps: a compiled GAN's weights differ from the eager run's
by at most 2e-5 (inductor fuses and reorders float arithmetic), checked at 1e-3; channels-last
conv weights differ from contiguous ones by at most 2e-8, checked at 1e-5. Resume is bit-exact
in both modes. The compiled runs of this file share their shapes, so torch.compile traces
their networks once per process (the CLI run compiles in its own process).
"""

from __future__ import annotations

import json

import pytest
import torch

import genlab
from genlab.errors import BadInputError
from genlab.training.compiling import compile_failure, compiled, guard_compiled

from conftest import run_cli
from helpers import assert_same_weights, weights

GAN = dict(batch_size=32, seed=0, ema=True, sample_every=0, overrides={"hidden": 16, "lr_decay": 0.0})
IMAGE_GAN = dict(batch_size=16, seed=0, sample_every=0, overrides={"width": 4, "latent_dim": 4})


def assert_close(a, b, atol):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=atol, msg=k)


# ----------------------------------------------------------------------------- --compile


@pytest.fixture(scope="module")
def gan_runs(tmp_path_factory):
    """20 steps of a tiny 2-D GAN with an EMA: eager; compiled straight; compiled for 10 steps by
    the CLI, then resumed to 20 in this process; compiled for 10, resumed to 20 with --no-compile."""
    top = tmp_path_factory.mktemp("compile")
    cli = run_cli("train", "gan", "--data", "grid25", "--steps", "10", "--batch-size", "32", "--seed", "0",
                  "--ema", "--compile", "--set", "hidden=16", "--set", "lr_decay=0", "--set", "sample_every=0",
                  "--quiet", "--out", top / "split")
    assert cli.returncode == 0, cli.stderr[-3000:]
    genlab.train("gan", "grid25", out=top / "split", steps=20, resume=True, compile=True, **GAN)
    genlab.train("gan", "grid25", out=top / "straight", steps=20, compile=True, **GAN)
    genlab.train("gan", "grid25", out=top / "eager", steps=20, **GAN)
    genlab.train("gan", "grid25", out=top / "switched", steps=10, compile=True, **GAN)
    genlab.train("gan", "grid25", out=top / "switched", steps=20, resume=True, compile=False, **GAN)
    return top


def test_a_compiled_run_resumed_halfway_equals_the_uninterrupted_one(gan_runs):
    assert json.loads((gan_runs / "split" / "config.json").read_text())["train"]["compile"] is True
    assert_same_weights(gan_runs / "split", gan_runs / "straight")


def test_compiled_weights_are_close_to_eager_ones_and_saved_under_the_same_keys(gan_runs):
    keys = weights(gan_runs / "eager").keys()
    assert any(k.startswith("ema.") for k in keys)
    assert not [k for k in weights(gan_runs / "straight") if "_orig_mod" in k]
    assert_close(gan_runs / "straight", gan_runs / "eager", atol=1e-3)
    assert_close(gan_runs / "switched", gan_runs / "eager", atol=1e-3)  # a resume may drop --compile
    assert json.loads((gan_runs / "switched" / "config.json").read_text())["train"]["compile"] is False


def test_a_compiled_run_loads_and_samples_as_a_plain_one(gan_runs):
    run = genlab.load(gan_runs / "straight")
    torch.manual_seed(0)
    assert run.model.sample(10).shape == (10, 2)
    assert not isinstance(run.model.G, torch._dynamo.eval_frame.OptimizedModule)


def test_switching_parts_between_phases_does_not_recompile_every_step(gan_runs):
    """G and D share MLP.forward: one graph per part and phase (trainable or frozen), all made at
    the first step, far below dynamo's limit of graphs per function."""
    from torch._dynamo.eval_frame import _debug_get_cache_entry_list

    from genlab.nets.mlp import MLP

    graphs = len(_debug_get_cache_entry_list(MLP.forward.__code__))
    assert graphs == 4, graphs
    assert graphs < torch._dynamo.config.recompile_limit


def test_a_missing_cpp_compiler_is_one_error_line_and_leaves_no_run(user_error, tmp_path, monkeypatch):
    from torch._inductor import cpp_builder
    from torch._inductor.exc import InvalidCxxCompiler

    def absent():
        raise InvalidCxxCompiler

    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", absent)
    line = user_error("train", "gan", "--data", "grid25", "--steps", "2", "--compile", "--accelerator", "cpu",
                      "--out", tmp_path / "run", unchanged=tmp_path)
    assert "--compile" in line and "C++ compiler" in line and "drop --compile" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("model", "data"), [("wgan-gp", "grid25"), ("cgan", "digits")])
def test_a_gradient_penalty_refuses_compile_before_training(user_error, tmp_path, model, data):
    """Compiled networks cannot be differentiated twice: refused up front, not at the first backward."""
    line = user_error("train", model, "--data", data, "--steps", "2", "--compile", "--set", "loss=wgan-gp",
                      "--out", tmp_path / "run", unchanged=tmp_path)
    assert "gradient penalty" in line and "drop --compile" in line


def test_a_compile_failure_at_the_first_call_is_one_error_naming_compile():
    def broken_backend(graph, inputs):
        raise RuntimeError("the backend cannot build kernels")

    part = guard_compiled(torch.compile(torch.nn.Linear(3, 2), backend=broken_backend))
    with pytest.raises(BadInputError, match=r"^--compile: torch.compile failed .*cannot build kernels.*drop --compile"):
        part(torch.randn(4, 3))
    penalty = RuntimeError("torch.compile with aot_autograd does not currently support double backward")
    assert "gradient penalty" in str(compile_failure(penalty))
    assert compile_failure(ValueError("a bug elsewhere")) is None


def test_compiled_parts_share_the_plain_modules_parameters():
    net = torch.nn.Linear(3, 2)
    part = guard_compiled(compiled(net))
    assert part._orig_mod is net and list(part.state_dict()) == ["_orig_mod.weight", "_orig_mod.bias"]


# ----------------------------------------------------------------------------- --channels-last


@pytest.fixture(scope="module")
def image_runs(tmp_path_factory):
    """20 steps of a tiny DCGAN on 8x8 digits: contiguous; channels-last; channels-last resumed at 10."""
    top = tmp_path_factory.mktemp("channels_last")
    genlab.train("gan", "digits", out=top / "contiguous", steps=20, **IMAGE_GAN)
    genlab.train("gan", "digits", out=top / "straight", steps=20, channels_last=True, **IMAGE_GAN)
    genlab.train("gan", "digits", out=top / "split", steps=10, channels_last=True, **IMAGE_GAN)
    genlab.train("gan", "digits", out=top / "split", steps=20, resume=True, **IMAGE_GAN)
    return top


def test_a_channels_last_run_resumed_halfway_equals_the_uninterrupted_one(image_runs):
    assert json.loads((image_runs / "split" / "config.json").read_text())["train"]["channels_last"] is True
    assert_same_weights(image_runs / "split", image_runs / "straight")


def test_channels_last_weights_are_close_to_contiguous_ones_and_load_anywhere(image_runs):
    assert_close(image_runs / "straight", image_runs / "contiguous", atol=1e-5)
    run = genlab.load(image_runs / "straight")  # a plain (contiguous) model reads the checkpoint
    torch.manual_seed(0)
    assert run.model.sample(4).shape == (4, 1, 8, 8)


def test_conv_parts_are_channels_last_during_training(tmp_path):
    from genlab.configure import resolve_config
    from genlab.models import build_model, data_info
    from genlab.data import load_data
    from genlab.training.callbacks import Callback
    from genlab.training.trainer import Trainer

    class Layouts(Callback):
        def __init__(self):
            self.seen = []

        def on_step(self, trainer, step, logs):
            convs = [p for a in trainer.attrs for p in getattr(trainer.model, a).parameters() if p.dim() == 4]
            self.seen.append(bool(convs) and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs))
            for opt in trainer.opts.values():  # the optimizers step the same (converted) tensors
                for p in (p for g in opt.param_groups for p in g["params"] if p.dim() == 4):
                    assert p.is_contiguous(memory_format=torch.channels_last)

    settings = {"steps": 3, "channels_last": True, **{k: v for k, v in IMAGE_GAN.items() if k != "overrides"},
                **IMAGE_GAN["overrides"]}
    cfg = resolve_config("gan", "digits", settings)
    data = load_data(cfg.data, seed=cfg.seed)
    model = build_model(cfg.model, cfg.model_args, data_info(data))
    layouts = Layouts()
    Trainer(model, data, cfg, tmp_path, callbacks=[layouts]).fit()
    assert layouts.seen == [True, True, True]


def test_channels_last_is_refused_for_vector_data(user_error, tmp_path):
    line = user_error("train", "gan", "--data", "grid25", "--steps", "2", "--channels-last", "--out", tmp_path / "run",
                      unchanged=tmp_path)
    assert "--channels-last" in line and "MLP" in line
