"""scripts/truncation_scores.py: the truncation trick at sampling time, scored like `genlab eval`."""

from __future__ import annotations

import json
import runpy
import sys

import pytest
import torch

import genlab
from conftest import ROOT
from helpers import tiny_run


@pytest.fixture(scope="module")
def info_gan_run(tmp_path_factory):
    """A conv GAN with InfoGAN's 10-valued code on 8x8 digits, trained for 10 steps."""
    return tiny_run(tmp_path_factory, "gan", "digits", steps=10, batch_size=32,
                    overrides={"width": 8, "latent_dim": 12, "info_codes": 10})


def _script(monkeypatch, capsys, *args: str) -> list[dict]:
    monkeypatch.setattr(sys, "argv", ["truncation_scores.py", *args])
    runpy.run_path(str(ROOT / "scripts" / "truncation_scores.py"), run_name="__main__")
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_psi_one_is_the_runs_own_scores_and_a_smaller_psi_changes_them(info_gan_run, monkeypatch, capsys):
    from genlab.evaluation import score_run

    lines = _script(monkeypatch, capsys, str(info_gan_run), "--seed", "3", "--n", "200", "--psi", "1,0.2")
    assert [r["psi"] for r in lines] == [1.0, 0.2]
    own = {s.metric: s.value for s in score_run(genlab.load(info_gan_run), ["fd", "confidence"], n=200, seed=3)}
    assert lines[0]["fd_digits_cls"] == pytest.approx(own["fd_digits_cls"], abs=1e-4)
    assert lines[0]["confidence"] == pytest.approx(own["confidence"], abs=1e-4)
    assert lines[1]["fd_digits_cls"] != pytest.approx(lines[0]["fd_digits_cls"], abs=1e-4)
    # scaling the noise leaves InfoGAN's code (the argmax of its first entries) unchanged
    model = genlab.load(info_gan_run).model
    z = torch.randn(500, model.latent_dim)
    assert torch.equal(model.code(z), model.code(0.2 * z))


@pytest.mark.parametrize("psi", ["0", "1.5"])
def test_a_psi_outside_zero_to_one_is_refused(info_gan_run, monkeypatch, capsys, psi):
    with pytest.raises(SystemExit) as e:
        _script(monkeypatch, capsys, str(info_gan_run), "--psi", psi)
    assert e.value.code == 2
    assert "--psi values must be in (0, 1]" in capsys.readouterr().err


def test_a_run_without_a_gan_is_refused(tiny_vae_image_run, monkeypatch, capsys):
    with pytest.raises(SystemExit) as e:
        _script(monkeypatch, capsys, str(tiny_vae_image_run))
    assert e.value.code == 2
    assert "the truncation trick is for the GAN families" in capsys.readouterr().err
