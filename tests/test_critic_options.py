"""The critic's and generator's options that the image recipes are tuned over: spectral norm,
R1 (lazy or not), upsampling generators and two learning rates; each computes what it claims
and refuses bad values in one line."""

from __future__ import annotations

import pytest
import torch

import genlab
from genlab import games, losses
from genlab.config import resolve
from genlab.models import MODELS, DataInfo
from helpers import assert_same_weights, expect_user_error

IMAGE = DataInfo("image", (1, 8, 8))


def gan(**settings):
    cls = MODELS["gan"]
    return cls(cls.Config(**resolve(cls, {"width": 8, **settings}).model_args), IMAGE)


def test_spectral_norm_keeps_every_critic_layer_at_singular_value_one():
    """After some training forwards (one power iteration each), each parametrised weight, as the
    critic uses it, has largest singular value 1: torch.linalg.matrix_norm(ord=2) of the weight
    reshaped to (out, in·k·k), the matrix Miyato et al. normalise."""
    model = gan(d_norm="spectral")
    layers = [m for m in model.D.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert layers and all(hasattr(m, "parametrizations") for m in layers)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.D.modules())
    with torch.no_grad():
        for m in layers:  # far from 1 before: the raw weights are not normalised
            m.parametrizations.weight.original.mul_(5.0)
    model.train()
    for _ in range(60):
        model.D(torch.randn(4, 1, 8, 8))
    for m in layers:
        w = m.weight.detach()
        sigma = torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2).item()
        assert sigma == pytest.approx(1.0, abs=0.02), (m, sigma)
        raw = m.parametrizations.weight.original.detach()
        assert torch.linalg.matrix_norm(raw.reshape(raw.shape[0], -1), ord=2).item() > 1.5


def test_r1_on_an_analytic_critic_equals_its_closed_form():
    """D(x) = ½‖x‖² has ∇D(x) = x, so R1 = γ/2 · mean ‖x‖² over the real samples (fakes unused)."""
    real, fake = torch.randn(6, 3), torch.randn(6, 3)
    critic = lambda t: 0.5 * t.pow(2).sum(1, keepdim=True)  # noqa: E731
    expected = 0.5 * 4.0 * real.pow(2).sum(1).mean().item()
    assert losses.r1_penalty(critic, real, fake, None, gamma=4.0).item() == pytest.approx(expected, rel=1e-6)
    w = torch.nn.Parameter(torch.tensor([[1.0], [2.0], [2.0]]))  # linear: ‖∇D‖² = ‖w‖² = 9 everywhere
    r1 = losses.r1_penalty(lambda t: t @ w, real, fake, None, gamma=2.0)
    assert r1.item() == pytest.approx(9.0, rel=1e-6)
    (grad,) = torch.autograd.grad(r1, w)  # differentiable w.r.t. the critic: d(‖w‖²)/dw = 2w
    assert torch.allclose(grad, 2 * w.detach())


LINEAR_W = torch.tensor([[1.0], [2.0], [2.0]])  # a linear critic: ‖∇D‖ = ‖w‖ = 3 at every point


@pytest.mark.parametrize("name, settings, k, penalty", [
    # R1: γ/2 · ‖∇D(real)‖² = 9 with γ = 2
    ("r1", {"r1_gamma": 2.0, "r1_every": 4}, 4, 9.0),
    # WGAN-GP: λ(‖∇D(interpolate)‖ - 1)² = 4λ = 2 with λ = 0.5
    ("wgan-gp", {"gp_weight": 0.5, "gp_every": 3}, 3, 2.0),
])
def test_lazy_penalty_is_applied_k_times_weighted_on_exactly_every_kth_step(name, settings, k, penalty):
    """A lazy penalty (every k-th critic step, as StyleGAN2 applies R1) lands k× weighted on steps
    0, k, 2k, ... and nowhere else; without the setting it lands, unweighted, on every step."""
    real, fake = torch.randn(5, 3), torch.randn(5, 3)
    critic = lambda t: t @ LINEAR_W  # noqa: E731
    game = games.game(name, settings)
    plain = game.d_loss(critic(real), critic(fake)).item()
    for step in range(2 * k + 1):
        loss, logs = games.critic_loss(game, critic, real, fake, torch.rand, step=step)
        if step % k == 0:
            assert logs["gp"].item() == pytest.approx(k * penalty, rel=1e-5)
            assert loss.item() == pytest.approx(plain + k * penalty, rel=1e-5)
        else:
            assert "gp" not in logs and loss.item() == pytest.approx(plain, rel=1e-6)
    every = games.game(name, {key: v for key, v in settings.items() if not key.endswith("_every")})
    assert every.penalty_every == 1
    assert games.critic_loss(every, critic, real, fake, torch.rand, step=k + 1)[1]["gp"].item() == \
        pytest.approx(penalty, rel=1e-5)


@pytest.mark.parametrize("model, overrides", [
    ("wgan-gp", {"gp_every": 4, "width": 8}),
    ("gan", {"loss": "r1", "r1_every": 3, "width": 8}),
])
def test_lazy_penalty_run_resumes_bit_exactly(tmp_path, model, overrides):
    opts = dict(batch_size=16, seed=2, ckpt_every=3, overrides=overrides)
    genlab.train(model, "digits", out=tmp_path / "straight", steps=9, **opts)
    genlab.train(model, "digits", out=tmp_path / "split", steps=5, **opts)
    genlab.train(model, "digits", out=tmp_path / "split", steps=9, resume=True, **opts)
    assert_same_weights(tmp_path / "straight", tmp_path / "split")


def test_upsampling_generator_and_two_learning_rates():
    model = gan(g_up="upsample", lr_d=4e-4)
    mods = list(model.G.modules())
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in mods)
    assert any(isinstance(m, torch.nn.Upsample) for m in mods)
    assert model.G(torch.randn(3, model.latent_dim)).shape == (3, 1, 8, 8)
    opts = model.configure_optimizers(1e-4)  # the run's --lr
    assert [g["lr"] for g in opts["d"].param_groups] == [4e-4] and [g["lr"] for g in opts["g"].param_groups] == [1e-4]
    same = gan().configure_optimizers()  # lr_d 0: the critic at lr
    assert same["d"].param_groups[0]["lr"] == same["g"].param_groups[0]["lr"] == 2e-4


def test_conv_depth_adds_size_keeping_layers_at_every_scale():
    """conv_depth=k: k 3x3 stride-1 convolutions per scale in both nets (28 px: two scales in D,
    base and 14 px in G), outputs unchanged in shape; the conditional family builds them too."""
    info = DataInfo("image", (1, 28, 28))
    cls = MODELS["gan"]
    for k in (0, 2):
        m = cls(cls.Config(**resolve(cls, {"width": 8, "conv_depth": k}).model_args), info)
        assert count_same_convs(m.D) == 2 * k and count_same_convs(m.G) == 2 * k
        assert m.G(torch.randn(3, m.latent_dim)).shape == (3, 1, 28, 28) and m.D(torch.randn(3, 1, 28, 28)).shape == (3, 1)
    c = MODELS["cgan"]
    m = c(c.Config(**resolve(c, {"width": 8, "conv_depth": 1}).model_args), DataInfo("image", (1, 28, 28), num_classes=10))
    assert count_same_convs(m.D) == 2 and count_same_convs(m.G) == 2


def test_g_out_depth_gives_the_generator_a_stage_at_the_output_resolution():
    """g_out_depth=k: the last doubling goes to half the channels of the scale below, k - 1
    size-keeping 3x3 convolutions follow at the output resolution, then a 3x3 convolution to the
    image's channels; the critic is unchanged, every new layer gets gradients, and the
    conditional generator builds the same stage."""
    info = DataInfo("image", (3, 32, 32))
    cls = MODELS["gan"]

    def build(**settings):
        return cls(cls.Config(**resolve(cls, {"width": 8, "g_up": "upsample", **settings}).model_args), info)

    plain, staged, deeper = build(), build(g_out_depth=1), build(g_out_depth=3)
    plain_convs = [m for m in plain.G.modules() if isinstance(m, torch.nn.Conv2d)]
    convs = [m for m in staged.G.modules() if isinstance(m, torch.nn.Conv2d)]
    assert plain_convs[-1].in_channels == 8 and plain_convs[-1].out_channels == 3  # DCGAN: the doubling draws
    assert len(convs) == len(plain_convs) + 1
    assert (convs[-2].in_channels, convs[-2].out_channels) == (8, 4)  # the doubling, to half the channels
    assert (convs[-1].in_channels, convs[-1].out_channels, convs[-1].kernel_size) == (4, 3, (3, 3))
    assert count_same_convs(deeper.G) == count_same_convs(staged.G) + 2
    assert sum(p.numel() for p in staged.D.parameters()) == sum(p.numel() for p in plain.D.parameters())
    z = torch.randn(5, staged.latent_dim)
    out = staged.G(z)
    assert out.shape == (5, 3, 32, 32)
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for m in convs[-2:] for p in m.parameters())
    c = MODELS["cgan"]
    m = c(c.Config(**resolve(c, {"width": 8, "g_out_depth": 2}).model_args), DataInfo("image", (3, 32, 32), num_classes=4))
    assert m.G(torch.randn(4, m.latent_dim), torch.arange(4)).shape == (4, 3, 32, 32)
    assert count_same_convs(m.G) == 1 + 1  # the output stage's one size-keeping convolution and its output layer


@pytest.mark.parametrize("name", ["ae", "vae", "cvae"])
def test_conv_depth_deepens_the_autoencoders_nets_too(name):
    """The autoencoder families take the same option: k size-keeping 3x3 convolutions per scale in
    the encoder and the decoder; codes and reconstructions keep their shapes."""
    cls = MODELS[name]
    info = DataInfo("image", (1, 28, 28), num_classes=10)
    for k in (0, 1):
        m = cls(cls.Config(**resolve(cls, {"width": 8, "latent_dim": 4, "conv_depth": k}).model_args), info)
        assert count_same_convs(m.encoder) == count_same_convs(m.decoder) == 2 * k
        x, y = torch.rand(3, 1, 28, 28), torch.tensor([0, 1, 2])
        assert m.reconstruct(x, y if name == "cvae" else None).shape == x.shape


def count_same_convs(net) -> int:
    return sum(isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3) and m.stride == (1, 1)
               for m in net.modules())


def test_topk_trains_the_generator_on_the_fakes_the_critic_rates_highest():
    """topk=ν (Sinha et al. 2020): k = n·max(ν, 0.99^(step/100)); the generator's loss is the
    game's loss on the k highest critic outputs, and only those fakes pass a gradient back."""
    model = gan(topk=0.5)
    assert model.topk_count(64) == 64  # step 0: the whole batch
    model.train_step = 3000  # 0.99^30 = 0.74
    assert model.topk_count(64) == round(64 * 0.99 ** 30) == 47
    model.train_step = 10**5  # annealed to the floor
    assert model.topk_count(64) == 32
    out = torch.randn(64, 1, requires_grad=True)
    loss = model.g_loss(out)
    best = out.detach().flatten().sort(descending=True).values[:32]
    assert torch.allclose(loss, losses.nonsaturating_g_loss(best[:, None]))
    loss.backward()
    reached = out.grad.flatten() != 0
    assert reached.sum() == 32 and out.detach().flatten()[reached].min() >= best.min()
    off = gan()
    off.train_step = 10**5
    assert off.topk_count(64) == 64


@pytest.mark.parametrize(("setting", "words"), [
    ("r1_every=0", "r1_every must be a positive integer"),
    ("r1_gamma=-1", "r1_gamma must be >= 0"),
    ("gp_every=0", "gp_every must be a positive integer"),
    ("gp_every=1.5", "gp_every=1.5 is not a valid int"),
    ("d_norm=group", "valid: auto, batch, layer, none, spectral"),
    ("g_up=pixelshuffle", "valid: transposed, upsample"),
    ("lr_d=-0.1", "lr, lr_d must be >= 0"),
    ("conv_depth=-1", "conv_depth, g_out_depth must be >= 0"),
    ("g_out_depth=-1", "g_out_depth must be >= 0"),
    ("topk=0", "topk must be in (0, 1]"),
    ("topk=1.5", "topk must be in (0, 1]"),
])
def test_bad_values_are_refused_in_one_line(tmp_path, capsys, setting, words):
    extra = ["--set", "loss=r1"] if setting.startswith("r1") else \
        ["--set", "loss=wgan-gp"] if setting.startswith("gp") else []
    line = expect_user_error(capsys, "train", "gan", "--data", "digits", "--steps", "2", "--out", tmp_path / "r",
                             "--set", setting, *extra, unchanged=tmp_path)
    assert words in line


def test_batchnorm_with_a_per_sample_penalty_is_refused(tmp_path, capsys):
    line = expect_user_error(capsys, "train", "gan", "--data", "digits", "--steps", "2", "--out", tmp_path / "r",
                             "--set", "loss=wgan-gp", "--set", "d_norm=batch", unchanged=tmp_path)
    assert "d_norm=batch cannot be used with loss=wgan-gp" in line and "spectral" in line
