"""Closed-form checks of every loss in genlab.losses."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genlab import losses


def test_bce_d_loss_closed_form():
    # D = sigmoid(0) = 1/2 on both: -log 1/2 - log(1 - 1/2) = 2 log 2
    assert losses.bce_d_loss(torch.zeros(5), torch.zeros(5)).item() == pytest.approx(2 * math.log(2))
    r, f = torch.tensor([2.0]), torch.tensor([-1.0])
    want = -math.log(torch.sigmoid(r).item()) - math.log(1 - torch.sigmoid(f).item())
    assert losses.bce_d_loss(r, f).item() == pytest.approx(want, rel=1e-6)


def test_generator_losses_closed_form():
    f = torch.tensor([0.7, -1.3])
    d = torch.sigmoid(f)
    assert losses.minimax_g_loss(f).item() == pytest.approx(torch.log(1 - d).mean().item(), rel=1e-6)
    assert losses.nonsaturating_g_loss(f).item() == pytest.approx((-torch.log(d)).mean().item(), rel=1e-6)


def test_minimax_saturates_where_nonsaturating_does_not():
    """At D(G(z)) ≈ 0 (logit -10) the minimax gradient vanishes (-σ(f) ≈ -4.5e-5), the
    non-saturating one is ≈ -1: the reason the fix rescues early training."""
    f = torch.full((1,), -10.0, requires_grad=True)
    (g_mm,) = torch.autograd.grad(losses.minimax_g_loss(f), f)
    f2 = torch.full((1,), -10.0, requires_grad=True)
    (g_ns,) = torch.autograd.grad(losses.nonsaturating_g_loss(f2), f2)
    assert g_mm.item() == pytest.approx(-torch.sigmoid(torch.tensor(-10.0)).item(), rel=1e-4)
    assert abs(g_mm.item()) < 1e-4
    assert g_ns.item() == pytest.approx(-1.0, abs=1e-4)
    # both push D(G(z)) up (negative gradient w.r.t. the logit)
    assert g_mm.item() < 0 and g_ns.item() < 0


def test_lsgan_with_abc():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])
    # ½ mean((1-1)², (3-1)²) + ½ mean((0+1)², (2+1)²) = 1 + 2.5
    assert losses.lsgan_d_loss(real, fake, a=-1.0, b=1.0).item() == pytest.approx(3.5)
    assert losses.lsgan_g_loss(real, c=0.0).item() == pytest.approx(0.5 * (1 + 9) / 2)
    # defaults a=0, b=1, c=1
    assert losses.lsgan_d_loss(torch.ones(3), torch.zeros(3)).item() == 0.0
    assert losses.lsgan_g_loss(torch.ones(3)).item() == 0.0


def test_wgan_signs():
    real, fake = torch.tensor([2.0, 4.0]), torch.tensor([1.0, -1.0])
    assert losses.wgan_d_loss(real, fake).item() == pytest.approx(0.0 - 3.0)  # E[D(fake)] - E[D(real)]
    assert losses.wgan_g_loss(fake).item() == pytest.approx(-0.0)
    assert losses.wgan_g_loss(torch.tensor([3.0])).item() == -3.0  # G wants the critic high


def test_hinge_margins():
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-3.0, 0.0])
    # mean(relu(1 - r)) = mean(0, 0.5, 2) = 5/6; mean(relu(1 + f)) = mean(0, 1) = 1/2
    assert losses.hinge_d_loss(real, fake).item() == pytest.approx(5 / 6 + 1 / 2)
    assert losses.hinge_d_loss(torch.ones(3), -torch.ones(3)).item() == 0.0  # both at the margin


def _linear_critic(w: torch.Tensor) -> nn.Module:
    lin = nn.Linear(len(w), 1, bias=True)
    with torch.no_grad():
        lin.weight.copy_(w[None])
        lin.bias.fill_(0.3)
    return lin


@pytest.mark.parametrize("norm", [1.0, 3.0, 0.5])
def test_gradient_penalty_linear_critic(norm):
    torch.manual_seed(0)
    w = torch.randn(4)
    w = w / w.norm() * norm
    real, fake = torch.randn(16, 4), torch.randn(16, 4)
    eps = torch.rand(16, 1)
    gp = losses.gradient_penalty(_linear_critic(w), real, fake, eps, weight=10.0)
    assert gp.item() == pytest.approx(10.0 * (norm - 1) ** 2, abs=1e-5)


def test_gradient_penalty_is_on_interpolates():
    """Critic ½‖x‖² has gradient x, so the penalty is λ·mean((‖x̂‖ - 1)²) at x̂ = εx + (1-ε)x̃."""

    class Half(nn.Module):
        def forward(self, x):
            return 0.5 * x.pow(2).sum(1)

    real, fake = torch.tensor([[2.0, 0.0], [0.0, 4.0]]), torch.tensor([[0.0, 0.0], [0.0, 2.0]])
    eps = torch.tensor([[0.5], [0.25]])
    x_hat = eps * real + (1 - eps) * fake  # [[1, 0], [0, 2.5]]
    want = 10.0 * ((x_hat.norm(dim=1) - 1) ** 2).mean().item()  # 10 * mean(0, 2.25)
    assert losses.gradient_penalty(Half(), real, fake, eps).item() == pytest.approx(want)
    assert want == pytest.approx(11.25)


def test_gradient_penalty_backpropagates_to_critic():
    lin = _linear_critic(torch.tensor([3.0, 0.0]))
    gp = losses.gradient_penalty(lin, torch.randn(8, 2), torch.randn(8, 2), torch.rand(8, 1))
    gp.backward()
    # d/dw λ(‖w‖-1)² = 2λ(‖w‖-1) w/‖w‖ = [40, 0]
    assert torch.allclose(lin.weight.grad, torch.tensor([[40.0, 0.0]]), atol=1e-4)


def test_kl_matches_torch_distributions():
    torch.manual_seed(1)
    mu, logvar = torch.randn(6, 3), torch.randn(6, 3)
    p = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    q = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    want = torch.distributions.kl_divergence(p, q).sum(1)
    assert torch.allclose(losses.kl_normal(mu, logvar), want, atol=1e-5)
    assert losses.kl_normal(torch.zeros(2, 3), torch.zeros(2, 3)).abs().max() == 0


def test_reparameterization_passes_gradients_to_mu_and_sigma():
    mu = torch.tensor([[0.5, -1.0]], requires_grad=True)
    logvar = torch.tensor([[0.2, -0.4]], requires_grad=True)
    eps = torch.tensor([[1.5, -2.0]])
    z = losses.reparameterize(mu, logvar, eps)
    assert torch.allclose(z, mu + (0.5 * logvar).exp() * eps)
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.ones_like(mu))
    assert torch.allclose(logvar.grad, 0.5 * (0.5 * logvar.detach()).exp() * eps)


def test_reconstruction_losses():
    x = torch.tensor([[-1.0, 1.0, 0.0]])
    logits = torch.tensor([[0.3, -0.2, 1.0]])
    want = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), (x + 1) / 2, reduction="sum")
    assert losses.recon_bce(logits, x).item() == pytest.approx(want.item(), rel=1e-6)
    assert losses.recon_mse(torch.zeros(1, 3), x).item() == pytest.approx(2.0)


def test_adversarial_registry_pairs_have_the_same_signatures():
    from genlab.games import GAMES

    for name, (d, g) in ((n, (e.d_loss, e.g_loss)) for n, e in GAMES.items()):
        r, f = torch.randn(4), torch.randn(4)
        assert torch.isfinite(d(r, f)) and torch.isfinite(g(f)), name
