"""The adversarial game registry: closed forms of every game, its health readings, penalty and
defaults, and that one registry entry makes a game available to gan, cgan and cyclegan."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

import genlab
from genlab import games, losses
from genlab.config import resolve
from genlab.errors import BadInputError
from genlab.models import MODELS, DataInfo

REAL, FAKE = torch.tensor([[2.0], [-1.0]]), torch.tensor([[0.5], [-2.0]])  # raw critic outputs


def softplus(x: float) -> float:
    return math.log(1 + math.exp(x))


# every game of the registry: (d_loss(REAL, FAKE), g_loss(FAKE)), worked out by hand
CLOSED_FORMS = {
    # -log σ(r) = softplus(-r), -log(1 - σ(f)) = softplus(f); G: -log σ(f) = softplus(-f)
    "nonsaturating": ((softplus(-2) + softplus(1)) / 2 + (softplus(0.5) + softplus(-2)) / 2,
                      (softplus(-0.5) + softplus(2)) / 2),
    # G: log(1 - σ(f)) = -softplus(f)
    "minimax": ((softplus(-2) + softplus(1)) / 2 + (softplus(0.5) + softplus(-2)) / 2,
                -(softplus(0.5) + softplus(-2)) / 2),
    # ½ mean((r - 1)²) + ½ mean(f²) = ½·(1 + 4)/2 + ½·(0.25 + 4)/2; G: ½ mean((f - 1)²) = ½·(0.25 + 9)/2
    "lsgan": (2.3125, 2.3125),
    # mean(f) - mean(r) = -0.75 - 0.5; G: -mean(f)
    "wgan-gp": (-1.25, 0.75),
    # mean(relu(1 - r)) + mean(relu(1 + f)) = mean(0, 2) + mean(1.5, 0); G: -mean(f)
    "hinge": (1.75, 0.75),
    # the non-saturating game (R1 is a penalty on top, tested in test_critic_options)
    "r1": ((softplus(-2) + softplus(1)) / 2 + (softplus(0.5) + softplus(-2)) / 2, (softplus(-0.5) + softplus(2)) / 2),
}


def test_hinge_closed_form():
    r, f = torch.tensor([1.5, 0.2, -0.5, 1.0]), torch.tensor([-1.5, 0.0, 0.8])
    # real: relu(1 - r) = 0, 0.8, 1.5, 0 -> mean 0.575; fake: relu(1 + f) = 0, 1, 1.8 -> mean 14/15
    assert losses.hinge_d_loss(r, f).item() == pytest.approx(0.575 + 2.8 / 3)
    hinge = games.GAMES["hinge"]
    assert hinge.d_loss(r, f).item() == pytest.approx(0.575 + 2.8 / 3)
    assert hinge.g_loss(f).item() == pytest.approx(-(-1.5 + 0.0 + 0.8) / 3)
    # beyond the margins nothing is left to learn for the critic, and its gradient is zero there
    r = torch.tensor([3.0, 1.0], requires_grad=True)
    loss = hinge.d_loss(r, torch.tensor([-1.0, -4.0]))
    (grad,) = torch.autograd.grad(loss, r)
    assert loss.item() == 0.0 and grad.abs().sum() == 0


@pytest.mark.parametrize("name", list(games.GAMES))
def test_every_game_has_its_closed_form(name):
    assert name in CLOSED_FORMS, f"game {name!r} needs its closed-form values in CLOSED_FORMS"
    game = games.GAMES[name]
    d, g = CLOSED_FORMS[name]
    assert game.d_loss(REAL, FAKE).item() == pytest.approx(d, rel=1e-6)
    assert game.g_loss(FAKE).item() == pytest.approx(g, rel=1e-6)


def no_noise(*shape):
    raise AssertionError("a game without a penalty must not draw noise")


@pytest.mark.parametrize(("name", "acc_real", "acc_fake"), [
    ("nonsaturating", 0.5, 0.5),  # logit > 0 reads as real: 2 | -1;  0.5 | -2
    ("hinge", 0.5, 0.5),
    ("lsgan", 0.5, 1.0),  # the midpoint of a = 0 and b = 1: 2 | -1; 0.5, -2 both at or below
])
def test_health_reads_the_decision_threshold(name, acc_real, acc_fake):
    loss, logs = games.critic_loss(games.game(name), lambda t: t, REAL, FAKE, no_noise)
    assert logs["d_acc_real"].item() == acc_real and logs["d_acc_fake"].item() == acc_fake
    assert set(logs) == {"loss_d", "d_acc_real", "d_acc_fake"} and logs["loss_d"] is loss


def test_lsgan_targets_are_the_games_own_settings():
    game = games.game("lsgan", {"a": -1.0, "b": 1.0, "c": 0.0})
    assert game.threshold == 0.0
    # ½ mean((r - 1)²) + ½ mean((f + 1)²) = ½·(1 + 4)/2 + ½·(2.25 + 1)/2; G: ½ mean(f²)
    assert game.d_loss(REAL, FAKE).item() == pytest.approx(1.25 + 0.8125)
    assert game.g_loss(FAKE).item() == pytest.approx(0.5 * (0.25 + 4) / 2)
    _, logs = games.critic_loss(game, lambda t: t, REAL, FAKE, no_noise)
    assert logs["d_acc_fake"].item() == 0.5  # 0.5 is now on the real side of 0


def test_wasserstein_critic_reports_its_gap_and_penalty():
    """No fixed threshold: the midpoint of the mean outputs (-0.125) and their gap (1.25). A
    linear critic of norm 3 has gradient norm 3 everywhere: penalty λ(3 - 1)² = 40."""
    _, logs = games.critic_loss(games.game("wgan-gp", {"gp_weight": 0.0}), lambda t: t, REAL, FAKE, torch.rand)
    assert logs["wasserstein"].item() == pytest.approx(1.25)
    assert logs["d_acc_real"].item() == 0.5 and logs["d_acc_fake"].item() == 0.5
    w = torch.tensor([[2.0], [2.0], [1.0]])  # ‖w‖ = 3
    real, fake = torch.randn(6, 3), torch.randn(6, 3)
    loss, logs = games.critic_loss(games.game("wgan-gp"), lambda t: t @ w, real, fake, torch.rand)  # λ = 10
    assert logs["gp"].item() == pytest.approx(40.0, rel=1e-5)
    d = (fake @ w).mean() - (real @ w).mean()
    assert loss.item() == pytest.approx(d.item() + 40.0, rel=1e-5)
    assert list(logs) == ["loss_d", "wasserstein", "gp", "d_acc_real", "d_acc_fake"]


def test_the_game_sets_the_optimizer_and_critic_defaults():
    gan = MODELS["gan"]
    wgan = resolve(gan, {"loss": "wgan-gp"}).model_args
    assert (wgan["lr"], wgan["beta1"], wgan["beta2"], wgan["d_steps"]) == (1e-4, 0.0, 0.9, 5)
    hinge = resolve(gan, {"loss": "hinge", "beta1": 0.0, "d_steps": 2}).model_args  # explicit settings win
    assert (hinge["lr"], hinge["beta1"], hinge["beta2"], hinge["d_steps"]) == (2e-4, 0.0, 0.999, 2)
    model = gan(gan.Config(**{**wgan, "width": 8}), DataInfo("image", (1, 8, 8)))
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.D.modules())
    assert model.repeats() == {"d": 5, "g": 1}


def test_old_names_still_load():
    assert resolve(MODELS["cgan"], {"loss": "bce"}).model_args["loss"] == "nonsaturating"
    assert MODELS["wgan-gp"].Config(loss="wgan").loss == "wgan-gp"  # the wgan-gp model's saved name
    # a cgan run saved with the game's defaults left open (lr 0, β -1, d_steps 0)
    old = MODELS["cgan"].Config(loss="bce", lr=0.0, beta1=-1.0, beta2=-1.0, d_steps=0)
    assert old == MODELS["cgan"].Config()


@pytest.mark.parametrize("model", ["gan", "lsgan", "wgan-gp", "cgan", "cyclegan"])
def test_unknown_game_lists_the_valid_ones(model):
    with pytest.raises(BadInputError, match="loss='nope' is not allowed; valid: nonsaturating, minimax, lsgan, "
                                            "wgan-gp, hinge"):
        resolve(MODELS[model], {"loss": "nope"})


def test_unknown_game_on_the_command_line(user_error, tmp_path):
    line = user_error("train", "gan", "--data", "ring8", "--set", "loss=nope", "--steps", "1",
                      "--out", tmp_path / "r", unchanged=tmp_path)
    assert "valid: nonsaturating, minimax, lsgan, wgan-gp, hinge" in line


# ----------------------------------------------------------------------------- one entry, every family


@pytest.fixture
def toy_game(monkeypatch):
    """A game that exists only in this test: hinge with a margin of 2, its own optimizer defaults."""
    calls = {"d": 0, "g": 0}

    def d_loss(real_out, fake_out):
        calls["d"] += 1
        return F.relu(2 - real_out).mean() + F.relu(2 + fake_out).mean()

    def g_loss(fake_out):
        calls["g"] += 1
        return -fake_out.mean()

    monkeypatch.setitem(games.GAMES, "toy", games.Game(d_loss, g_loss, lr=3e-4, betas=(0.0, 0.99), d_steps=2))
    return calls


def model_args(run) -> dict:
    return json.loads((run / "config.json").read_text())["train"]["model_args"]


@dataclass
class Margin:
    margin: float = 2.0  # the toy game's own setting


def test_a_game_with_settings_reaches_every_family_from_its_entry(monkeypatch, tmp_path, unpaired_domains):
    """A parameterised game added to GAMES alone: --set margin=... is accepted by gan, cgan and
    cyclegan, stored in each run's config and read by the game's losses; refused elsewhere."""
    seen = []

    def configure(s: Margin) -> dict:
        def d_loss(r, f):
            seen.append(s.margin)  # the margin the critic's loss was computed with
            return F.relu(s.margin - r).mean() + F.relu(s.margin + f).mean()
        return {"d_loss": d_loss}

    monkeypatch.setitem(games.GAMES, "margin", games.Game(games.losses.hinge_d_loss, games.losses.wgan_g_loss,
                                                           settings=Margin, configure=configure))
    small = {"quiet": True, "sample_every": 0, "seed": 0}
    a, b = unpaired_domains
    for model, data, extra in (("gan", "ring8", {"hidden": 16}), ("cgan", "digits", {"width": 8}),
                               ("cyclegan", f"unpaired:{a},{b}", {"width": 4, "blocks": 1})):
        seen.clear()
        out = tmp_path / model
        genlab.train(model, data, out=out, steps=2, batch_size=4 if model == "cyclegan" else 16,
                     image_size=16 if model == "cyclegan" else None,
                     overrides={"loss": "margin", "margin": 3.5, **extra}, **small)
        assert model_args(out)["game"] == {"margin": 3.5} and seen and set(seen) == {3.5}, model
    with pytest.raises(BadInputError, match="margin is a setting of the margin game"):
        resolve(MODELS["gan"], {"margin": 1.0})


def test_one_registry_entry_is_a_game_for_every_family(toy_game, tmp_path, unpaired_domains):
    small = {"quiet": True, "sample_every": 0, "seed": 0}
    genlab.train("gan", "ring8", out=tmp_path / "gan", steps=3, batch_size=16,
                 overrides={"loss": "toy", "hidden": 16}, **small)
    assert toy_game["d"] == 2 * 3 and toy_game["g"] == 3  # the game's two critic steps per G step
    saved = model_args(tmp_path / "gan")
    assert (saved["loss"], saved["lr"], saved["beta1"], saved["beta2"]) == ("toy", 3e-4, 0.0, 0.99)
    genlab.train("cgan", "digits", out=tmp_path / "cgan", steps=2, batch_size=16,
                 overrides={"loss": "toy", "width": 8, "latent_dim": 4, "d_steps": 1}, **small)
    assert toy_game["d"] == 6 + 2 and toy_game["g"] == 3 + 2
    a, b = unpaired_domains
    genlab.train("cyclegan", f"unpaired:{a},{b}", out=tmp_path / "cyc", steps=2, batch_size=4, image_size=16,
                 overrides={"loss": "toy", "width": 4, "blocks": 1}, **small)
    assert toy_game["d"] == 8 + 2 * 2 and toy_game["g"] == 5 + 2 * 2  # two critics, two generators
    assert model_args(tmp_path / "cgan")["loss"] == model_args(tmp_path / "cyc")["loss"] == "toy"
    with pytest.raises(BadInputError, match="valid: nonsaturating, minimax, lsgan, wgan-gp, hinge, r1, toy"):
        resolve(MODELS["cgan"], {"loss": "nope"})


@pytest.mark.parametrize("model", ["gan", "cgan"])
def test_hinge_trains(model, tmp_path):
    data, over = ("ring8", {"hidden": 16}) if model == "gan" else ("digits", {"width": 8, "latent_dim": 4})
    genlab.train(model, data, out=tmp_path / "r", steps=4, batch_size=16, quiet=True, sample_every=0,
                 overrides={"loss": "hinge", **over})
    assert model_args(tmp_path / "r")["loss"] == "hinge"
    rows = (tmp_path / "r" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,time,loss_d,d_acc_real,d_acc_fake,loss_g")
