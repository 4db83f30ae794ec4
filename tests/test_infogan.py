"""InfoGAN's categorical code for the unconditional GANs (``info_codes``): the code is read from
the noise, fed to G one-hot, and a Q head on the critic's features must read it back; the term
joins both losses with ``info_weight``, is off by default, and bad values are refused."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import genlab
from genlab import games
from genlab.config import resolve
from genlab.models import MODELS, DataInfo
from genlab.models.gan import pack_samples
from genlab.sampling import draw
from genlab.training.trainer import set_trainable
from helpers import assert_same_weights, expect_user_error

IMAGE = DataInfo("image", (1, 8, 8))


def build(name="gan", **settings):
    cls = MODELS[name]
    return cls(cls.Config(**resolve(cls, {"width": 8, "latent_dim": 6, "augment": "", **settings}).model_args), IMAGE)


def test_the_code_is_the_argmax_of_the_first_noise_entries_and_uniform():
    model = build(info_codes=4)
    z = torch.randn(40000, 6)
    c = model.code(z)
    assert torch.equal(c, z[:, :4].argmax(1))
    share = torch.bincount(c, minlength=4) / len(c)
    assert torch.allclose(share, torch.full((4,), 0.25), atol=0.01)  # iid Gaussians: each entry the largest 1/4
    # G reads the code: its first layer takes the noise and the one-hot code
    first = next(m for m in model.G.modules() if isinstance(m, (torch.nn.Linear, torch.nn.ConvTranspose2d)))
    assert first.weight.shape[0 if isinstance(first, torch.nn.ConvTranspose2d) else 1] == 6 + 4
    model.eval()
    z = torch.zeros(2, 6)
    z[0, 1], z[1, 2] = 1e-3, 1e-3  # the same noise to within 1e-3, another code
    x = model.generate_from(z)
    assert (x[0] - x[1]).abs().max() > 1e-2


def test_off_by_default_the_critic_has_no_q_head():
    model = build()
    assert model.cfg.info_codes == 0 and not hasattr(model.D, "q")
    assert model.D(torch.randn(3, 1, 8, 8)).shape == (3, 1)


@pytest.mark.parametrize("pack", [1, 2])
def test_info_term_adds_weighted_cross_entropy_to_both_losses(pack):
    """D's loss is the game's loss plus w × CE of Q's reading of the fakes' codes (the code of each
    sample of a pack); G's is its game loss plus w × the same CE on fresh fakes, and the info term
    alone moves G and, in D's phase, Q."""
    w, k = 0.7, 3
    model = build(info_codes=k, info_weight=w, pack=pack)
    real = torch.rand(8, 1, 8, 8) * 2 - 1
    set_trainable(model, "d")
    torch.manual_seed(3)
    loss_d, logs = model.loss("d", {"x": real, "y": None})
    torch.manual_seed(3)
    z = torch.randn(8, 6)
    fake = model.generate_from(z).detach()
    out_r = model.D(pack_samples(model.to_net(real), pack))
    out_f, logits = model.D(pack_samples(model.to_net(fake), pack), logits=True)
    assert logits.shape == (8, k)
    ce = F.cross_entropy(logits, z[:, :k].argmax(1))
    expected = games.game("nonsaturating").d_loss(out_r, out_f) + w * ce
    assert torch.allclose(loss_d, expected, atol=1e-6) and torch.allclose(logs["info_d"], ce, atol=1e-6)
    loss_d.backward()
    assert model.D.q.weight.grad.abs().sum() > 0

    model.zero_grad(set_to_none=True)
    set_trainable(model, "g")
    torch.manual_seed(4)
    loss_g, logs = model.loss("g", {"x": real, "y": None})
    torch.manual_seed(4)
    z = torch.randn(8, 6)
    out, logits = model.D(pack_samples(model.to_net(model.generate_from(z)), pack), logits=True)
    ce = F.cross_entropy(logits, z[:, :k].argmax(1))
    assert torch.allclose(loss_g, model.g_loss(out) + w * ce, atol=1e-6)
    assert torch.allclose(logs["info_g"], ce, atol=1e-6)
    model.zero_grad(set_to_none=True)
    ce.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.G.parameters())


def test_wgan_gp_keeps_its_penalty_with_the_info_term():
    model = build("wgan-gp", info_codes=2)
    set_trainable(model, "d")
    _, logs = model.loss("d", {"x": torch.rand(6, 1, 8, 8) * 2 - 1, "y": None})
    assert {"gp", "info_d"} <= set(logs)


def test_sampling_and_latent_dot_read_the_code_from_the_noise(tmp_path):
    """draw() and latent-space DOT with one step of 1e-9 give the same samples: both decode
    N(0, I) noise, the code taken from it."""
    from genlab.refine import Refinement

    genlab.train("gan", "digits", out=tmp_path / "r", steps=3, batch_size=16,
                 overrides={"width": 8, "info_codes": 5, "latent_dim": 8})
    model = genlab.load(tmp_path / "r").model
    plain = draw(model, 20, seed=1)
    still = draw(model, 20, seed=1, refine=Refinement("dot", steps=1, lr=1e-9, space="latent"))
    assert plain.shape == (20, 1, 8, 8) and torch.allclose(plain, still, atol=1e-5)


def test_info_run_resumes_bit_exactly(tmp_path):
    opts = dict(batch_size=16, seed=2, ckpt_every=3, overrides={"info_codes": 4, "width": 8, "pack": 2})
    genlab.train("gan", "digits", out=tmp_path / "straight", steps=7, **opts)
    genlab.train("gan", "digits", out=tmp_path / "split", steps=4, **opts)
    genlab.train("gan", "digits", out=tmp_path / "split", steps=7, resume=True, **opts)
    assert_same_weights(tmp_path / "straight", tmp_path / "split")


@pytest.mark.parametrize(("model", "settings", "words"), [
    ("gan", ["info_codes=1"], "info_codes must be 0 (off) or from 2 to latent_dim"),
    ("gan", ["info_codes=-2"], "info_codes must be 0 (off) or from 2 to latent_dim"),
    ("gan", ["info_codes=9", "latent_dim=8"], "from 2 to latent_dim (8), got 9"),
    ("lsgan", ["info_codes=3", "info_weight=-1"], "info_weight must be >= 0"),
    ("cgan", ["info_codes=3"], "info_codes is for gan, lsgan and wgan-gp"),
])
def test_bad_values_are_refused_in_one_line(tmp_path, capsys, model, settings, words):
    extra = [a for s in settings for a in ("--set", s)]
    line = expect_user_error(capsys, "train", model, "--data", "digits", "--steps", "2", "--out", tmp_path / "r",
                             *extra, unchanged=tmp_path)
    assert words in line
