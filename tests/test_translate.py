"""Translation data (unpaired folders, the two benchmarks), `genlab translate`, translation scores."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

import genlab
from genlab.data import load_data
from genlab.data.translation import summer, thick_inverted, winter
from genlab.errors import BadInputError
from genlab.metrics.translation import psnr, ssim, translation_scores

from conftest import run_cli
from helpers import run_main, write_images

# the domains and the tiny CycleGAN trained on them are conftest's `unpaired_domains` and `tiny_cyclegan_run`


# ----------------------------------------------------------------------------- data


def test_unpaired_folders_give_two_domains_of_one_shape(unpaired_domains):
    a, b = unpaired_domains
    data = load_data(f"unpaired:{a},{b}", image_size=16)
    assert data.kind == "unpaired" and data.y is None
    assert data.x.shape == (6, 3, 16, 16) and data.x_b.shape == (5, 3, 16, 16)  # gray B -> RGB
    assert torch.equal(data.x_b[:, 0], data.x_b[:, 2])
    assert load_data(f"unpaired:{a},{a}").x.shape == (6, 3, 64, 64)  # 64 by default
    with pytest.raises(BadInputError, match="DIR_A,DIR_B"):
        load_data(f"unpaired:{a}")
    with pytest.raises(BadInputError, match="does not exist"):
        load_data(f"unpaired:{a},{a.parent / 'nope'}")


@pytest.mark.parametrize("name", ["mnist-style", "seasons"])
def test_benchmarks_are_unpaired_for_training_with_true_test_pairs(name):
    data = load_data(name, image_size=16 if name == "seasons" else None)
    a, b, ta, tb = data.x, data.x_b, data.meta["test_a"], data.meta["test_b"]
    assert data.kind == "unpaired" and a.shape[1:] == b.shape[1:] == ta.shape[1:] and len(ta) == len(tb) == 500
    assert a.min() >= -1 and a.max() <= 1 and b.min() >= -1 and b.max() <= 1
    if name == "mnist-style":
        assert torch.equal(tb, thick_inverted(ta))  # the truth is the known transform
        assert (b > 0).float().mean() > 0.5 > (a > 0).float().mean()  # B is ink on white paper
        # unpaired: no training image of B is the transform of a training image of A
        tb_train = thick_inverted(a)
        assert not (torch.cdist(tb_train.flatten(1)[:500], b.flatten(1)) < 1e-4).any()
    else:
        assert a.shape[1] == 3 and (a[:, 1] > a[:, 2]).float().mean() > 0.8  # grass green
        assert (b.mean(1) > 0.4).float().mean() > 0.5  # snow
    test = load_data(name, split="test")
    assert test.meta["paired"] and len(test.x) == len(test.x_b) == 500


def test_seasons_style_transform_is_a_texture_not_only_colour():
    s = torch.full((1, 3, 8, 8), 0.1)
    s[..., 2:6, 2:6] = torch.tensor([0.9, 0.3, 0.1])[:, None, None]  # a shape in the middle
    w, su = winter(s), summer(s)
    inside = w[0, 2, 2:6, 2:6]
    assert inside.unique().numel() == 2  # hatched: two stripe levels inside the shape
    assert su[0, 1, 0, 0] > su[0, 0, 0, 0] and w[0, :, 0, 0].min() > 0.8  # grass vs. snow


# ----------------------------------------------------------------------------- the command


def test_translate_keeps_names_and_count_and_never_overwrites(tiny_cyclegan_run, tmp_path, user_error):
    src = tmp_path / "in"
    write_images(src, 3, (40, 32), "RGB")
    write_images(src / "sub", 2, (16, 16), "L", ext=".jpg")
    (src / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    r = run_cli("translate", tiny_cyclegan_run, src, "--direction", "b2a", "--out", out)
    assert r.returncode == 0, r.stderr
    got = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert got == ["img0.png", "img1.png", "img2.png", "sub/img0.jpg", "sub/img1.jpg"]
    assert Image.open(out / "img0.png").size == (16, 16)
    before = (out / "img0.png").read_bytes()
    err = user_error("translate", tiny_cyclegan_run, src, "--out", out, unchanged=out)
    assert "already exists (5 of 5 outputs)" in err
    assert (out / "img0.png").read_bytes() == before
    # one file in, one file out
    assert run_main("translate", tiny_cyclegan_run, src / "img1.png", "--out", tmp_path / "one") == 0
    assert [p.name for p in (tmp_path / "one").iterdir()] == ["img1.png"]


def test_translate_refuses_bad_input(tiny_cyclegan_run, tiny_vae_image_run, tmp_path, user_error):
    write_images(tmp_path / "in", 1, (16, 16), "RGB")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    (tmp_path / "empty").mkdir()
    cases = [
        ((tiny_cyclegan_run, tmp_path / "in", "--direction", "sideways"), "unknown direction 'sideways'; valid: a2b, b2a"),
        ((tiny_cyclegan_run, tmp_path / "missing", ), "does not exist"),
        ((tiny_cyclegan_run, tmp_path / "empty"), "no image files"),
        ((tiny_cyclegan_run, tmp_path / "broken.png"), "cannot read image"),
        ((tiny_vae_image_run, tmp_path / "in"), "needs a translation model"),
    ]
    for args, message in cases:
        err = user_error("translate", *args, "--out", tmp_path / "o", unchanged=tmp_path)
        assert message in err, err


# ----------------------------------------------------------------------------- scores


def test_translation_scores_carry_provenance_and_the_identity_baseline(tiny_cyclegan_run):
    model = genlab.load(tiny_cyclegan_run).model
    data = load_data("mnist-style", image_size=16)
    data.meta["test_a"], data.meta["test_b"] = data.meta["test_a"].expand(-1, 3, -1, -1), \
        data.meta["test_b"].expand(-1, 3, -1, -1)  # the tiny run is RGB
    data.x, data.x_b = data.x.expand(-1, 3, -1, -1), data.x_b.expand(-1, 3, -1, -1)
    model.translate = lambda x, direction: x  # the identity mapping scores as its own baseline
    rows = translation_scores(model, data, n=40, seed=3, extractor=None)
    by = {(r["direction"], r["metric"]): r for r in rows}
    for d in ("a2b", "b2a"):
        assert by[d, "psnr"]["value"] == pytest.approx(by[d, "psnr_identity"]["value"])
        assert by[d, "ssim"]["value"] == pytest.approx(by[d, "ssim_identity"]["value"])
        assert by[d, "cycle_l1"]["value"] == 0
        assert by[d, "psnr"]["n"] == 40 and by[d, "psnr"]["seed"] == 3 and "test pairs" in by[d, "psnr"]["reference"]
    a, b = data.meta["test_a"][:5], data.meta["test_b"][:5]
    assert psnr(a, a) == float("inf") and ssim(a, a) == pytest.approx(1.0)
    mse = ((a - b) ** 2).flatten(1).mean(1)
    assert psnr(a, b) == pytest.approx((10 * torch.log10(4 / mse)).mean().item(), rel=1e-5)


def test_translation_metrics_in_the_registry(tiny_cyclegan_run):
    from genlab.evaluation import evaluate

    (score,) = evaluate(tiny_cyclegan_run, metrics="cycle_l1_b2a", n=4)
    assert score.metric == "cycle_l1_b2a" and 0 < score.value < 2 and score.n_fake == 4
    with pytest.raises(BadInputError, match="known targets"):
        evaluate(tiny_cyclegan_run, metrics="psnr_a2b", n=4)
