"""A run loaded back (``genlab.load`` -> ``Run``), and which weights the commands that read a run
use: the EMA weights when the run has them, the last training weights with ``--no-ema``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import genlab
from genlab.errors import BadInputError

from helpers import run_main, tiny_run


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory):
    """A 2-D GAN trained for 20 steps with an EMA of its generator (decay 0.9: far from the last weights)."""
    return tiny_run(tmp_path_factory, "gan", "ring8", name="ema", steps=20, batch_size=32, ema=True, ema_decay=0.9)


def test_load_returns_the_run(tiny_gan_run):
    run = genlab.load(tiny_gan_run)
    assert isinstance(run, genlab.Run)
    assert run.path == tiny_gan_run and run.name == "gan"
    assert run.config == json.loads((tiny_gan_run / "config.json").read_text())
    assert not run.model.training and run.ema is False  # trained without --ema
    assert run.modes is not None and run.modes.shape == (25, 2)


def test_load_uses_the_ema_weights_when_the_run_has_them(ema_run):
    from safetensors.torch import load_file

    saved = load_file(str(ema_run / "model.safetensors"))
    default, forced, plain = genlab.load(ema_run), genlab.load(ema_run, ema=True), genlab.load(ema_run, ema=False)
    assert default.ema and forced.ema and not plain.ema
    for name, value in default.model.G.state_dict().items():  # the generator is the EMA part of a GAN
        assert torch.equal(value, saved[f"ema.{name}"])
        assert torch.equal(forced.model.G.state_dict()[name], value)
    assert torch.equal(plain.model.G.net[0].weight, saved["G.net.0.weight"])
    assert not torch.equal(plain.model.G.net[0].weight, default.model.G.net[0].weight)


def test_asking_for_ema_weights_a_run_lacks_is_a_user_error(tiny_gan_run, user_error):
    with pytest.raises(BadInputError, match="no EMA weights"):
        genlab.load(tiny_gan_run, ema=True)
    assert "no EMA weights" in user_error("sample", tiny_gan_run, "--ema", "--out", tiny_gan_run.parent / "x.npy")


def test_translate_takes_the_same_choice(tiny_cyclegan_run, unpaired_domains, tmp_path, user_error):
    a, _ = unpaired_domains
    assert "no EMA weights" in user_error("translate", tiny_cyclegan_run, a, "--out", tmp_path / "x", "--ema")
    assert run_main("translate", tiny_cyclegan_run, a, "--out", tmp_path / "y", "--no-ema") == 0
    assert run_main("translate", tiny_cyclegan_run, a, "--out", tmp_path / "z") == 0
    assert sorted(p.read_bytes() for p in (tmp_path / "y").iterdir()) == \
        sorted(p.read_bytes() for p in (tmp_path / "z").iterdir())


def test_sample_uses_ema_by_default(ema_run, tmp_path):
    out = {k: tmp_path / f"{k}.npy" for k in ("default", "ema", "no_ema")}
    assert run_main("sample", ema_run, "--n", "50", "--out", out["default"]) == 0
    assert run_main("sample", ema_run, "--n", "50", "--ema", "--out", out["ema"]) == 0
    assert run_main("sample", ema_run, "--n", "50", "--no-ema", "--out", out["no_ema"]) == 0
    a, b, c = (np.load(out[k]) for k in ("default", "ema", "no_ema"))
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)


def test_interpolate_uses_ema_by_default(ema_run, tmp_path):
    paths = [tmp_path / f"{k}.png" for k in ("default", "ema", "no_ema")]
    for path, flags in zip(paths, ([], ["--ema"], ["--no-ema"])):
        assert run_main("interpolate", ema_run, "--out", path, "--steps", "3", "--seeds", "0,1", *flags) == 0
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


def test_report_shows_the_weights_it_used(ema_run, tiny_gan_run, tmp_path):
    pages = {}
    for key, run, flags in (("default", ema_run, []), ("no_ema", ema_run, ["--no-ema"]),
                            ("missing", tiny_gan_run, ["--ema"])):
        pages[key] = tmp_path / f"{key}.html"
        assert run_main("report", run, "--out", pages[key], "--no-interpolation", *flags) == 0
    assert "<td>EMA</td>" in pages["default"].read_text()  # the mode table says which weights drew it
    assert "<td>last</td>" in pages["no_ema"].read_text()
    assert "no EMA weights" in pages["missing"].read_text()  # the page is written, saying why no figures


def test_eval_provenance_records_the_weights(ema_run, tmp_path):
    scores = {}
    for key, flags in (("default", []), ("no_ema", ["--no-ema"])):
        out = tmp_path / f"{key}.json"
        assert run_main("eval", ema_run, "--metrics", "mmd", "--n", "200", "--json", out, *flags) == 0
        scores[key] = json.loads(out.read_text())["scores"]
        kept = json.loads((ema_run / "eval.json").read_text())
        assert kept["settings"].get("ema", False) is (key == "default")  # kept apart: --no-ema is not the default
    assert [s["ema"] for s in scores["default"]] == [True]
    assert [s["ema"] for s in scores["no_ema"]] == [False]
    assert scores["default"][0]["value"] != scores["no_ema"][0]["value"]
    from genlab.evaluation import evaluate

    (plain,) = evaluate(ema_run, metrics="mmd", n=200, ema=False)
    assert plain.ema is False and plain.value == scores["no_ema"][0]["value"]
