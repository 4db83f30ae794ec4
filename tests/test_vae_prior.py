"""The VAE's ex-post prior (prior=gmm): a Gaussian mixture fitted to the posterior means of the
training set when training ends; samples draw their codes from it."""

from __future__ import annotations

import pytest
import torch

import genlab
from genlab.data import load_data
from genlab.models.autoencoder import fit_gaussian_mixture
from helpers import assert_same_weights, expect_user_error, weights

TINY = {"width": 8, "latent_dim": 4, "prior": "gmm", "prior_k": 3}


def test_mixture_fit_recovers_two_known_components():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(1200, 2, generator=g) * torch.tensor([0.5, 1.0]) + torch.tensor([-4.0, 0.0])
    b = torch.randn(2800, 2, generator=g) * torch.tensor([1.0, 0.3]) + torch.tensor([4.0, 1.0])
    pi, mu, cov = fit_gaussian_mixture(torch.cat([a, b]).double().numpy(), 2)
    order = mu[:, 0].argsort()  # component 0: the left one
    pi, mu, cov = pi[order], mu[order], cov[order]
    assert pi == pytest.approx([0.3, 0.7], abs=0.01)
    assert mu[0] == pytest.approx([-4.0, 0.0], abs=0.1) and mu[1] == pytest.approx([4.0, 1.0], abs=0.1)
    assert cov[0].diagonal() == pytest.approx([0.25, 1.0], rel=0.15)
    assert cov[1].diagonal() == pytest.approx([1.0, 0.09], rel=0.15)
    assert abs(cov[0][0, 1]) < 0.1 and abs(cov[1][0, 1]) < 0.1


@pytest.fixture(scope="module")
def gmm_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "vae_gmm"
    genlab.train("vae", "digits", out=out, steps=8, seed=0, quiet=True, overrides=TINY)
    return out


def test_the_mixture_is_fitted_to_the_posterior_means_of_the_training_set(gmm_run):
    m = genlab.load(gmm_run).model
    assert float(m.prior_fitted) == 1.0
    x = load_data("digits").x
    mu = m.posterior_means(lambda idx: x[idx], len(x))
    assert mu.shape == (len(x), 4)
    pi, means, cov = fit_gaussian_mixture(mu.double().numpy(), 3)
    assert m.prior_weights.double().numpy() == pytest.approx(pi, abs=1e-5)
    assert m.prior_means.double().numpy() == pytest.approx(means, abs=1e-4)
    tril = m.prior_scale_tril.double()
    assert (tril @ tril.transpose(1, 2)).numpy() == pytest.approx(cov, abs=1e-4)


def test_samples_draw_their_codes_from_the_mixture(gmm_run):
    """The codes' mean and covariance are the mixture's: Σ π_k μ_k and Σ π_k (Σ_k + μ_k μ_kᵀ) - m mᵀ."""
    m = genlab.load(gmm_run).model
    torch.manual_seed(0)
    z = m.sample_codes(200_000).double()
    pi, mu = m.prior_weights.double(), m.prior_means.double()
    cov_k = m.prior_scale_tril.double() @ m.prior_scale_tril.double().transpose(1, 2)
    mean = pi @ mu
    cov = torch.einsum("k,kij->ij", pi, cov_k + mu[:, :, None] * mu[:, None, :]) - torch.outer(mean, mean)
    assert torch.allclose(z.mean(0), mean, atol=0.02)
    assert torch.allclose(torch.cov(z.T), cov, atol=0.03)
    # and the mixture is not N(0, I), so the checks above tell the two apart
    assert mean.abs().max() > 0.1 or (cov - torch.eye(4, dtype=cov.dtype)).abs().max() > 0.1
    s = m.sample(5)
    assert s.shape == (5, 1, 8, 8) and s.min() >= -1 and s.max() <= 1


def test_a_resumed_run_fits_the_same_mixture(gmm_run, tmp_path):
    out = tmp_path / "split"
    genlab.train("vae", "digits", out=out, steps=4, seed=0, quiet=True, overrides=TINY)
    assert float(genlab.load(out).model.prior_fitted) == 1.0  # fitted at its own end
    genlab.train("vae", "digits", out=out, steps=8, resume=True, seed=0, quiet=True, overrides=TINY)
    assert_same_weights(out, gmm_run)  # prior buffers included


def test_the_normal_prior_keeps_no_mixture(tmp_path):
    out = tmp_path / "plain"
    genlab.train("vae", "digits", out=out, steps=2, seed=0, quiet=True, overrides={"width": 8, "latent_dim": 4})
    assert not any(k.startswith("prior_") for k in weights(out))


@pytest.mark.parametrize("args, words", [
    (("vae", "--set", "prior=gauss"), ("normal, gmm",)),
    (("vae", "--set", "prior_k=0"), ("prior_k",)),
    (("cvae", "--set", "prior=gmm"), ("prior must be normal",)),
    (("vae", "--set", "conv_depth=-1"), ("conv_depth must be >= 0",)),
])
def test_bad_prior_settings_are_refused(capsys, tmp_path, args, words):
    line = expect_user_error(capsys, "train", args[0], "--data", "digits", "--steps", "2", *args[1:],
                             "--out", str(tmp_path / "r"), unchanged=tmp_path)
    assert all(w in line for w in words)


def test_collapsed_codes_still_give_a_valid_mixture_without_a_warning(recwarn):
    """A collapsed posterior (every code the same) has fewer clusters than components: the fit
    keeps one component and stays a valid distribution, with nothing shown to the user."""
    pi, mu, cov = fit_gaussian_mixture(torch.zeros(50, 4).double().numpy(), 10)
    assert pi.sum() == pytest.approx(1.0) and pi.max() == pytest.approx(1.0)
    torch.linalg.cholesky(torch.from_numpy(cov))  # positive definite: samples can be drawn
    assert not [w for w in recwarn if "cluster" in str(w.message)]


def test_prior_k_script_refits_on_the_same_weights_and_leaves_the_run_alone(gmm_run, monkeypatch, capsys):
    """scripts/vae_prior_k.py: one scored line per k; its k=3 line is the run's own mixture's
    samples (the run was trained with prior_k 3), and the run folder is not written."""
    import json
    import runpy
    import sys

    from conftest import ROOT

    before = {p: p.stat().st_mtime_ns for p in gmm_run.rglob("*")}
    monkeypatch.setattr(sys, "argv", ["vae_prior_k.py", "--k", "1,3", "--n", "200", str(gmm_run)])
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    runpy.run_path(str(ROOT / "scripts" / "vae_prior_k.py"), run_name="__main__")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["k"] for r in lines] == [1, 3] and all(r["data"] == "digits" and r["fd"] > 0 for r in lines)
    from genlab.metrics.features import classifier_for, load_classifier
    from tune_images import model_scores

    clf = load_classifier(classifier_for("digits"))
    own = model_scores(genlab.load(gmm_run).model, clf, load_data("digits", split="test").x, 200)
    assert lines[1]["fd"] == pytest.approx(own["fd"], rel=1e-3)
    assert {p: p.stat().st_mtime_ns for p in gmm_run.rglob("*")} == before
