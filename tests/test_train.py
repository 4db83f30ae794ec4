"""The trainer: checkpoints, save/load, bit-exact resume, data-parallel equivalence."""

from __future__ import annotations

import csv
import json

import pytest
import torch

import genlab
from genlab.errors import BadInputError, BadRunError

from conftest import run_cli
from helpers import assert_same_weights, weights


def test_run_folder_layout(tiny_gan_run):
    names = {p.name for p in tiny_gan_run.iterdir()}
    assert {"config.json", "model.safetensors", "state.pt", "metrics.csv", "samples", "checkpoints"} <= names
    cfg = json.loads((tiny_gan_run / "config.json").read_text())
    assert cfg["model"] == "gan" and cfg["train"]["data"] == "grid25" and cfg["train"]["steps"] == 30
    assert cfg["train"]["model_args"]["loss"] == "nonsaturating"
    assert cfg["data_info"]["shape"] == [2]
    state = torch.load(tiny_gan_run / "state.pt", weights_only=True)  # tensors and primitives only
    assert state["step"] == 30 and set(state["optimizers"]) == {"d", "g"}
    rows = list(csv.DictReader(open(tiny_gan_run / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == [10, 20, 30]
    assert {"loss_d", "loss_g", "d_acc_real", "d_acc_fake", "grad_norm_d", "grad_norm_g"} <= rows[0].keys()
    assert list((tiny_gan_run / "samples").glob("*.png"))


def test_save_load_gives_identical_samples(tiny_gan_run):
    a, b = genlab.load(tiny_gan_run).model, genlab.load(tiny_gan_run).model
    torch.manual_seed(7)
    xa = a.sample(100)
    torch.manual_seed(7)
    xb = b.sample(100)
    assert torch.equal(xa, xb)
    assert not a.training


def test_returned_model_matches_loaded(tmp_path):
    m = genlab.train("vae", "digits", out=tmp_path / "r", steps=5, batch_size=16, overrides={"width": 8})
    loaded = genlab.load(tmp_path / "r").model
    torch.manual_seed(1)
    x1 = m.sample(8)
    torch.manual_seed(1)
    x2 = loaded.sample(8)
    assert torch.equal(x1, x2)


@pytest.mark.parametrize(("model", "data", "extra"), [
    # the 2-D presets decay the lr over the second half of --steps: a schedule tied to the total
    # cannot match when the total changes, so this split (100, then 200) runs with a constant lr
    ("gan", "grid25", {"lr_decay": 0.0}),
    ("wgan-gp", "ring8", {"ema": True, "lr_decay": 0.0}),
    ("vae", "digits", {"width": 8}),
])
def test_resume_is_bit_exact(tmp_path, model, data, extra):
    """100 steps, stop, resume to 200 == 200 straight (optimizer state, RNG, batch order, EMA)."""
    opts = dict(batch_size=32, seed=3, overrides={k: v for k, v in extra.items() if k != "ema"},
                ema=extra.get("ema"), ckpt_every=50)
    genlab.train(model, data, out=tmp_path / "straight", steps=200, **opts)
    genlab.train(model, data, out=tmp_path / "split", steps=100, **opts)
    genlab.train(model, data, out=tmp_path / "split", steps=200, resume=True, **opts)
    assert_same_weights(tmp_path / "straight", tmp_path / "split")
    rows = list(csv.DictReader(open(tmp_path / "split" / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == list(range(10, 201, 10))


def test_resume_from_a_checkpoint_folder_when_the_top_pair_is_inconsistent(tmp_path):
    out = tmp_path / "r"
    genlab.train("gan", "ring8", out=out, steps=40, ckpt_every=20, batch_size=32)
    (out / "state.pt").unlink()  # as if a crash hit between the two renames
    genlab.train("gan", "ring8", out=out, steps=60, resume=True, batch_size=32)
    assert torch.load(out / "state.pt", weights_only=True)["step"] == 60


def test_keeps_only_the_last_checkpoints(tmp_path):
    out = tmp_path / "r"
    genlab.train("gan", "ring8", out=out, steps=50, ckpt_every=10, keep_last=2, batch_size=32)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_000000040", "step_000000050"]


def test_refuses_to_clobber_an_existing_run(tiny_gan_run):
    before = (tiny_gan_run / "model.safetensors").read_bytes()
    with pytest.raises(BadInputError, match="already holds a run"):
        genlab.train("gan", "grid25", out=tiny_gan_run, steps=5)
    assert (tiny_gan_run / "model.safetensors").read_bytes() == before


def test_refuses_a_non_empty_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(BadInputError, match="not a run"):
        genlab.train("gan", "grid25", out=tmp_path, steps=5, overwrite=True)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_resume_without_a_run_is_an_error(tmp_path):
    with pytest.raises(BadRunError):
        genlab.train("gan", "grid25", out=tmp_path / "none", steps=5, resume=True)


def test_seeds_make_runs_reproducible(tmp_path):
    for name in ("a", "b"):
        genlab.train("lsgan", "ring8", out=tmp_path / name, steps=20, seed=5, batch_size=32)
    genlab.train("lsgan", "ring8", out=tmp_path / "c", steps=20, seed=6, batch_size=32)
    assert_same_weights(tmp_path / "a", tmp_path / "b")
    assert not torch.equal(weights(tmp_path / "a")["G.net.0.weight"], weights(tmp_path / "c")["G.net.0.weight"])


def test_ema_weights_are_saved_and_loadable(tmp_path):
    genlab.train("gan", "ring8", out=tmp_path / "r", steps=20, ema=True, ema_decay=0.9, batch_size=32)
    w = weights(tmp_path / "r")
    assert any(k.startswith("ema.") for k in w)
    plain, ema = genlab.load(tmp_path / "r", ema=False).model, genlab.load(tmp_path / "r", ema=True).model
    assert not torch.equal(plain.G.net[0].weight, ema.G.net[0].weight)


def _first_rows(run):
    return list(csv.DictReader(open(run / "metrics.csv")))[0]


def test_two_process_ddp_matches_one_process(tmp_path):
    """--devices 2 on CPU really runs DDP on 2 processes and, for a model without batch
    statistics (2-D WGAN-GP with g_norm=none, gradient penalty included), gives the first-step gradients of one
    process on the full batch."""
    common = ["wgan-gp", "--data", "grid25", "--steps", "1", "--batch-size", "64", "--accelerator", "cpu",
              "--set", "log_every=1", "--set", "sample_every=0", "--set", "g_norm=none", "--quiet"]
    one = run_cli("train", *common, "--devices", "1", "--out", tmp_path / "one")
    two = run_cli("train", *common, "--devices", "2", "--out", tmp_path / "two", timeout=600)
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    assert "data parallel: 2 processes (DDPStrategy" in two.stderr
    r1, r2 = _first_rows(tmp_path / "one"), _first_rows(tmp_path / "two")
    for key in ("grad_norm_d", "grad_norm_g"):  # after the all-reduce: global gradients
        assert float(r1[key]) == pytest.approx(float(r2[key]), rel=1e-4), key
    # Adam divides by sqrt(v): near-zero gradient entries may round differently, so the weights
    # agree to a fraction of one update (lr 1e-4), not bit for bit
    w1, w2 = weights(tmp_path / "one"), weights(tmp_path / "two")
    for k in w1:
        assert torch.allclose(w1[k], w2[k], atol=1e-4), k


@pytest.mark.parametrize("model", ["wgan-gp", "vae"])
def test_bf16_mixed_precision_trains(tmp_path, model):
    data, extra = ("ring8", {}) if model == "wgan-gp" else ("digits", {"width": 8})
    m = genlab.train(model, data, out=tmp_path / "r", steps=3, batch_size=16, precision="bf16-mixed", overrides=extra)
    assert torch.isfinite(m.sample(4)).all()


def test_unavailable_accelerator_is_a_user_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: cuda is available here")
    with pytest.raises(BadInputError, match="accelerator='cuda'"):
        genlab.train("gan", "ring8", out=tmp_path / "r", steps=2, accelerator="cuda")


def test_lr_decay_schedule():
    from genlab.models import MODELS, DataInfo

    cls = MODELS["gan"]
    m = cls(cls.Config(lr_decay=0.5), DataInfo("vector", (2,)))
    assert [m.lr_factor(s, 100) for s in (0, 49, 50, 75, 99)] == [1.0, 1.0, 1.0, 0.5, 0.02]


def test_presets_by_data_kind_sit_below_user_settings(tmp_path):
    def saved(run):
        return json.loads((run / "config.json").read_text())["train"]

    genlab.train("wgan-gp", "ring8", out=tmp_path / "a", steps=1)
    a = saved(tmp_path / "a")
    assert a["batch_size"] == 256 and a["model_args"]["game"]["gp_weight"] == 0.1 and a["model_args"]["beta1"] == 0.5
    genlab.train("wgan-gp", "ring8", out=tmp_path / "b", steps=1, batch_size=32, overrides={"gp_weight": 5.0})
    b = saved(tmp_path / "b")
    assert b["batch_size"] == 32 and b["model_args"]["game"]["gp_weight"] == 5.0 and b["model_args"]["beta1"] == 0.5
    genlab.train("wgan-gp", "digits", out=tmp_path / "c", steps=1, batch_size=8, overrides={"width": 8})
    c = saved(tmp_path / "c")  # images keep the paper's defaults
    assert c["model_args"]["game"]["gp_weight"] == 10.0 and c["model_args"]["beta1"] == 0.0
