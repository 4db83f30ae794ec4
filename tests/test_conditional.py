"""cgan and cvae: labels reach both networks, every game trains, samples follow the class asked."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

import genlab
from genlab.config import resolve
from genlab.data import load_data
from genlab.errors import BadInputError
from genlab.models import MODELS, DataInfo
from genlab.models.conditional import class_grid, class_major_labels
from genlab.training.trainer import set_trainable

from helpers import run_main, tiny_run

IMAGE = DataInfo("image", (1, 8, 8), num_classes=10)
VECTOR = DataInfo("vector", (2,), num_classes=3)


def build(name, info=IMAGE, **over):
    cls = MODELS[name]
    cfg = resolve(cls, {"width": 8, "hidden": 32, "latent_dim": 4, **over})
    torch.manual_seed(0)
    return cls(cls.Config(**cfg.model_args), info)


def batch(info=IMAGE, n=10):
    g = torch.Generator().manual_seed(1)
    return {"x": torch.rand(n, *info.shape, generator=g) * 2 - 1, "y": torch.arange(n) % info.num_classes}


# ----------------------------------------------------------------------------- labels reach the nets


@pytest.mark.parametrize("info", [IMAGE, VECTOR], ids=["image", "vector"])
def test_cgan_label_changes_generator_and_critic_outputs(info):
    model = build("cgan", info).eval()
    z = torch.randn(4, model.latent_dim)
    y0, y1 = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    assert not torch.allclose(model.G(z, y0), model.G(z, y1))
    x = batch(info, 4)["x"]
    assert not torch.allclose(model.critic(x, y0), model.critic(x, y1))


def test_cgan_gradients_reach_both_label_embeddings():
    model = build("cgan")
    b = batch()
    for phase, emb in (("g", model.G.embed), ("d", model.D.embed)):
        model.zero_grad(set_to_none=True)
        set_trainable(model, phase)
        loss, _ = model.loss(phase, b)
        loss.backward()
        assert emb.weight.grad is not None and emb.weight.grad.abs().sum() > 0, phase


def test_cgan_aux_classifier_adds_weighted_cross_entropy_to_both_losses():
    """aux_weight w (AC-GAN): D's loss is the game's loss plus w × CE of the reals' logits against
    their labels; G's is its game loss plus w × CE of its fakes' logits against the class asked,
    and G's gradient reaches it through the head; with w = 0 there is no head at all."""
    import torch.nn.functional as F

    from genlab import games

    assert build("cgan").D.classify is None
    w, b = 0.7, batch()
    model = build("cgan", aux_weight=w)
    set_trainable(model, "d")
    torch.manual_seed(3)
    loss_d, logs = model.loss("d", b)
    torch.manual_seed(3)
    fake = model.generate(len(b["x"]), b["y"]).detach()
    real_t, fake_t = model.to_net(b["x"]), model.to_net(fake)
    out_r, logits_r = model.D(real_t, b["y"], logits=True)
    game = games.game(model.cfg.loss)
    expected = game.d_loss(out_r, model.D(fake_t, b["y"])) + w * F.cross_entropy(logits_r, b["y"])
    assert torch.allclose(loss_d, expected, atol=1e-6)
    assert torch.allclose(logs["aux_d"], F.cross_entropy(logits_r, b["y"]), atol=1e-6)
    loss_d.backward()
    assert model.D.classify.weight.grad.abs().sum() > 0  # D learns to classify the reals

    model.zero_grad(set_to_none=True)
    set_trainable(model, "g")
    torch.manual_seed(4)
    loss_g, logs = model.loss("g", b)
    torch.manual_seed(4)
    out_f, logits_f = model.D(model.to_net(model.generate(len(b["x"]), b["y"])), b["y"], logits=True)
    ce = F.cross_entropy(logits_f, b["y"])
    assert torch.allclose(loss_g, model.g_loss(out_f) + w * ce, atol=1e-6)
    assert torch.allclose(logs["aux_g"], ce, atol=1e-6)
    # the class term alone moves G: its gradient through the head is not zero
    model.zero_grad(set_to_none=True)
    ce.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.G.parameters())


def test_cgan_aux_weight_bad_value_is_refused(tmp_path, user_error):
    err = user_error("train", "cgan", "--data", "digits", "--steps", "1", "--set", "aux_weight=-1",
                     "--out", str(tmp_path / "r"))
    assert "aux_weight must be >= 0" in err and not (tmp_path / "r").exists()


def test_cvae_label_reaches_encoder_and_decoder():
    model = build("cvae").eval()
    x = batch(IMAGE, 4)["x"]
    y0, y1 = torch.zeros(4, dtype=torch.long), torch.full((4,), 7)
    assert not torch.allclose(model.encode(x, y0)[0], model.encode(x, y1)[0])
    z = torch.randn(4, model.latent_dim)
    assert not torch.allclose(model.decode(z, y0), model.decode(z, y1))
    model.train()
    loss, logs = model.loss("model", batch())
    logs = {k: float(v) for k, v in logs.items()}  # logs are 0-dim tensors
    loss.backward()
    assert loss.item() == pytest.approx(logs["recon"] + logs["kl"], rel=1e-5)
    assert model.encoder.trunk[0].weight.grad[:, 1:].abs().sum() > 0  # the label channels learn


# ----------------------------------------------------------------------------- games and checks


def test_cgan_games_inherit_their_losses_and_defaults():
    bce, ls, wgan = build("cgan", loss="bce"), build("cgan", loss="lsgan"), build("cgan", loss="wgan-gp")
    assert all(isinstance(m, MODELS["cgan"]) for m in (bce, ls, wgan))
    assert wgan.repeats() == {"d": 5, "g": 1} and bce.repeats() == {"d": 1, "g": 1}
    opt = wgan.configure_optimizers()["d"].param_groups[0]
    assert opt["lr"] == 1e-4 and opt["betas"] == (0.0, 0.9)
    opt = bce.configure_optimizers()["d"].param_groups[0]
    assert opt["lr"] == 2e-4 and opt["betas"] == (0.5, 0.999)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in wgan.D.modules())
    bce16 = build("cgan", DataInfo("image", (1, 16, 16), num_classes=10), loss="bce")
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in bce16.D.modules())  # DCGAN's critic
    out = torch.tensor([[0.3], [-0.2]])
    assert ls.d_loss(out, out).item() == pytest.approx(0.5 * ((out - 1) ** 2).mean() + 0.5 * (out**2).mean())
    b = batch()
    for model in (bce, ls, wgan):
        for phase in model.phases:
            loss, logs = model.loss(phase, b)
            logs = {k: float(v) for k, v in logs.items()}  # logs are 0-dim tensors
            assert torch.isfinite(loss)
    torch.manual_seed(0)
    _, logs = wgan.loss("d", b)
    logs = {k: float(v) for k, v in logs.items()}  # logs are 0-dim tensors
    assert logs["gp"] > 0 and logs["loss_d"] == pytest.approx(-logs["wasserstein"] + logs["gp"], rel=1e-4)


def test_explicit_settings_beat_the_game_defaults():
    model = build("cgan", loss="wgan-gp", beta1=0.5, d_steps=2)
    opt = model.configure_optimizers(3e-4)["d"].param_groups[0]  # --lr reaches the optimizers
    assert opt["lr"] == 3e-4 and opt["betas"] == (0.5, 0.9) and model.repeats()["d"] == 2


@pytest.mark.parametrize("name", ["cgan", "cvae"])
def test_unlabelled_data_is_refused_with_the_labelled_sets(name, tmp_path):
    with pytest.raises(BadInputError, match="labelled dataset: digits, mnist5k"):
        build(name, DataInfo("image", (1, 8, 8)))
    with pytest.raises(BadInputError, match="needs class labels"):
        genlab.train(name, "grid25", out=tmp_path / "r", steps=1)


def test_labels_are_checked_and_default_to_every_class():
    model = build("cgan")
    assert class_major_labels(5, 3).tolist() == [0, 0, 1, 1, 2]
    assert class_major_labels(20, 10).bincount().tolist() == [2] * 10
    with pytest.raises(BadInputError, match="0..9"):
        model.sample(2, y=torch.tensor([0, 10]))
    x = model.sample(20)
    torch.manual_seed(0)
    model.eval()
    z = model.randn(20, model.latent_dim)
    expect = torch.tanh(model.G(z, class_major_labels(20, 10)))
    torch.manual_seed(0)
    assert torch.allclose(model.sample(20), expect, atol=1e-6) and x.shape == (20, 1, 8, 8)


def test_class_grid_puts_one_class_per_row():
    x = torch.arange(7.0)[:, None, None, None].expand(7, 1, 2, 2)  # image i holds the value i
    grid, per = class_grid(x, 3)  # labels 0 0 0 1 1 2 2
    assert per == 3 and grid.shape == (9, 1, 2, 2)
    assert grid[:, 0, 0, 0].tolist() == [0, 1, 2, 3, 4, -1, 5, 6, -1]
    images, nrow = build("cvae").preview(64)
    assert nrow == 6 and images.shape == (60, 1, 8, 8)


# ----------------------------------------------------------------------------- quality and CLI


@pytest.fixture(scope="module")
def digits_cvae(tmp_path_factory):
    return tiny_run(tmp_path_factory, "cvae", "digits", steps=300, batch_size=64, sample_every=0,
                    overrides={"width": 16, "latent_dim": 8})


def test_cvae_samples_are_classified_as_the_class_asked(digits_cvae):
    from genlab.metrics.conditional import conditional_scores

    rows = conditional_scores(genlab.load(digits_cvae).model, load_data("digits"), n_per_class=50)
    mean = [r for r in rows if r["metric"] == "class_accuracy" and r["class"] is None][0]
    assert mean["value"] > 0.5, mean  # chance is 0.1
    assert mean["extractor"] == "digits_cls" and mean["n"] == 500 and mean["seed"] == 0
    per_class = [r for r in rows if r["metric"] == "intra_fd" and r["class"] is not None]
    assert len(per_class) == 10 and all(r["value"] >= 0 for r in per_class)


def test_cvae_scores_through_evaluate(digits_cvae):
    from genlab.evaluation import evaluate

    scores = {s.metric: s for s in evaluate(digits_cvae, n=100, k=4)}  # the defaults must all apply
    assert {"recon_mse", "psnr", "nll", "fd_digits_cls"} <= scores.keys()
    assert scores["nll"].value <= -scores["elbo"].value + 1e-6  # the IW bound is the tighter one
    asked = {s.metric: s for s in evaluate(digits_cvae, metrics="class_accuracy,intra_fd", n=100)}
    acc = asked["class_accuracy"]
    assert acc.value > 0.5 and acc.extractor == "digits_cls" and acc.n_fake == 100
    assert len(acc.detail["per_class"]) == 10 and asked["intra_fd"].value > 0


def test_cvae_without_labels_uses_its_own_classification():
    model = build("cvae").eval()
    x = batch(IMAGE, 6)["x"]
    y = model.infer_labels(x)
    assert y.shape == (6,) and torch.equal(model.reconstruct(x), model.reconstruct(x, y))
    torch.manual_seed(0)
    lw = model.log_weights(x, 8)  # labels drawn per importance sample: a bound on log p(x)
    assert lw.shape == (6, 8) and torch.isfinite(lw).all()
    assert model.log_weights(x, 3, y).shape == (6, 3)


@pytest.mark.parametrize("loss", ["bce", pytest.param("lsgan", marks=pytest.mark.slow)])
def test_cgan_samples_are_classified_as_the_class_asked(tmp_path, loss):
    from genlab.metrics.conditional import conditional_scores

    model = genlab.train("cgan", "digits", out=tmp_path / "r", steps=800, batch_size=64, seed=0, sample_every=0,
                         overrides={"width": 16, "latent_dim": 16, "loss": loss})
    rows = conditional_scores(model, load_data("digits"), n_per_class=50)
    mean = [r for r in rows if r["metric"] == "class_accuracy" and r["class"] is None][0]
    assert mean["value"] > 0.5, mean


def test_sample_cli_draws_a_class_and_a_row_per_class(digits_cvae, tmp_path, user_error):
    import numpy as np

    from genlab.metrics.features import load_classifier

    assert run_main("sample", digits_cvae, "--n", "100", "--class", "3", "--out", tmp_path / "threes.npy") == 0
    threes = torch.from_numpy(np.load(tmp_path / "threes.npy"))
    assert threes.shape == (100, 1, 8, 8)
    assert (load_classifier("digits_cls").predict(threes) == 3).double().mean() > 0.5
    assert run_main("sample", digits_cvae, "--n", "30", "--out", tmp_path / "grid.png") == 0
    w, h = Image.open(tmp_path / "grid.png").size
    # 3 columns, 10 rows of 8 px + 2 px padding, enlarged 3x to carry the class names in a left margin
    assert h == 3 * (2 + 10 * 10) and 3 * (2 + 3 * 10) < w < 3 * (2 + 3 * 10) + 40
    err = user_error("sample", digits_cvae, "--class", "10", "--out", tmp_path / "x.png", unchanged=tmp_path)
    assert "0..9" in err
