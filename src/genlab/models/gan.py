"""GAN (Goodfellow et al. 2014), LSGAN (Mao et al. 2017) and WGAN-GP (Gulrajani et al. 2017).

One generator/critic pair, two phases: ``d`` trains the discriminator (critic) on real vs.
generated data, ``g`` trains the generator through the frozen critic. The variants differ only
in their loss functions (and WGAN-GP in its penalty and schedule), each a small subclass.
With ``pack`` m > 1 (PacGAN, Lin et al. 2018) the critic judges m samples at once, which
penalises a generator whose samples look alike (mode collapse) at the cost of m× wider inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from genlab import losses
from genlab.config import choice
from genlab.errors import BadInputError
from genlab.models.base import DataInfo, GenerativeModel, auto_latent
from genlab.nets import MLP, ConvDecoder, ConvEncoder


def make_generator(info: DataInfo, latent: int, cfg) -> nn.Module:
    if info.is_image:
        c, h, _ = info.shape
        return ConvDecoder(latent, c, h, width=cfg.width, norm=cfg.g_norm)
    return MLP(latent, info.shape[0], hidden=cfg.hidden, depth=cfg.depth, act="relu", norm=cfg.g_norm)


def make_critic(info: DataInfo, cfg, *, norm: str, pack: int = 1) -> nn.Module:
    """The critic; with ``pack`` m it reads m samples at once (m× the channels or inputs)."""
    if info.is_image:
        c, h, _ = info.shape
        return ConvEncoder(c * pack, h, 1, width=cfg.width, norm=norm)
    return MLP(info.shape[0] * pack, 1, hidden=cfg.hidden, depth=cfg.depth, act="lrelu")


def pack_samples(x: Tensor, m: int) -> Tensor:
    """PacGAN packing (Lin et al. 2018): m consecutive samples -> one critic input.
    (B·m, D) -> (B, m·D); images (B·m, C, H, W) -> (B, m·C, H, W), concatenated along channels."""
    if m == 1:
        return x
    if len(x) % m:
        raise BadInputError(f"{len(x)} samples do not split into packs of {m}; use a batch size divisible by pack")
    return x.reshape(len(x) // m, m * x.shape[1], *x.shape[2:])


def unpack_samples(x: Tensor, m: int) -> Tensor:
    """The inverse of :func:`pack_samples`: (B, m·D) -> (B·m, D)."""
    return x if m == 1 else x.reshape(len(x) * m, x.shape[1] // m, *x.shape[2:])


class GAN(GenerativeModel):
    """BCE discriminator; generator loss ``nonsaturating`` (-log D(G(z))) or ``minimax`` (log(1-D(G(z))))."""

    help = "GAN with BCE discriminator; generator loss nonsaturating (default) or minimax (--set loss=minimax)"

    @dataclass
    class Config:
        latent_dim: int = 0  # noise size; 0 = 128 for images, 8 for vectors
        width: int = 64  # conv width (images)
        hidden: int = 256  # MLP width (vectors)
        depth: int = 3  # MLP hidden layers (vectors)
        loss: str = choice("nonsaturating", ("nonsaturating", "minimax"))  # generator loss
        lr: float = 2e-4  # Adam learning rate, both nets (DCGAN)
        beta1: float = 0.5  # Adam β1 = 0.5 (DCGAN): momentum 0.9 makes the game oscillate
        beta2: float = 0.999  # Adam β2
        d_steps: int = 1  # critic updates per generator update
        # BatchNorm in G (DCGAN; PacGAN's 2-D generator): several times faster to sharp modes on grid25
        g_norm: str = choice("batch", ("batch", "none"))
        lr_decay: float = 0.0  # final fraction of training over which the lr falls linearly to 0
        pack: int = 1  # PacGAN: the critic judges packs of this many samples (1 = plain GAN)

        def validate(self) -> None:
            if self.pack < 1:
                raise BadInputError(f"pack must be a positive integer, got {self.pack}")
            if not 0 <= self.lr_decay <= 1:
                raise BadInputError(f"lr_decay must be in [0, 1], got {self.lr_decay}")
            if self.latent_dim < 0 or self.width < 1 or self.hidden < 1 or self.depth < 1 or self.d_steps < 1:
                raise BadInputError("latent_dim must be >= 0 and width, hidden, depth, d_steps >= 1")
            if self.lr <= 0 or not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
                raise BadInputError("lr must be > 0 and beta1, beta2 in [0, 1)")

        def validate_batch(self, local_batch: int) -> None:
            """Each process's batch must split into whole packs."""
            if local_batch % self.pack:
                raise BadInputError(f"batch size per device ({local_batch}) must be divisible by pack={self.pack}")

    phases = ("d", "g")
    parts = {"d": ("D",), "g": ("G",)}
    ema_part = "G"
    critic_norm = "batch"  # DCGAN discriminator
    # 2-D recipe, tuned on grid25 for about two CPU-minutes (docs/benchmarks.md, tuning runs):
    # a batch of 64 holds 2-3 points per mode, 256 lets D see every mode; 128-wide nets run twice
    # the updates of 256-wide ones in the same time and end sharper (6,000 steps: 43% HQ vs 27%
    # at 3,000 with 256); the lr falling to 0 over the second half settles the oscillation.
    presets = {"vector": {"batch_size": 256, "hidden": 128, "steps": 6000, "lr_decay": 0.5}}

    def __init__(self, cfg, info: DataInfo):
        super().__init__(cfg, info)
        self.latent_dim = auto_latent(cfg.latent_dim, info)
        self.G = make_generator(info, self.latent_dim, cfg)
        self.critic_pack = cfg.pack
        self.D = make_critic(info, cfg, norm=self.critic_norm, pack=cfg.pack)

    def repeats(self) -> dict[str, int]:
        return {"d": self.cfg.d_steps, "g": 1}

    def lr_factor(self, step: int, total: int) -> float:
        """Linear decay to 0 over the last ``lr_decay`` of training: the game's oscillation
        shrinks with the step size, so clusters tighten instead of jittering around modes."""
        start = total * (1 - self.cfg.lr_decay)
        return 1.0 if step < start or self.cfg.lr_decay == 0 else (total - step) / (total - start)

    # -- the two pieces a variant overrides -----------------------------------------------

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        return losses.bce_d_loss(real_out, fake_out)

    def g_loss(self, fake_out: Tensor) -> Tensor:
        return losses.ADVERSARIAL[self.cfg.loss][1](fake_out)

    # -- contract -------------------------------------------------------------------------

    def generate(self, n: int) -> Tensor:
        return self.output(self.G(self.randn(n, self.latent_dim)))

    def critic(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """D on data-space samples: raw outputs (B / pack, 1), one per pack of consecutive samples."""
        return self.D(pack_samples(self.to_net(x), self.critic_pack))

    def critic_loss(self, real: Tensor, fake: Tensor) -> tuple[Tensor, dict[str, float]]:
        real_out, fake_out = self.critic(real), self.critic(fake)
        loss = self.d_loss(real_out, fake_out)
        return loss, {"loss_d": loss.item(), **self.health(real_out, fake_out)}

    def health(self, real_out: Tensor, fake_out: Tensor) -> dict[str, float]:
        """D accuracy on real and fake (logit > 0 means 'real'); a D at 100% starves G."""
        return {"d_acc_real": (real_out > 0).float().mean().item(),
                "d_acc_fake": (fake_out <= 0).float().mean().item()}

    def loss(self, phase: str, batch) -> tuple[Tensor, dict[str, float]]:
        real = batch["x"]
        if phase == "d":
            return self.critic_loss(real, self.generate(len(real)).detach())
        loss = self.g_loss(self.critic(self.generate(len(real))))
        return loss, {"loss_g": loss.item()}

    def sample(self, n: int, *, y: Tensor | None = None) -> Tensor:
        return self._eval_call(self.generate, n)


class LSGAN(GAN):
    """Least-squares GAN on raw critic outputs with a/b/c target coding (default 0, 1, 1)."""

    help = "least-squares GAN on raw critic outputs; targets a (fake), b (real), c (G's goal)"

    @dataclass
    class Config(GAN.Config):
        loss: str = choice("lsgan", ("lsgan",))  # fixed: least squares
        a: float = 0.0  # D's target for fakes
        b: float = 1.0  # D's target for reals
        c: float = 1.0  # the value G wants D to output for fakes

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        return losses.lsgan_d_loss(real_out, fake_out, a=self.cfg.a, b=self.cfg.b)

    def g_loss(self, fake_out: Tensor) -> Tensor:
        return losses.lsgan_g_loss(fake_out, c=self.cfg.c)

    def health(self, real_out: Tensor, fake_out: Tensor) -> dict[str, float]:
        mid = (self.cfg.a + self.cfg.b) / 2  # closer to b means 'real'
        return {"d_acc_real": (real_out > mid).float().mean().item(),
                "d_acc_fake": (fake_out <= mid).float().mean().item()}


class WGANGP(GAN):
    """Wasserstein critic with a gradient penalty on interpolates; 5 critic steps per G step."""

    help = "WGAN-GP: Wasserstein critic (no BatchNorm), gradient penalty λ=10 on interpolates, 5 critic steps"

    @dataclass
    class Config(GAN.Config):
        loss: str = choice("wgan", ("wgan",))  # fixed: Wasserstein
        lr: float = 1e-4  # Adam(1e-4, β=(0, 0.9)) as in Gulrajani et al. 2017, Alg. 1
        beta1: float = 0.0  # no momentum: the critic's target moves every step
        beta2: float = 0.9
        d_steps: int = 5  # n_critic
        gp_weight: float = 10.0  # λ

    # The penalty is per-sample, so the critic must not mix samples: no BatchNorm.
    critic_norm = "layer"
    # On 2-D data, the settings of the authors' released toy experiments (gan_toy.py): λ = 0.1
    # ("smaller lambda seems to help for toy tasks specifically"), Adam β1 = 0.5, batch 256.
    # Measured here on grid25 at 3,000 steps: all 25 modes with these, 17 with the image defaults.
    # Five critic updates per step: 1,400 steps of the 128-wide nets fit about two CPU-minutes;
    # its mass per mode is the most even of the families, which critic-guided sampling keeps.
    presets = {"vector": {"batch_size": 256, "gp_weight": 0.1, "beta1": 0.5, "hidden": 128, "steps": 1400,
                          "lr_decay": 0.5}}

    def g_loss(self, fake_out: Tensor) -> Tensor:
        return losses.wgan_g_loss(fake_out)

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        return losses.wgan_d_loss(real_out, fake_out)

    def critic_loss(self, real: Tensor, fake: Tensor) -> tuple[Tensor, dict[str, float]]:
        # the penalty is on the critic's own input: network units, packed (x̂ interpolates whole packs)
        real = pack_samples(self.to_net(real), self.critic_pack)
        fake = pack_samples(self.to_net(fake), self.critic_pack)
        real_out, fake_out = self.D(real), self.D(fake)
        w = self.d_loss(real_out, fake_out)
        eps = self.rand(len(real), *([1] * (real.dim() - 1)))  # one ε per critic input
        gp = losses.gradient_penalty(self.D, real, fake, eps, weight=self.cfg.gp_weight)
        loss = w + gp
        return loss, {"loss_d": loss.item(), "wasserstein": -w.item(), "gp": gp.item(),
                      **self.health(real_out, fake_out)}

    def health(self, real_out: Tensor, fake_out: Tensor) -> dict[str, float]:
        thr = 0.5 * (real_out.mean() + fake_out.mean())  # a critic has no fixed threshold
        return {"d_acc_real": (real_out > thr).float().mean().item(),
                "d_acc_fake": (fake_out <= thr).float().mean().item()}


