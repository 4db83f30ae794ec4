"""DiffAugment: each transform is differentiable, per-image, exact on known shifts and squares."""

from __future__ import annotations

import pytest
import torch

from genlab.augment import POLICIES, cutout, diff_augment, parse_policy, translation
from genlab.errors import GenlabError


def const_rand(value: float):
    return lambda n, *shape: torch.full((n, *shape), value)


def seeded_rand(seed: int):
    g = torch.Generator().manual_seed(seed)
    return lambda n, *shape: torch.rand((n, *shape), generator=g)


@pytest.mark.parametrize("name", list(POLICIES))
def test_gradients_reach_the_input(name):
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    out = POLICIES[name](x, seeded_rand(0))
    (out * torch.randn_like(out)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert out.shape == x.shape


@pytest.mark.parametrize("name", ["color", "translation"])
def test_the_middle_draw_is_the_identity(name):
    # rand = 0.5: brightness +0, saturation x1, contrast x1; shift 0
    x = torch.randn(3, 3, 32, 32)
    assert torch.allclose(POLICIES[name](x, const_rand(0.5)), x, atol=1e-6)


def test_translation_by_a_known_shift_moves_pixels_and_fills_zeros():
    x = torch.arange(1, 1 + 8 * 8, dtype=torch.float).reshape(1, 1, 8, 8)
    out = translation(x, const_rand(0.99))  # 8 px, ratio 1/8: r = 1, shift +1 on both axes
    assert torch.equal(out[0, 0, :-1, :-1], x[0, 0, 1:, 1:])
    assert out[0, 0, -1].abs().sum() == 0 and out[0, 0, :, -1].abs().sum() == 0


def test_cutout_zeroes_a_square_of_half_the_side():
    x = torch.ones(2, 1, 16, 16)
    out = cutout(x, const_rand(0.5))  # centred: fully inside
    assert (out == 0).sum(dim=(1, 2, 3)).tolist() == [64, 64]
    zero_rows = (out[0, 0] == 0).any(1).nonzero().flatten()
    assert zero_rows.tolist() == list(range(4, 12))


def test_each_image_gets_its_own_draw_and_the_same_transform():
    """Augmenting a batch equals augmenting each image alone with that image's random numbers."""
    policy = parse_policy("color,translation,cutout")
    x = torch.randn(5, 3, 16, 16)
    batch = diff_augment(x, policy, seeded_rand(3))
    # the same numbers, handed out per image: record the batch's draws, replay them row by row
    draws = []
    g = torch.Generator().manual_seed(3)

    def recording(n, *shape):
        t = torch.rand((n, *shape), generator=g)
        draws.append(t)
        return t

    assert torch.equal(diff_augment(x, policy, recording), batch)
    for i in range(len(x)):
        it = iter(draws)
        one = diff_augment(x[i:i + 1], policy, lambda n, *shape: next(it)[i:i + 1])
        assert torch.allclose(one[0], batch[i], atol=1e-6)
    assert not torch.allclose(batch[0], batch[1])  # independent draws per image


def test_policy_names():
    assert parse_policy(" Color , cutout") == ("color", "cutout")
    assert parse_policy("") == () and parse_policy("none") == ()
    with pytest.raises(GenlabError, match="color, cutout, none, translation"):
        parse_policy("colour")


def test_vectors_pass_unchanged():
    v = torch.randn(8, 2)
    assert diff_augment(v, ("color",), seeded_rand(0)) is v


# ----------------------------------------------------------------------------- in the models


def spy_on_augment(monkeypatch):
    """Count the critic inputs that go through DiffAugment, per phase-agnostic call."""
    import genlab.models.base as base

    seen = []
    real_fn = base.diff_augment

    def spy(x, policy, rand):
        seen.append(tuple(x.shape))
        return real_fn(x, policy, rand)

    monkeypatch.setattr(base, "diff_augment", spy)
    return seen


@pytest.mark.parametrize("model", ["gan", "wgan-gp", "cgan"])
def test_reals_and_fakes_are_augmented_in_both_phases_and_g_still_learns(model, monkeypatch):
    from genlab.configure import resolve_config
    from genlab.models import build_model
    from genlab.data import load_data

    cfg = resolve_config(model, "digits", {"model_args": {"augment": "translation,cutout", "width": 8}})
    bundle = load_data("digits")
    from genlab.models.base import DataInfo

    net = build_model(model, cfg.model_args, DataInfo("image", tuple(bundle.x.shape[1:]), bundle.num_classes))
    seen = spy_on_augment(monkeypatch)
    batch = {"x": bundle.x[:16], "y": bundle.y[:16]}
    net.loss("d", batch)
    assert len(seen) == 2  # the real batch and the fake batch
    seen.clear()
    loss, _ = net.loss("g", batch)
    assert len(seen) == 1  # the fakes G is judged on
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.G.parameters() if p.dim() > 1)


def test_no_policy_leaves_the_critic_inputs_alone(monkeypatch):
    import genlab

    seen = spy_on_augment(monkeypatch)
    genlab.train("gan", "digits", out=__import__("tempfile").mkdtemp() + "/r", steps=2, batch_size=8,
                 sample_every=0, overrides={"width": 4})
    assert seen == []


def test_an_augmented_run_resumes_bit_exactly(tmp_path):
    import genlab
    from safetensors.torch import load_file

    opts = dict(batch_size=16, seed=2, ckpt_every=5, sample_every=0,
                overrides={"width": 4, "augment": "color,translation,cutout"})
    genlab.train("gan", "digits", out=tmp_path / "straight", steps=10, **opts)
    genlab.train("gan", "digits", out=tmp_path / "split", steps=5, **opts)
    genlab.train("gan", "digits", out=tmp_path / "split", steps=10, resume=True, **opts)
    a, b = load_file(str(tmp_path / "straight" / "model.safetensors")), load_file(str(tmp_path / "split" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_an_unknown_policy_is_one_error_line(user_error, tmp_path):
    line = user_error("train", "gan", "--data", "digits", "--steps", "1", "--set", "augment=colour",
                      "--out", str(tmp_path / "r"))
    assert "colour" in line and "color, cutout, none, translation" in line
    assert not (tmp_path / "r").exists()
