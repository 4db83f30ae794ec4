"""Autoencoder and VAE (Kingma & Welling 2014), with the IWAE bound (Burda et al. 2016).

Both share the encoder/decoder networks: an MLP for vectors, a DCGAN-style conv net for
images. The VAE's encoder outputs μ and log σ² per latent dimension; ``z = μ + σ·ε`` keeps
sampling differentiable; new data comes from decoding ``z ~ N(0, I)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from genlab import losses
from genlab.config import choice
from genlab.errors import BadInputError
from genlab.models.base import DataInfo, GenerativeModel, Latent, NetSizes, auto_latent, log_normal_std
from genlab.nets import data_net


PRIORS = ("normal", "gmm")


def fit_gaussian_mixture(z, k: int, seed: int = 0):
    """A k-component full-covariance Gaussian mixture fitted to the rows of ``z`` (N, D) by
    scikit-learn's EM (k-means start, seeded): (weights (k,), means (k, D), covariances (k, D, D))."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture  # slow to import; only here

    with warnings.catch_warnings():  # codes with fewer distinct clusters than k (a collapsed
        warnings.simplefilter("ignore", ConvergenceWarning)  # posterior) still give a valid mixture
        gm = GaussianMixture(k, covariance_type="full", random_state=seed, reg_covar=1e-5, max_iter=200).fit(z)
    return gm.weights_, gm.means_, gm.covariances_


class Autoencoder(GenerativeModel):
    """Deterministic autoencoder: compress to a code, reconstruct (MSE or Bernoulli BCE)."""

    help = "deterministic autoencoder (MSE or BCE reconstruction); samples from a Gaussian fit of its codes"

    @dataclass
    class Config(NetSizes):
        recon: str = choice("auto", ("auto", "mse", "bce"))  # auto: bce for images, mse for vectors
        obs_std: float = 0.1  # σ of the Gaussian likelihood behind mse: loss = Σ(x - x̂)² / 2σ²
        lr: float = 1e-3  # Adam learning rate
        beta1: float = 0.9  # Adam β1
        beta2: float = 0.999  # Adam β2
        conv_depth: int = 0  # images: size-keeping 3x3 convolutions added at every scale of both nets

        def validate(self) -> None:
            if self.latent_dim < 0 or self.conv_depth < 0 or self.width < 1 or self.hidden < 1 or self.depth < 1:
                raise BadInputError("latent_dim, conv_depth must be >= 0 and width, hidden, depth >= 1")
            if self.obs_std <= 0:
                raise BadInputError(f"obs_std must be > 0, got {self.obs_std}")

    phases = ("model",)
    parts = {"model": ("encoder", "decoder")}
    ema_part = "decoder"
    code_factor = 1  # the encoder outputs code_factor * latent_dim numbers
    reconstructs = True

    def __init__(self, cfg, info: DataInfo):
        super().__init__(cfg, info)
        self.latent_dim = auto_latent(cfg.latent_dim, info)
        self.recon_kind = cfg.recon if cfg.recon != "auto" else ("bce" if info.is_image else "mse")
        # a conditional family's nets also read the label (one-hot channels / inputs: label_dims)
        c, *rest = info.shape
        self.encoder = data_net((c + self.label_dims(info), *rest), self.code_factor * self.latent_dim, cfg,
                                extra=cfg.conv_depth)
        self.decoder = data_net(info.shape, self.latent_dim + self.label_dims(info), cfg, to_data=True,
                                extra=cfg.conv_depth)
        # Running mean/std of the codes: an AE has no prior, so sampling draws from this fit.
        self.register_buffer("code_mean", torch.zeros(self.latent_dim))
        self.register_buffer("code_std", torch.ones(self.latent_dim))

    # -- the label hooks a conditional family overrides (here: no label) -------------------

    def label_dims(self, info: DataInfo) -> int:
        """Numbers the label adds to the encoder's input channels and the decoder's code."""
        return 0

    def with_label(self, t: Tensor, y: Tensor | None) -> Tensor:
        """A network input with the label appended (unchanged here)."""
        return t

    # -- pieces ---------------------------------------------------------------------------

    def encode(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.encoder(self.with_label(self.to_net(x), y))

    def decode_raw(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return self.decoder(self.with_label(z, y))

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return self.output(self.decode_raw(z, y))

    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self._eval_call(lambda t: self.decode(self._code(t, y), y), x)

    def _code(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.encode(x, y)

    def recon_nll(self, raw: Tensor, x: Tensor) -> Tensor:
        """-log p(x|z) up to a constant, per sample: Bernoulli BCE on logits, or scaled SSE."""
        if self.recon_kind == "bce":
            return losses.recon_bce(2 * raw, x)  # (tanh(r)+1)/2 = sigmoid(2r): same mean as the tanh output
        return losses.recon_mse(self.output(raw), x) / (2 * self.cfg.obs_std**2)

    # -- contract -------------------------------------------------------------------------

    def loss(self, phase: str, batch) -> tuple[Tensor, dict[str, Tensor]]:
        x = batch["x"]
        z = self.encode(x)
        if self.training:
            with torch.no_grad():  # track the code distribution for sampling
                self.code_mean.lerp_(z.mean(0), 0.01)
                self.code_std.lerp_(z.std(0) if len(z) > 1 else self.code_std, 0.01)
        rec = self.recon_nll(self.decoder(z), x).mean()
        return rec, {"recon": rec.detach()}

    def sample(self, n: int, *, y: Tensor | None = None) -> Tensor:
        z = self.code_mean + self.code_std * torch.randn(n, self.latent_dim, device=self.device)
        return self._eval_call(self.decode, z)

    def latent(self) -> Latent | None:
        # no prior: standard codes are mapped onto the Gaussian fitted to the training codes
        return Latent(self.latent_dim, lambda eps: self.decode(self.code_mean + self.code_std * eps))


class VAE(Autoencoder):
    """Variational autoencoder: loss = recon + β·KL; ``k > 1`` trains the IWAE bound instead."""

    help = "variational autoencoder (μ, log σ², reparameterization, closed-form KL; k>1 = IWAE)"

    @dataclass
    class Config(Autoencoder.Config):
        beta: float = 1.0  # weight of the KL term (β-VAE when != 1)
        k: int = 1  # importance samples; k > 1 trains the IWAE bound (Burda et al. 2016)
        prior: str = choice("normal", PRIORS)  # what samples draw z from (gmm: fitted after training)
        prior_k: int = 10  # components of the gmm prior

        def validate(self) -> None:
            super().validate()
            if self.beta < 0 or self.k < 1:
                raise BadInputError(f"beta must be >= 0 and k >= 1, got beta={self.beta}, k={self.k}")
            if self.prior_k < 1:
                raise BadInputError(f"prior_k must be >= 1, got {self.prior_k}")

    # Image recipe: a 16-d code for 28 px digits (the KL leaves most of 128 dimensions unused);
    # FD fell from 12.8 at 1,000 steps to 4.3 at 8,000 and 4.2 at 10,000 (docs/benchmarks.md):
    # 20,000 steps at 14 ms (mnist5k), 12,000 at 40 ms on shapes, within ten minutes of 2 cores.
    # (a 32-d code diverges at step 5 on shapes; its default 128 does not). Samples on mnist5k
    # draw their codes from a 10-component mixture fitted to the posterior means when training
    # ends (prior=gmm): FD 2.74 / 2.53 over two seeds against 4.36 / 4.10 from N(0, I) with the
    # same weights, confidence 0.91 against 0.73 (docs/benchmarks.md, round 10). Its width 64,
    # latent 8 or 32, β 0.5, a Gaussian likelihood or the decoder's EMA did not do better from
    # N(0, I). With the fitted mixture the KL no longer has to shape the codes for sampling, so a
    # lighter KL pays (round 11): β 0.25 gave FD 1.44 ± 0.22 over three seeds against 2.51 ± 0.14
    # at β 1 (β 0.5: 1.59, β 0.1: 1.17, one seed each). Its training loss is then the β-weighted
    # bound; the elbo and nll that eval reports stay the true ones (β = 1 in the estimate).
    # 2-D: the plain VAE covers every mode of grid25 once trained long enough (live mode count 25
    # from ~12,000 steps; 24,000 steps: 25 modes, 68% HQ, reverse KL 0.06; 2,000: 18 modes, 2%),
    # 24,000 steps at 2.3 ms, about a minute.
    has_likelihood = True
    presets = {"vector": {"steps": 24000}, "mnist5k": {"latent_dim": 16, "steps": 20000, "prior": "gmm", "beta": 0.25},
               "shapes": {"steps": 12000}}

    code_factor = 2  # μ and log σ²
    GMM_FIT_ITEMS = 20_000  # the gmm prior is fitted on at most this many training items

    def __init__(self, cfg, info: DataInfo):
        super().__init__(cfg, info)
        if cfg.prior == "gmm":  # ex-post density estimation: filled by after_training
            k, d = cfg.prior_k, self.latent_dim
            self.register_buffer("prior_fitted", torch.zeros(()))
            self.register_buffer("prior_weights", torch.full((k,), 1.0 / k))
            self.register_buffer("prior_means", torch.zeros(k, d))
            self.register_buffer("prior_scale_tril", torch.eye(d).repeat(k, 1, 1))

    def encode(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        mu, logvar = self.encoder(self.with_label(self.to_net(x), y)).chunk(2, dim=1)  # (B, 2D) -> 2 × (B, D)
        return mu, logvar.clamp(-30.0, 20.0)  # keep exp() finite early in training

    def _code(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.encode(x, y)[0]  # reconstruct from the posterior mean

    def batch_labels(self, batch) -> Tensor | None:
        """The labels the ELBO conditions on: none for the unconditional VAE."""
        return None

    def loss(self, phase: str, batch) -> tuple[Tensor, dict[str, Tensor]]:
        """The ELBO (recon + β·KL), or with ``k > 1`` the IWAE bound; a conditional family gives
        the label on both sides."""
        x, y = batch["x"], self.batch_labels(batch)
        if self.cfg.k > 1:
            lw = self.log_weights(x, self.cfg.k, y)  # (B, k)
            bound = (torch.logsumexp(lw, dim=1) - math.log(self.cfg.k)).mean()
            return -bound, {"iwae_bound": bound.detach()}
        mu, logvar = self.encode(x, y)
        z = losses.reparameterize(mu, logvar, self.randn(len(x), self.latent_dim))
        rec = self.recon_nll(self.decode_raw(z, y), x).mean()
        kl = losses.kl_normal(mu, logvar).mean()
        return rec + self.cfg.beta * kl, {"recon": rec.detach(), "kl": kl.detach()}

    def weight_labels(self, b: int, k: int, y: Tensor | None) -> Tensor | None:
        """The label of each of the k draws per input (B*k,), or None without labels."""
        return None

    def log_weights(self, x: Tensor, k: int, y: Tensor | None = None) -> Tensor:
        """``log p(x, z_i) - log q(z_i | x)`` for k posterior samples per input: (B, ...) -> (B, k).

        Averaging their exponentials gives the importance-weighted likelihood bound; k = 1 in
        expectation is the ELBO. Uses the exact likelihood normaliser so values are in nats.
        With labels per draw (a conditional family), each draw encodes its own (x, y).
        """
        b, d = len(x), self.latent_dim
        yk = self.weight_labels(b, k, y)
        xk = x.repeat_interleave(k, dim=0)  # (B*k, ...)
        if yk is None:  # one posterior per input, k draws from it
            mu, logvar = (t.repeat_interleave(k, dim=0) for t in self.encode(x))
        else:
            mu, logvar = self.encode(xk, yk)
        eps = self.randn(b * k, d)
        z = mu + (0.5 * logvar).exp() * eps  # (B*k, D)
        log_q = log_normal_std(eps) - 0.5 * logvar.sum(1)
        log_px = -self.recon_nll(self.decode_raw(z, yk), xk) - self.recon_log_norm()
        return (log_px + log_normal_std(z) - log_q).view(b, k)

    def recon_log_norm(self) -> float:
        """The constant dropped from recon_nll: 0 for Bernoulli, D·log(σ√(2π)) for the Gaussian."""
        if self.recon_kind == "bce":
            return 0.0
        dims = math.prod(self.info.shape)
        return dims * math.log(self.cfg.obs_std * math.sqrt(2 * math.pi))

    def sample(self, n: int, *, y: Tensor | None = None) -> Tensor:
        return self._eval_call(self.decode, self.sample_codes(n), self.sample_labels(n, y))

    def sample_codes(self, n: int) -> Tensor:
        """n codes from the prior N(0, I), or from the fitted mixture with ``prior=gmm``."""
        eps = torch.randn(n, self.latent_dim, device=self.device)
        if self.cfg.prior != "gmm" or not self.prior_fitted:  # a gmm run before its last step: N(0, I)
            return eps
        comp = torch.multinomial(self.prior_weights, n, replacement=True)  # (n,)
        return self.prior_means[comp] + (self.prior_scale_tril[comp] @ eps.unsqueeze(-1)).squeeze(-1)

    def after_training(self, rows, n: int) -> None:
        """``prior=gmm``: fit a Gaussian mixture (full covariances, scikit-learn's EM, seeded) to
        the posterior means of the training set; samples then draw z from it (ex-post density
        estimation, Ghosh et al. 2020). The ELBO, IWAE bound and latent walks keep N(0, I)."""
        if self.cfg.prior != "gmm":
            return
        z = self.posterior_means(rows, n).double().cpu().numpy()
        self.set_mixture(*fit_gaussian_mixture(z, min(self.cfg.prior_k, len(z))))

    def set_mixture(self, pi, mu, cov, *, resize: bool = False) -> None:
        """Store a fitted mixture (numpy weights (k,), means (k, D), covariances (k, D, D)) as the
        prior samples draw from. Fewer than ``prior_k`` components: the rest get weight 0; with
        ``resize`` the buffers take the mixture's own size instead (a refit with another k)."""
        k = len(pi)
        if resize:
            d, dev = self.latent_dim, self.prior_means.device
            self.prior_weights = torch.zeros(k, device=dev)
            self.prior_means, self.prior_scale_tril = torch.zeros(k, d, device=dev), torch.zeros(k, d, d, device=dev)
        fitted = torch.zeros_like(self.prior_weights)
        fitted[:k] = torch.from_numpy(pi)
        self.prior_weights.copy_(fitted)
        self.prior_means[:k].copy_(torch.from_numpy(mu))
        self.prior_scale_tril[:k].copy_(torch.linalg.cholesky(torch.from_numpy(cov)))
        self.prior_fitted.fill_(1.0)

    def posterior_means(self, rows, n: int, chunk: int = 500) -> Tensor:
        """μ(x) of (a seeded subset of at most GMM_FIT_ITEMS) training items, (N, D), in eval mode."""
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(0))[: self.GMM_FIT_ITEMS].sort().values
        return self._eval_call(lambda: torch.cat([self.encode(rows(part))[0] for part in idx.split(chunk)]))

    def sample_labels(self, n: int, y: Tensor | None) -> Tensor | None:
        return None

    def latent(self) -> Latent | None:
        return Latent(self.latent_dim, self.decode)  # the prior N(0, I)
