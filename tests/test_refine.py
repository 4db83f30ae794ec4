"""Critic-guided sampling (DOT, DRS) and PacGAN packing: closed forms first, then the commands."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from genlab.errors import BadInputError
from genlab.models import MODELS, DataInfo
from genlab.models.gan import pack_samples, unpack_samples
from genlab.refine import dot, drs, drs_accept_prob, effective_lipschitz, refinement
from genlab.sampling import draw, draw_refined

VEC = DataInfo(kind="vector", shape=(2,))
SMALL = {"hidden": 16, "depth": 1, "latent_dim": 2, "width": 8}


def build(name: str, info: DataInfo = VEC, **cfg):
    cls = MODELS[name]
    torch.manual_seed(0)
    return cls(cls.Config(**{**SMALL, **cfg}), info)


def bowl(c: torch.Tensor, a: float, group: int = 1):
    """D(x) = -a ‖x - c‖² per unit of ``group`` samples, the maximum at c; ‖∇D‖ = 2a‖x - c‖."""
    return lambda x: -a * (x.reshape(len(x) // group, -1) - c).pow(2).sum(dim=1)


# ----------------------------------------------------------------------------- DOT


def test_dot_moves_towards_the_maximum_and_stops_at_the_transport_balance():
    # ‖x − y‖ − D(x)/K along the line to c is stationary where ‖∇D‖ = K: at ‖x − c‖ = K / 2a
    # (Adam's steps are about lr per coordinate, so a point settles to within about lr of it)
    c, a, k = torch.tensor([1.0, -2.0]), 1.0, 2.0
    y = torch.tensor([[4.0, -2.0], [1.0, 3.0], [3.0, 0.0], [1.3, -2.0]])  # the last: inside the balance radius
    x = dot(bowl(c, a), y, k=k, steps=2500, lr=0.002)
    r = (x - c).norm(dim=1)
    assert torch.allclose(r[:3], torch.full((3,), k / (2 * a)), atol=5e-3)
    assert torch.allclose(x[0], torch.tensor([2.0, -2.0]), atol=5e-3)  # straight towards c
    assert torch.allclose(x[2], c + (y[2] - c) / (y[2] - c).norm(), atol=5e-3)
    assert (x[3] - y[3]).norm() < 0.01  # slope below K: transport costs more than it gains


def test_dot_on_packs_moves_each_pack_as_one_point():
    c, a, k = torch.zeros(4), 0.5, 1.0
    y = torch.tensor([[3.0, 0.0], [0.0, 4.0]])  # one pack of 2 samples = the point (3, 0, 0, 4)
    x = dot(bowl(c, a, group=2), y, k=k, steps=2500, lr=0.002, group=2)
    assert torch.allclose(x.reshape(-1), torch.tensor([0.6, 0.0, 0.0, 0.8]), atol=5e-3)  # ‖x‖ = K / 2a, on the ray


def test_effective_lipschitz_is_the_largest_secant_slope():
    w = torch.tensor([3.0, 4.0])
    lin = lambda x: x @ w  # noqa: E731 - Lipschitz constant ‖w‖ = 5
    a, b = torch.randn(50, 2), torch.randn(50, 2)
    assert 0 < effective_lipschitz(lin, a, b) <= 5 + 1e-5
    a[0], b[0] = torch.tensor([0.0, 0.0]), torch.tensor([0.6, 0.8])  # a pair along w
    assert effective_lipschitz(lin, a, b) == pytest.approx(5.0, rel=1e-5)


# ----------------------------------------------------------------------------- DRS


def test_drs_accepts_everything_under_a_constant_critic():
    const = lambda x: torch.zeros(len(x))  # noqa: E731 - p_G = p_data: nothing to correct
    x, stats = drs(const, lambda k: torch.randn(k, 2), 500, percentile=None, burn_in=100)
    assert x.shape == (500, 2) and stats["acceptance"] > 0.999
    # the practical γ shift thins uniformly: every sample has the same chance
    p = drs_accept_prob(torch.zeros(100), 0.0, percentile=95)
    assert torch.allclose(p, p[0].expand(100))


def test_drs_rejects_more_where_the_logit_is_lower():
    logits = torch.linspace(-5, 0, 11)
    p = drs_accept_prob(logits, 0.0, percentile=None)
    assert (p.diff() > 0).all() and p[-1] > 0.999
    # the exact rule turns N(0, 1) proposals into N(1, 1) given the true log-ratio x − 1/2
    torch.manual_seed(0)
    x, stats = drs(lambda t: t[:, 0] - 0.5, lambda k: torch.randn(k, 1), 3000, percentile=None, burn_in=2000,
                   batch=5000)
    assert float(x.mean()) == pytest.approx(1.0, abs=0.08) and float(x.std()) == pytest.approx(1.0, abs=0.08)
    assert stats["acceptance"] < 0.2


def test_drs_gives_up_with_a_clear_error():
    steep = lambda x: 20 * x[:, 0]  # noqa: E731 - the burn-in's best sample dwarfs the rest
    torch.manual_seed(0)
    with pytest.raises(BadInputError, match="DRS accepted"):
        drs(steep, lambda k: torch.randn(k, 1), 100, percentile=None, burn_in=1000, max_draws=2)


# ----------------------------------------------------------------------------- packing


def test_packing_reshapes_and_inverts():
    x = torch.arange(12.0).reshape(6, 2)  # (B·m, D) with m = 3
    p = pack_samples(x, 3)
    assert p.shape == (2, 6) and p[0].tolist() == [0, 1, 2, 3, 4, 5]  # samples 0, 1, 2 side by side
    assert torch.equal(unpack_samples(p, 3), x)
    img = torch.randn(4, 3, 5, 5)
    pi = pack_samples(img, 2)
    assert pi.shape == (2, 6, 5, 5) and torch.equal(pi[1, 3:], img[3])  # along channels
    assert torch.equal(unpack_samples(pi, 2), img)
    with pytest.raises(BadInputError, match="packs of 4"):
        pack_samples(x, 4)


@pytest.mark.parametrize("name", ["gan", "lsgan", "wgan-gp"])
@pytest.mark.parametrize("info", [VEC, DataInfo(kind="image", shape=(1, 8, 8))], ids=["vector", "image"])
def test_packed_critic_reads_m_samples_and_sends_gradients_to_each(name, info):
    plain, packed = build(name, info), build(name, info, pack=2)
    first = lambda m: next(p for p in m.D.parameters() if p.dim() > 1)  # noqa: E731
    assert first(packed).shape[1] == 2 * first(plain).shape[1]  # m× the inputs / channels
    x = (torch.rand(8, *info.shape) * 2 - 1).requires_grad_(True)
    out = packed.critic(x)
    assert out.shape == (4, 1)
    out.sum().backward()
    assert (x.grad.flatten(1).abs().sum(dim=1) > 0).all()  # every packed sample is seen
    packed.train()
    for phase in packed.phases:  # both losses (WGAN-GP: the penalty on packed interpolates)
        loss, _ = packed.loss(phase, {"x": x.detach(), "y": None})
        assert torch.isfinite(loss)


def test_pack_1_is_the_plain_gan():
    a, b = build("wgan-gp"), build("wgan-gp", pack=1)
    assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}
    x = torch.randn(6, 2)
    assert torch.equal(a.critic(x), a.D(a.to_net(x)))


def test_pack_must_divide_the_batch_and_is_not_for_cgan(cli, tmp_path):
    r = cli("train", "gan", "--data", "grid25", "--set", "pack=3", "--batch-size", "64", "--steps", "1",
            "--out", tmp_path / "r")
    assert r.returncode == 2 and "divisible by pack=3" in r.stderr and not (tmp_path / "r").exists()
    from genlab.config import resolve

    with pytest.raises(BadInputError, match="pack is for gan"):
        resolve(MODELS["cgan"], {"pack": 2})


# ----------------------------------------------------------------------------- sampling with a model


def test_refined_draws_from_models_with_critics():
    gan = build("gan").eval()
    x, rec = draw_refined(gan, 50, seed=1, refine=refinement("dot", steps=5))
    assert x.shape == (50, 2) and rec["method"] == "dot" and rec["k_eff"] > 0 and rec["mean_shift"] > 0
    assert not torch.equal(x, draw(gan, 50, seed=1))
    x2, _ = draw_refined(gan, 50, seed=1, refine="dot")  # same seed, same samples
    assert torch.equal(draw_refined(gan, 50, seed=1, refine=refinement("dot", steps=5))[0], x)
    assert x2.shape == x.shape
    packed = build("lsgan", pack=2).eval()
    for method in ("dot", "drs"):  # packs are refined whole; an odd n is cut from whole packs
        y, rec = draw_refined(packed, 7, seed=0, refine=refinement(method, steps=3, burn_in=20))
        assert y.shape == (7, 2) and torch.isfinite(y).all()
    assert 0 < rec["acceptance"] <= 1
    img = build("wgan-gp", DataInfo(kind="image", shape=(1, 8, 8))).eval()
    y, rec = draw_refined(img, 6, refine=refinement("dot", steps=5, lr=0.5))
    assert rec["mean_shift"] > 0 and y.min() >= -1 and y.max() <= 1  # images stay in range
    cgan = build("cgan", DataInfo(kind="vector", shape=(2,), num_classes=3)).eval()
    for method in ("dot", "drs"):  # the critic judges each sample with its own label
        y, _ = draw_refined(cgan, 9, seed=0, label=2 if method == "drs" else None,
                            refine=refinement(method, steps=3, burn_in=20))
        assert y.shape == (9, 2) and torch.isfinite(y).all()


def test_dot_on_images_moves_the_generator_noise():
    """Images refine in latent space by default (Tanaka 2019): the starting noise is exactly the
    noise draw() feeds G for the seed (over several chunks), the critic rises, and every refined
    sample is an output of G; space=data moves the pixels, as on vectors."""
    img = DataInfo(kind="image", shape=(1, 8, 8))
    gan = build("gan", img).eval()
    still, rec = draw_refined(gan, 10, seed=3, batch=4, refine=refinement("dot", steps=2, lr=1e-9))
    assert rec["moved_in"] == "latent" and rec["space"] == "auto"
    assert torch.allclose(still, draw(gan, 10, seed=3, batch=4), atol=1e-5)  # z0 is draw's noise
    x, rec = draw_refined(gan, 10, seed=3, batch=4, refine=refinement("dot", steps=20, lr=0.1))
    x0 = draw(gan, 10, seed=3, batch=4)
    with torch.no_grad():
        assert gan.critic(x).mean() > gan.critic(x0).mean() and rec["mean_shift"] > 0
    # G's outputs: tanh of its last layer, never exactly ±1 and never clipped as pixel DOT would
    assert x.abs().max() < 1
    pixels, rec_d = draw_refined(gan, 10, seed=3, batch=4, refine=refinement("dot", steps=20, lr=0.1, space="data"))
    assert rec_d["moved_in"] == "data" and not torch.allclose(pixels, x)
    assert draw_refined(build("gan"), 4, refine=refinement("dot", steps=2))[1]["moved_in"] == "data"  # vectors
    assert draw_refined(build("gan"), 4, refine=refinement("dot", steps=2, space="latent"))[1]["moved_in"] == "latent"
    cgan = build("cgan", DataInfo(kind="image", shape=(1, 8, 8), num_classes=3)).eval()
    y, rec = draw_refined(cgan, 6, seed=0, label=1, refine=refinement("dot", steps=3))
    assert y.shape == (6, 1, 8, 8) and rec["moved_in"] == "latent"


def test_models_without_a_critic_are_refused():
    vae = build("vae")
    with pytest.raises(BadInputError, match="gan, lsgan, wgan-gp, cgan"):
        draw(vae, 10, refine=refinement("dot"))


def test_bad_refinement_settings():
    with pytest.raises(BadInputError, match="unknown refinement"):
        refinement("rejection")
    with pytest.raises(BadInputError, match="refine-lr"):
        refinement("dot", lr=-1.0)
    with pytest.raises(BadInputError, match="percentile"):
        refinement("drs", percentile=120.0)
    with pytest.raises(BadInputError, match="valid: auto, data, latent"):
        refinement("dot", space="pixels")


# ----------------------------------------------------------------------------- commands


@pytest.fixture
def gan_run(tiny_gan_run, tmp_path):
    """A private copy of the shared tiny GAN run (the commands below write score files into it)."""
    run = tmp_path / "gan"
    shutil.copytree(tiny_gan_run, run)
    return run


def test_sample_and_eval_with_refinement(cli, gan_run, tmp_path):
    plain = gan_run / "eval.json"
    before = plain.read_text() if plain.exists() else None
    out = tmp_path / "dot.npy"
    r = cli("sample", gan_run, "--n", "300", "--out", out, "--refine", "dot", "--refine-steps", "10")
    assert r.returncode == 0, r.stderr
    assert "K_eff" in r.stdout and np.load(out).shape == (300, 2)
    js = tmp_path / "drs.json"
    r = cli("eval", gan_run, "--refine", "drs", "--n", "300", "--metrics", "modes,hq", "--json", js)
    assert r.returncode == 0, r.stderr
    assert "accepted" in r.stdout
    scores = json.loads(js.read_text())["scores"]
    assert all(s["refine"]["method"] == "drs" and 0 < s["refine"]["acceptance"] <= 1 for s in scores)
    assert (gan_run / "eval+drs.json").is_file()  # beside the plain scores, which stay as they were
    assert (plain.read_text() if plain.exists() else None) == before
    r = cli("sample", gan_run, "--n", "10", "--out", tmp_path / "x.npy", "--refine-percentile", "80")
    assert r.returncode == 2 and "--refine drs" in r.stderr  # a setting never applies silently
    r = cli("sample", gan_run, "--n", "10", "--out", tmp_path / "y.npy", "--refine", "drs", "--refine-space", "latent")
    assert r.returncode == 2 and "--refine-space" in r.stderr and "--refine dot" in r.stderr
    r = cli("sample", gan_run, "--n", "10", "--out", tmp_path / "z.npy", "--refine", "dot", "--refine-space", "pixel")
    assert r.returncode == 2 and "valid: auto, data, latent" in r.stderr and not (tmp_path / "z.npy").exists()


def test_refinement_on_a_model_without_critic_exits_2(cli, tiny_vae_image_run, tmp_path):
    r = cli("sample", tiny_vae_image_run, "--n", "4", "--out", tmp_path / "v.png", "--refine", "dot")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "gan, lsgan, wgan-gp, cgan" in r.stderr
    assert not (tmp_path / "v.png").exists()


def test_compare_lists_refined_rows_separately(tmp_path):
    import genlab

    board = genlab.compare(["gan"], data="grid25", seeds=1, steps=5, batch_size=32, out=tmp_path / "cmp", n=200,
                           metrics="modes,hq", refine="none,dot,drs", figures=False, log=lambda _: None)
    assert list(board["rows"]) == ["gan", "gan+dot", "gan+drs"]
    assert board["rows"]["gan"]["refine"] is None and board["rows"]["gan+dot"]["refine"]["method"] == "dot"
    assert 0 < board["rows"]["gan+drs"]["acceptance"]["mean"] <= 1
    md = (tmp_path / "cmp" / "leaderboard.md").read_text()
    assert "| gan+dot |" in md and "DRS accepted" in md
    assert len(list((tmp_path / "cmp" / "runs").iterdir())) == 1  # one trained model, three rows
    with pytest.raises(BadInputError, match="needs models with a critic"):
        genlab.compare(["vae"], data="grid25", seeds=1, steps=5, out=tmp_path / "c2", refine="dot")
    assert not (tmp_path / "c2").exists()
