"""cyclegan: its losses, the image pool, fully convolutional nets, the schedule, resume, quality."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import genlab
from genlab.config import resolve
from genlab.data import load_data
from genlab.errors import BadInputError, UnknownNameError
from genlab.models import MODELS, DataInfo
from genlab.models.cyclegan import ImagePool
from genlab.nets.patchgan import PatchDiscriminator, auto_layers, receptive_field

from helpers import expect_user_error
from test_train import assert_same_weights


def build(size=16, channels=3, **over):
    cls = MODELS["cyclegan"]
    cfg = resolve(cls, {"width": 8, "blocks": 2, **over})
    torch.manual_seed(0)
    return cls(cls.Config(**cfg.model_args), DataInfo("unpaired", (channels, size, size)))


class Scaled(nn.Module):
    """A stand-in generator whose output after the model's tanh is exactly ``factor * x``."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor
        self.w = nn.Parameter(torch.zeros(()))  # so the optimizer has something to hold

    def forward(self, x):
        return torch.atanh(self.factor * x) + 0 * self.w


def pair(n=4, size=16):
    g = torch.Generator().manual_seed(2)
    return (torch.rand(n, 3, size, size, generator=g) * 1.8 - 0.9,
            torch.rand(n, 3, size, size, generator=g) * 1.8 - 0.9)


def test_cycle_and_identity_losses_are_l1_with_known_answers():
    a, b = pair()
    model = build()
    model.G_AB, model.G_BA = Scaled(1.0), Scaled(1.0)  # identity generators: nothing to undo
    loss, logs = model.loss("g", {"x": a, "x_b": b})
    logs = {k: float(v) for k, v in logs.items()}  # logs are 0-dim tensors
    assert logs["cycle_a"] == pytest.approx(0, abs=1e-5) and logs["identity"] == pytest.approx(0, abs=1e-5)
    assert loss.item() == pytest.approx(logs["loss_adv"], abs=1e-4)
    model.G_AB, model.G_BA = Scaled(0.5), Scaled(0.5)  # each direction halves: a -> a/2 -> a/4
    loss, logs = model.loss("g", {"x": a, "x_b": b})
    logs = {k: float(v) for k, v in logs.items()}  # logs are 0-dim tensors
    assert logs["cycle_a"] == pytest.approx(0.75 * a.abs().mean().item(), rel=1e-4)
    assert logs["cycle_b"] == pytest.approx(0.75 * b.abs().mean().item(), rel=1e-4)
    assert logs["identity"] == pytest.approx(0.5 * (a.abs().mean() + b.abs().mean()).item(), rel=1e-4)
    lam = model.cfg.cycle_weight  # λ = 10, identity weighted 0.5 λ, as in the paper
    expect = logs["loss_adv"] + lam * (logs["cycle_a"] + logs["cycle_b"]) + 0.5 * lam * logs["identity"]
    assert loss.item() == pytest.approx(expect, rel=1e-4)


def test_identity_steps_keep_the_identity_loss_for_the_first_steps_only(tmp_path, capsys):
    """identity_steps k: training steps 0..k-1 carry the identity term, later ones the same loss
    without it (and no identity passes); 0 keeps it on every step; a negative k is refused."""
    a, b = pair()
    model = build(identity_steps=3)
    model.G_AB, model.G_BA = Scaled(0.5), Scaled(0.5)
    calls = []  # one entry per generator pass
    for g in (model.G_AB, model.G_BA):
        g.register_forward_hook(lambda *_: calls.append(1))
    lam = model.cfg.cycle_weight
    for step, on in ((0, True), (2, True), (3, False), (50, False)):
        model.train_step = step
        calls.clear()
        loss, logs = model.loss("g", {"x": a, "x_b": b})
        plain = logs["loss_adv"] + lam * (logs["cycle_a"] + logs["cycle_b"])
        assert ("identity" in logs) is on, step
        assert len(calls) == (6 if on else 4), step  # translate + cycle per direction, + identity
        extra = 0.5 * lam * 0.5 * (a.abs().mean() + b.abs().mean()) if on else 0.0
        assert loss.item() == pytest.approx(float(plain + extra), rel=1e-5), step
    always = build()
    always.train_step = 10_000
    assert "identity" in always.loss("g", {"x": a, "x_b": b})[1]
    line = expect_user_error(capsys, "train", "cyclegan", "--data", "seasons", "--steps", "2",
                             "--out", tmp_path / "r", "--set", "identity_steps=-1", unchanged=tmp_path)
    assert "identity_steps" in line


def test_cycle_noise_is_added_to_the_translations_the_cycle_reads():
    """cycle_noise σ: each direction's translation gets σ·N(0, I) before it is mapped back, so
    with halving generators the cycle L1 is mean|a - (a/2 + σε)/2|; σ = 0 draws no noise at all,
    and a negative σ is refused."""
    a, b = pair()
    sigma = 0.1
    model = build(cycle_noise=sigma)
    model.G_AB, model.G_BA = Scaled(0.5), Scaled(0.5)
    torch.manual_seed(5)
    _, logs = model.loss("g", {"x": a, "x_b": b})
    torch.manual_seed(5)
    eps_b, eps_a = torch.randn(a.shape), torch.randn(b.shape)  # fake_b is noised first, then fake_a
    assert float(logs["cycle_a"]) == pytest.approx((a - 0.5 * (0.5 * a + sigma * eps_b)).abs().mean().item(), rel=1e-4)
    assert float(logs["cycle_b"]) == pytest.approx((b - 0.5 * (0.5 * b + sigma * eps_a)).abs().mean().item(), rel=1e-4)

    plain = build()
    plain.G_AB, plain.G_BA = Scaled(0.5), Scaled(0.5)
    state = torch.get_rng_state()
    plain.loss("g", {"x": a, "x_b": b})
    assert torch.equal(torch.get_rng_state(), state)  # runs without it keep their random stream
    with pytest.raises(BadInputError, match="cycle_noise"):
        build(cycle_noise=-0.1).cfg.validate()


def test_lsgan_terms_follow_the_paper():
    model = build()
    out = torch.tensor([0.2, 0.7])
    assert model.g_adv(out).item() == pytest.approx(((out - 1) ** 2).mean().item())
    assert model.d_loss(out, out).item() == pytest.approx((0.5 * (out - 1) ** 2 + 0.5 * out**2).mean().item())


def test_other_games_come_from_the_registry():
    out = torch.tensor([0.2, -1.7])
    hinge = build(loss="hinge")
    assert hinge.g_adv(out).item() == pytest.approx(0.75)  # -mean(f): no paper factor outside lsgan
    assert hinge.d_loss(out, out).item() == pytest.approx((0.8 + 2.7) / 2 + (1.2 + 0) / 2)
    wgan = build(loss="wgan-gp")
    a, b = pair()
    wgan.loss("g", {"x": a, "x_b": b})
    loss, logs = wgan.loss("d", {"x": a, "x_b": b})  # both critics pay the gradient penalty
    logs = {k: float(v) for k, v in logs.items()}  # logs are 0-dim tensors
    assert logs["gp"] > 0 and loss.item() == pytest.approx(logs["loss_d_a"] + logs["loss_d_b"], rel=1e-5)


def test_image_pool_mixes_old_and_new_once_full():
    pool = ImagePool(4, (1, 1, 1))
    first = torch.arange(4.0).view(4, 1, 1, 1)
    half = torch.full((4,), 0.5)
    assert torch.equal(pool.query(first, half, half), first)  # filling: everything passes through
    new = torch.arange(10.0, 14.0).view(4, 1, 1, 1)
    out = pool.query(new, torch.tensor([0.1, 0.9, 0.1, 0.9]), torch.tensor([0.0, 0.0, 0.5, 0.99]))
    assert out.flatten().tolist() == [0.0, 11.0, 2.0, 13.0]  # slots 0 and 2 handed out, the rest new
    assert pool.images.flatten().tolist() == [10.0, 1.0, 12.0, 3.0]  # the new images took their slots
    # through the model's noise: about half of a long stream comes from the history
    model = build(pool_size=50)
    model.pool_a.query(torch.zeros(50, 3, 16, 16), torch.zeros(50), torch.zeros(50))
    u = model.rand(2000, 2)
    stream = torch.arange(1.0, 2001.0).view(-1, 1, 1, 1).expand(-1, 3, 16, 16)  # every image distinct
    out = model.pool_a.query(stream, u[:, 0], u[:, 1])
    from_history = (out[:, 0, 0, 0] != stream[:, 0, 0, 0]).float().mean().item()
    assert 0.45 < from_history < 0.55 and int(model.pool_a.count) == 50
    assert (out[:, 0, 0, 0] <= stream[:, 0, 0, 0]).all()  # the history holds only earlier images


@pytest.mark.parametrize("g_up", ["transposed", "upsample"])
@pytest.mark.parametrize("size", [16, 24, 32])
def test_generators_are_fully_convolutional(size, g_up):
    model = build(size, g_up=g_up)
    a, b = pair(3, size)
    for phase in model.phases:
        loss, _ = model.loss(phase, {"x": a, "x_b": b})
        assert torch.isfinite(loss)
    for other in (16, 24, 32, 40):  # any size divisible by 4, whatever the training size
        x = torch.rand(2, 3, other, other + 8) * 2 - 1
        for direction in ("a2b", "b2a"):
            assert model.translate(x, direction).shape == x.shape


def test_an_upsampling_generator_leaves_no_checkerboard():
    """A constant feature map through the first ×2 stage: a stride-2 3×3 transposed convolution
    overlaps its kernel unevenly (one tap on even pixels, two on odd ones), so its output
    alternates; nearest-neighbour ×2 then a 3×3 convolution keeps it constant (Odena et al. 2016)."""
    for g_up, flat in (("transposed", False), ("upsample", True)):
        net = build(16, g_up=g_up).G_AB.net
        first = next(i for i, m in enumerate(net) if isinstance(m, (nn.ConvTranspose2d, nn.Upsample)))
        norm = next(i for i in range(first, len(net)) if isinstance(net[i], nn.InstanceNorm2d))
        with torch.no_grad():
            out = nn.Sequential(*net[first:norm])(torch.ones(1, 32, 4, 4))[..., 1:-1, 1:-1]  # 8 wide x 4 at 1/4
        spread = (out.amax((-2, -1)) - out.amin((-2, -1))).max().item()
        assert out.shape[-1] == 6 and ((spread < 1e-5) if flat else (spread > 1e-3)), (g_up, spread)
        assert any(isinstance(m, nn.ConvTranspose2d) for m in net) is not flat


def test_an_unknown_upsampling_is_refused_in_one_line(tmp_path, capsys):
    line = expect_user_error(capsys, "train", "cyclegan", "--data", "seasons", "--steps", "2",
                             "--out", tmp_path / "r", "--set", "g_up=bilinear", unchanged=tmp_path)
    assert "g_up" in line and "transposed" in line and "upsample" in line


@pytest.mark.parametrize("norm,kind", [("instance", nn.InstanceNorm2d), ("batch", nn.BatchNorm2d), ("none", None)])
def test_norm_settings_build_the_named_layers(norm, kind):
    """g_norm / d_norm put the named layer after every normalised convolution of the generators
    and critics (the critics' first layer has none in every case); without a norm the
    convolutions carry a bias, with one they do not (the norm would cancel it)."""
    model = build(16, g_norm=norm, d_norm=norm)
    norms = (nn.InstanceNorm2d, nn.BatchNorm2d)
    for net, expected in ((model.G_AB.net, 1 + 2 + 2 * 2 + 2), (model.D_A.net, 1)):  # stem, 2 down, 2 blocks x 2, 2 up
        found = [m for m in net.modules() if isinstance(m, norms)]
        assert len(found) == (expected if kind else 0) and all(type(m) is kind for m in found), (norm, found)
        convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        assert sum(m.bias is None for m in convs) == (0 if kind is None else expected), norm
    a, b = pair(2)
    for phase in model.phases:
        assert torch.isfinite(model.loss(phase, {"x": a, "x_b": b})[0])


def test_instance_norm_loses_a_flat_images_level_and_the_other_norms_keep_it():
    """Instance norm removes each channel's mean over the image: a flat image leaves the stem
    (7x7 convolution, norm, ReLU) as all-zero maps whatever its level, so nothing after it can
    tell a dark flat background from a bright one (seasons' snow and grass are flat). Batch norm
    (over images of different levels) and no norm keep the level."""
    levels = torch.tensor([-0.6, 0.0, 0.7]).view(3, 1, 1, 1).expand(3, 3, 16, 16).contiguous()
    for norm in ("instance", "batch", "none"):
        net = build(16, g_norm=norm).G_AB.net.train()
        stem = nn.Sequential(*net[:4])  # reflection pad, 7x7 convolution, the norm, ReLU
        assert isinstance(stem[2], {"instance": nn.InstanceNorm2d, "batch": nn.BatchNorm2d, "none": nn.Identity}[norm])
        with torch.no_grad():
            out = stem(levels)
        spread = (out - out[:1]).abs().amax().item()
        assert (spread < 1e-3) if norm == "instance" else (spread > 1e-2), (norm, spread)


def test_the_skip_path_starts_at_zero_trains_and_adds_a_linear_map_of_the_input():
    """g_skip adds a 1x1 convolution from the input to the output: at the start it is zero, so
    the generator computes what the plain one does; the loss's gradient reaches it; it adds a
    per-pixel linear map of the input, past every norm."""
    from genlab.nets.resnet import ResnetGenerator

    torch.manual_seed(0)
    plain = ResnetGenerator(3, 3, width=8, blocks=1)
    torch.manual_seed(0)
    skip = ResnetGenerator(3, 3, width=8, blocks=1, skip=True)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    assert torch.equal(plain(x), skip(x))
    skip(x).square().sum().backward()
    assert skip.skip.weight.grad.abs().sum() > 0 and skip.skip.bias.grad.abs().sum() > 0
    with torch.no_grad():  # the path adds W x + b at every pixel: with W = 2 I, b = 0.1, that is 2x + 0.1
        skip.skip.weight.copy_(2 * torch.eye(3).view(3, 3, 1, 1))
        skip.skip.bias.fill_(0.1)
        assert torch.allclose(skip(x) - plain(x), 2 * x + 0.1, atol=1e-6)
    assert isinstance(build(16, g_skip=True).G_BA.skip, nn.Conv2d) and build(16).G_AB.skip is None


def test_the_identity_started_skip_path_makes_the_generator_its_input_plus_a_residual():
    """g_skip_init=identity starts the 1x1 path at the identity: the generator's pre-tanh output
    is the plain ResNet's plus the input itself, channel for channel; the path still trains; the
    setting is refused without the path, and the net refuses an unknown start."""
    from genlab.nets.resnet import ResnetGenerator

    torch.manual_seed(0)
    plain = ResnetGenerator(3, 3, width=8, blocks=1, norm="none")
    torch.manual_seed(0)
    ident = ResnetGenerator(3, 3, width=8, blocks=1, norm="none", skip=True, skip_init="identity")
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    assert torch.allclose(ident(x) - plain(x), x, atol=1e-6)
    ident(x).square().sum().backward()
    assert ident.skip.weight.grad.abs().sum() > 0
    model = build(16, g_skip=True, g_skip_init="identity")
    for g in (model.G_AB, model.G_BA):
        assert torch.equal(g.skip.weight.view(3, 3), torch.eye(3)) and not g.skip.bias.any()
    with pytest.raises(BadInputError, match="g_skip=true"):
        build(16, g_skip_init="identity")
    with pytest.raises(ValueError, match="zero, identity"):
        ResnetGenerator(3, 3, skip=True, skip_init="ones")


def test_an_unknown_skip_start_is_refused_in_one_line(tmp_path, capsys):
    line = expect_user_error(capsys, "train", "cyclegan", "--data", "seasons", "--steps", "2", "--out", tmp_path / "r",
                             "--set", "g_skip=true", "--set", "g_skip_init=ones", unchanged=tmp_path)
    assert "g_skip_init" in line and "zero, identity" in line, line


def test_an_unknown_norm_is_refused_in_one_line(tmp_path, capsys):
    for key in ("g_norm", "d_norm"):
        line = expect_user_error(capsys, "train", "cyclegan", "--data", "seasons", "--steps", "2",
                                 "--out", tmp_path / "r", "--set", f"{key}=group", unchanged=tmp_path)
        assert key in line and "instance, batch, none" in line, line


def test_patch_critic_depth_and_bad_shapes():
    assert [receptive_field(n) for n in (1, 2, 3)] == [16, 34, 70]  # 3 layers: the paper's 70x70
    assert [auto_layers(s) for s in (8, 16, 28, 32, 64, 256)] == [1, 1, 2, 2, 3, 3]
    assert PatchDiscriminator(3, width=4, layers=3)(torch.zeros(1, 3, 70, 70)).shape == (1, 1, 6, 6)
    assert build(64).D_A.net[-1].kernel_size == (4, 4)
    with pytest.raises(BadInputError, match="divisible by 4"):
        build(18)
    with pytest.raises(BadInputError, match="too deep"):
        build(16, d_layers=3)
    with pytest.raises(BadInputError, match="two image domains"):
        MODELS["cyclegan"](MODELS["cyclegan"].Config(), DataInfo("image", (1, 8, 8)))
    with pytest.raises(UnknownNameError, match="valid: a2b, b2a"):
        build().translate(torch.zeros(1, 3, 16, 16), "a2c")


def test_learning_rate_is_constant_then_decays_linearly_to_zero():
    model = build()
    f = [model.lr_factor(s, 100) for s in range(100)]
    assert f[:50] == [1.0] * 50
    assert f[50] == 1.0 and f[75] == pytest.approx(0.5) and 0 < f[99] < 0.03
    assert all(x > y for x, y in zip(f[50:], f[51:]))
    opt = model.configure_optimizers()["g"].param_groups[0]
    assert opt["lr"] == 2e-4 and opt["betas"] == (0.5, 0.999)


def test_sample_translates_kept_examples():
    model = build()
    a, b = pair(4)
    model.loss("g", {"x": a, "x_b": b})  # training keeps the first images it sees
    assert int(model.examples_n) == 4 and torch.equal(model.examples_a[:4], a)
    x = model.sample(6)
    assert torch.allclose(x[:4], model.translate(a, "a2b")) and torch.equal(x[4:], x[:2])
    grid, nrow = model.preview(64)
    assert nrow == 6 and grid.shape == (24, 3, 16, 16) and torch.equal(grid[0], a[0])


def test_the_pixel_critic_scores_each_pixel_alone():
    """PixelDiscriminator is 1x1 all through: one output per pixel, which depends on that
    pixel's colour only (its gradient is zero at every other pixel), with no norm across the image."""
    from genlab.nets.patchgan import PixelDiscriminator

    torch.manual_seed(0)
    critic = PixelDiscriminator(3, width=8)
    x = (torch.rand(2, 3, 8, 8) * 2 - 1).requires_grad_()
    out = critic(x)
    assert out.shape == (2, 1, 8, 8)
    out[1, 0, 3, 5].backward()
    touched = x.grad.abs().sum(1) > 0  # (2, 8, 8)
    assert touched[1, 3, 5] and int(touched.sum()) == 1
    # the score of a pixel does not change with the rest of the image
    y = x.detach().clone()
    y[:, :, :3] = 0.7
    assert torch.allclose(critic(y)[:, :, 3:], critic(x.detach())[:, :, 3:])


def test_d_pixel_adds_weighted_pixel_critics_to_both_phases():
    """d_pixel w: the generators' loss gains w times each pixel critic's generator term, the
    critics' loss w times the pixel critics' own loss; the pixel critics train in the d phase
    only. 0 (the default) builds none."""
    a, b = pair()
    plain, pix = build(), build(d_pixel=0.25)
    assert not hasattr(plain, "P_A") and plain.parts["d"] == ("D_A", "D_B")
    assert pix.parts["d"] == ("D_A", "D_B", "P_A", "P_B") and pix.parts["g"] == plain.parts["g"]
    for model in (plain, pix):
        model.G_AB, model.G_BA = Scaled(0.5), Scaled(0.5)
    pix.D_A.load_state_dict(plain.D_A.state_dict())
    pix.D_B.load_state_dict(plain.D_B.state_dict())
    batch = {"x": a, "x_b": b}
    extra = 0.25 * (pix.g_adv(pix.P_B(0.5 * a)) + pix.g_adv(pix.P_A(0.5 * b)))
    assert pix.loss("g", batch)[0].item() == pytest.approx((plain.loss("g", batch)[0] + extra).item(), rel=1e-5)
    # the critics' phase: no pool history yet, so the fakes are the halved images
    plain.cfg.pool_size = pix.cfg.pool_size = 0
    plain.pool_a = plain.pool_b = pix.pool_a = pix.pool_b = ImagePool(0, (3, 16, 16))
    loss, logs = pix.loss("d", batch)
    game = pix.game
    own = (game.d_loss(pix.P_A(a), pix.P_A(0.5 * b)) + game.d_loss(pix.P_B(b), pix.P_B(0.5 * a)))
    assert float(logs["loss_d_pixel"]) == pytest.approx(own.item(), rel=1e-5)
    assert loss.item() == pytest.approx((plain.loss("d", batch)[0] + 0.25 * own).item(), rel=1e-5)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in pix.P_A.parameters())


def test_a_negative_pixel_weight_is_refused_in_one_line(tmp_path, capsys):
    line = expect_user_error(capsys, "train", "cyclegan", "--data", "seasons", "--steps", "2",
                             "--out", tmp_path / "r", "--set", "d_pixel=-1", unchanged=tmp_path)
    assert "d_pixel" in line and ">= 0" in line, line


@pytest.mark.parametrize("identity", [{}, {"identity_weight": 0.5, "identity_steps": 8},
                                      {"d_pixel": 0.5, "g_norm": "batch"},
                                      {"g_skip": True, "g_skip_init": "identity", "g_norm": "none"}],
                         ids=["plain", "identity-phase-across-the-resume", "pixel-critics-batch-norm",
                              "identity-started-skip-no-norm"])
def test_resume_is_bit_exact_with_the_pool(tmp_path, identity):
    # lr_decay=0: the decay follows --steps, so a run resumed to more steps decays later
    opts = dict(batch_size=4, seed=1, image_size=16, ckpt_every=6, sample_every=0,
                overrides={"width": 4, "blocks": 1, "pool_size": 6, "examples": 4, "lr_decay": 0.0, **identity})
    genlab.train("cyclegan", "mnist-style", out=tmp_path / "straight", steps=12, **opts)
    genlab.train("cyclegan", "mnist-style", out=tmp_path / "split", steps=6, **opts)
    genlab.train("cyclegan", "mnist-style", out=tmp_path / "split", steps=12, resume=True, **opts)
    assert_same_weights(tmp_path / "straight", tmp_path / "split")
    model = genlab.load(tmp_path / "split").model
    assert int(model.pool_a.count) == 6 and int(model.examples_n) == 4


@pytest.mark.slow
def test_short_training_beats_the_identity_on_the_benchmark(tmp_path):
    from genlab.metrics.translation import translation_scores

    model = genlab.train("cyclegan", "mnist-style", out=tmp_path / "r", steps=300, batch_size=8, seed=0,
                         sample_every=0, overrides={"width": 16, "blocks": 3})
    rows = {(r["direction"], r["metric"]): r["value"]
            for r in translation_scores(model, load_data("mnist-style"), n=200)}
    for d in ("a2b", "b2a"):
        assert rows[d, "psnr"] > rows[d, "psnr_identity"] + 3, rows
        assert rows[d, "ssim"] > rows[d, "ssim_identity"], rows


def test_eval_of_a_translation_run_scores_both_directions_by_default(tmp_path):
    """`genlab eval` of a cyclegan run on seasons: PSNR/SSIM against the known targets in both
    directions with the identity baseline beside them, cycle L1, and FD on shapes_cls."""
    import subprocess
    import sys

    run = tmp_path / "cg"
    genlab.train("cyclegan", "seasons", out=run, steps=2, batch_size=4, quiet=True, overrides={"width": 8, "blocks": 1})
    r = subprocess.run([sys.executable, "-m", "genlab", "eval", run, "--n", "50", "--json", tmp_path / "s.json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "identity" in r.stdout
    scores = {s["metric"]: s for s in json.loads((tmp_path / "s.json").read_text())["scores"]}
    for m in ("psnr_a2b", "psnr_b2a", "ssim_a2b", "ssim_b2a", "cycle_l1_a2b", "cycle_l1_b2a",
              "fd_a2b_shapes_cls", "fd_b2a_shapes_cls"):
        assert m in scores, sorted(scores)
    assert "identity" in scores["psnr_a2b"]["detail"] and "sharpness" not in scores


def test_image_pool_fills_mid_batch_then_swaps_as_one_at_a_time_would():
    """The pool on the device equals the one-image-at-a-time rule when the pool fills part-way
    through a batch and the swaps take distinct slots."""
    pool = ImagePool(3, (1, 1, 1))
    pool.query(torch.tensor([1.0, 2.0]).view(2, 1, 1, 1), torch.zeros(2), torch.zeros(2))
    x = torch.tensor([3.0, 4.0, 5.0]).view(3, 1, 1, 1)
    # image 3 fills slot 2; image 4 swaps with slot 0 (holds 1); image 5 passes through (u >= 1/2)
    out = pool.query(x, torch.tensor([0.0, 0.1, 0.9]), torch.tensor([0.0, 0.0, 0.5]))
    assert out.flatten().tolist() == [3.0, 1.0, 5.0]
    assert pool.images.flatten().tolist() == [4.0, 2.0, 3.0] and int(pool.count) == 3
