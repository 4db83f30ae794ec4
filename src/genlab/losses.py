"""Loss functions: pure functions of network outputs, nothing else.

Adversarial losses come as ``d_loss(real_out, fake_out)`` and ``g_loss(fake_out)`` with
identical signatures; :mod:`genlab.games` pairs them into the games models play. ``*_out`` are
raw critic outputs (logits for the BCE family; no sigmoid anywhere in the networks). Every loss
is a mean over the batch so that data-parallel gradient averaging equals the full-batch gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# ----------------------------------------------------------------------------- GAN (BCE)


def bce_d_loss(real_out: Tensor, fake_out: Tensor) -> Tensor:
    """Discriminator BCE, real -> 1, fake -> 0 (Goodfellow et al. 2014):
    ``-log D(x) - log(1 - D(G(z)))`` with ``D = sigmoid(out)``, i.e. ``softplus(-r) + softplus(f)``."""
    return F.softplus(-real_out).mean() + F.softplus(fake_out).mean()


def minimax_g_loss(fake_out: Tensor) -> Tensor:
    """The original, saturating generator loss ``log(1 - D(G(z)))`` (Goodfellow et al. 2014),
    minimised by G. Equals ``-softplus(f)``; its gradient w.r.t. ``f`` is ``-sigmoid(f)``, which
    vanishes when D confidently rejects fakes (``D(G(z)) ≈ 0``) — the early-training trap."""
    return -F.softplus(fake_out).mean()


def nonsaturating_g_loss(fake_out: Tensor) -> Tensor:
    """The non-saturating fix ``-log D(G(z))`` (Goodfellow et al. 2014, §3) = ``softplus(-f)``;
    gradient ``-(1 - sigmoid(f))`` is strongest exactly when D wins."""
    return F.softplus(-fake_out).mean()


# ----------------------------------------------------------------------------- LSGAN


def lsgan_d_loss(real_out: Tensor, fake_out: Tensor, *, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Least-squares D loss (Mao et al. 2017, eq. 2): ``½E[(D(x) - b)²] + ½E[(D(G(z)) - a)²]``
    on raw outputs (no sigmoid); a = fake label, b = real label."""
    return 0.5 * (real_out - b).pow(2).mean() + 0.5 * (fake_out - a).pow(2).mean()


def lsgan_g_loss(fake_out: Tensor, *, c: float = 1.0) -> Tensor:
    """Least-squares G loss (Mao et al. 2017, eq. 2): ``½E[(D(G(z)) - c)²]``; c = the value G
    wants D to believe for fakes."""
    return 0.5 * (fake_out - c).pow(2).mean()


# ----------------------------------------------------------------------------- Wasserstein


def wgan_d_loss(real_out: Tensor, fake_out: Tensor) -> Tensor:
    """Critic loss (Arjovsky et al. 2017): ``E[D(G(z))] - E[D(x)]`` — the critic maximises the
    gap, so it minimises its negation. Needs a Lipschitz constraint (see gradient_penalty)."""
    return fake_out.mean() - real_out.mean()


def wgan_g_loss(fake_out: Tensor) -> Tensor:
    """Generator loss (Arjovsky et al. 2017): ``-E[D(G(z))]``."""
    return -fake_out.mean()


def gradient_penalty(critic, real: Tensor, fake: Tensor, eps: Tensor, *, weight: float = 10.0) -> Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017, eq. 3): ``λ E[(‖∇D(x̂)‖₂ - 1)²]`` on random
    interpolates ``x̂ = ε x + (1 - ε) x̃``, ``ε ~ U[0, 1]`` per sample — not on real samples.

    ``eps`` has shape (B, 1, ...) broadcastable to ``real``; passing it in keeps this pure.
    ``create_graph=True`` so the penalty itself is differentiated w.r.t. the critic.
    """
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = critic(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)  # (B, ...) -> (B,)
    return weight * (norm - 1).pow(2).mean()


def r1_penalty(critic, real: Tensor, fake: Tensor, eps: Tensor, *, gamma: float = 10.0) -> Tensor:
    """R1 (Mescheder et al. 2018, eq. 9): ``γ/2 E[‖∇D(x)‖²]`` on real samples only, which keeps
    the critic flat on the data, so the game converges near it. ``fake`` and ``eps`` are unused
    (the penalty interface of :func:`gradient_penalty`)."""
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return 0.5 * gamma * grad.flatten(1).pow(2).sum(1).mean()


# ----------------------------------------------------------------------------- hinge


def hinge_d_loss(real_out: Tensor, fake_out: Tensor) -> Tensor:
    """Hinge critic loss (Lim & Ye 2017; SNGAN, BigGAN): ``E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]``.
    Samples already beyond the margin (real above 1, fake below -1) add nothing, so the critic
    stops pushing its outputs apart; the generator's loss is WGAN's ``-E[D(G(z))]``."""
    return F.relu(1 - real_out).mean() + F.relu(1 + fake_out).mean()


# ----------------------------------------------------------------------------- VAE pieces


def kl_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """``KL(N(μ, σ²) ‖ N(0, I))`` per sample, closed form (Kingma & Welling 2014, app. B):
    ``½ Σ (μ² + σ² - 1 - log σ²)``. Shape (B, D) -> (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def reparameterize(mu: Tensor, logvar: Tensor, eps: Tensor) -> Tensor:
    """``z = μ + σ·ε`` with ``σ = exp(½ log σ²)``: sampling moved into ε so gradients reach μ and σ."""
    return mu + (0.5 * logvar).exp() * eps


def recon_mse(x_hat: Tensor, x: Tensor) -> Tensor:
    """Sum of squared errors per sample, shape (B, ...) -> (B,)."""
    return (x_hat - x).pow(2).flatten(1).sum(dim=1)


def recon_bce(logits: Tensor, x: Tensor) -> Tensor:
    """Bernoulli negative log-likelihood per sample for data in [-1, 1] (mapped to [0, 1]),
    from decoder logits; (B, ...) -> (B,). This is -log p(x|z) in nats for binary-ish images."""
    target = (x + 1) / 2
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(dim=1)
