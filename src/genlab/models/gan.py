"""GAN (Goodfellow et al. 2014), LSGAN (Mao et al. 2017) and WGAN-GP (Gulrajani et al. 2017).

One generator/critic pair, two phases: ``d`` trains the discriminator (critic) on real vs.
generated data, ``g`` trains the generator through the frozen critic. The variants differ only
in the adversarial game they play (``loss``, from :data:`genlab.games.GAMES`: its losses,
penalty, critic norm and optimizer defaults); ``lsgan`` and ``wgan-gp`` are GANs whose game
defaults to theirs, with the 2-D recipes tuned for them.
With ``pack`` m > 1 (PacGAN, Lin et al. 2018) the critic judges m samples at once, which
penalises a generator whose samples look alike (mode collapse) at the cost of m× wider inputs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab import games
from genlab.augment import parse_policy
from genlab.config import FP32, choice
from genlab.errors import BadInputError
from genlab.models.base import DataInfo, GenerativeModel, Latent, NetSizes, auto_latent
from genlab.nets import data_net
from genlab.nets.dcgan import UPSAMPLINGS

GAME_NAMES = "|".join(games.GAMES)


# the image defaults every GAN family starts from (``presets`` by dataset, under user settings)
IMAGE_RECIPE = {"width": 32, "latent_dim": 32, "ema": True, "augment": "translation,cutout"}


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


class InfoCritic(nn.Module):
    """x -> ψ(φ(x)) (B, 1), and with ``logits`` also InfoGAN's Q head (Chen et al. 2016) on the same
    features: the logits of the categorical code of each of the ``pack`` samples (B·pack, K)."""

    def __init__(self, features: nn.Module, dim: int, codes: int, pack: int = 1):
        super().__init__()
        self.features = features  # x -> (B, dim)
        self.psi = nn.Linear(dim, 1)
        self.q = nn.Linear(dim, codes * pack)
        self.codes = codes

    def forward(self, x: Tensor, *, logits: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        f = F.leaky_relu(self.features(x), 0.2)
        out = self.psi(f)
        return (out, self.q(f).reshape(-1, self.codes)) if logits else out


class GAN(GenerativeModel):
    """A generator and a critic playing ``cfg.loss`` (default: BCE, non-saturating generator loss)."""

    help = f"GAN: BCE discriminator, non-saturating generator loss; other games: --set loss={GAME_NAMES}"

    @dataclass
    class Config(NetSizes):
        width: int = 64  # conv width (images): DCGAN's
        conv_depth: int = 0  # images: size-keeping 3x3 convolutions added at every scale of G and D
        # images: G's own stage at the output resolution (a doubling to half the channels, then
        # g_out_depth - 1 size-keeping 3x3 convolutions and a 3x3 convolution to the image's
        # channels); 0 = the last doubling draws the image (DCGAN)
        g_out_depth: int = 0
        loss: str = choice("nonsaturating", games.NAMES)  # adversarial game (genlab.games.GAMES)
        lr: float = 0.0  # Adam learning rate, both nets; 0 = the game's (2e-4 as DCGAN; wgan-gp 1e-4)
        beta1: float = -1.0  # Adam β1; -1 = the game's (0.5 as DCGAN; wgan-gp 0)
        beta2: float = -1.0  # Adam β2; -1 = the game's (0.999; wgan-gp 0.9)
        d_steps: int = 0  # critic updates per generator update; 0 = the game's (1; wgan-gp 5)
        # the game's own settings (games.GAMES[loss].settings: lsgan's a, b, c; wgan-gp's gp_weight),
        # given as --set a=-1 and kept here by name
        game: dict = field(default_factory=dict)
        # BatchNorm in G (DCGAN; PacGAN's 2-D generator): several times faster to sharp modes on grid25
        g_norm: str = choice("batch", ("batch", "none"))
        # the critic's normalisation; auto = the game's where it needs one (a per-sample penalty:
        # layer for wgan-gp, none for r1), else BatchNorm (DCGAN); spectral = Miyato et al. 2018
        d_norm: str = choice("auto", ("auto", "batch", "layer", "none", "spectral"))
        # how the image generator doubles its size: stride-2 transposed 4x4 convolutions (DCGAN) or
        # nearest-neighbour upsampling then a 3x3 convolution (Odena et al. 2016: no checkerboard)
        g_up: str = choice("transposed", UPSAMPLINGS)
        lr_d: float = 0.0  # the critic's Adam learning rate (TTUR, Heusel et al. 2017); 0 = lr
        lr_decay: float = 0.0  # final fraction of training over which the lr falls linearly to 0
        pack: int = 1  # PacGAN: the critic judges packs of this many samples (1 = plain GAN)
        augment: str = ""  # DiffAugment policy for the critic's inputs: color,translation,cutout ("" = none)
        # top-k training (Sinha et al. 2020): G learns only from the fraction of its batch the critic
        # rates most real, annealed from 1 by 0.99 every 100 steps down to this floor (1 = off)
        topk: float = 1.0
        # InfoGAN (Chen et al. 2016): a categorical code of this many values fed to G one-hot beside
        # the noise, and a head on the critic's features (Q) that must read it back from the sample:
        # info_weight × its cross-entropy joins both nets' losses (0 = off). The code is the argmax
        # of the noise's first info_codes entries, so it is uniform and the noise stays N(0, I).
        info_codes: int = 0
        info_weight: float = 1.0

        def __post_init__(self) -> None:
            # The saved config holds the game's registry name and the optimizer it trained with.
            game = games.game(self.loss)
            self.loss = games.canonical(self.loss)
            # every setting of the game by name, a setting added since a run was saved at its default
            settings = games.settings_of(self.loss, self.game)
            if settings is not None:
                self.game = {**self.game, **asdict(settings)}
            self.lr = self.lr or game.lr
            self.beta1 = game.betas[0] if self.beta1 == -1 else self.beta1
            self.beta2 = game.betas[1] if self.beta2 == -1 else self.beta2
            self.d_steps = self.d_steps or game.d_steps

        def validate(self) -> None:
            parse_policy(self.augment)
            if self.pack < 1:
                raise BadInputError(f"pack must be a positive integer, got {self.pack}")
            if not 0 <= self.lr_decay <= 1:
                raise BadInputError(f"lr_decay must be in [0, 1], got {self.lr_decay}")
            if not 0 < self.topk <= 1:
                raise BadInputError(f"topk must be in (0, 1] (1 = off), got {self.topk}")
            if self.info_codes == 1 or self.info_codes < 0:
                raise BadInputError(f"info_codes must be 0 (off) or from 2 to latent_dim, got {self.info_codes}")
            if not self.info_weight >= 0:
                raise BadInputError(f"info_weight must be >= 0, got {self.info_weight}")
            if min(self.latent_dim, self.d_steps, self.conv_depth, self.g_out_depth) < 0 or \
                    min(self.width, self.hidden, self.depth) < 1:
                raise BadInputError("latent_dim, d_steps, conv_depth, g_out_depth must be >= 0 and width, hidden, "
                                    "depth >= 1 (d_steps 0 = the game's default)")
            if self.d_norm == "batch" and games.game(self.loss).penalty is not None:
                raise BadInputError(f"d_norm=batch cannot be used with loss={self.loss}: its critic penalty is per "
                                    f"sample and BatchNorm mixes the samples of a batch; valid: auto, layer, none, "
                                    f"spectral")
            if self.lr < 0 or self.lr_d < 0 or not all(0 <= b < 1 for b in (self.beta1, self.beta2)):
                raise BadInputError("lr, lr_d must be >= 0 and beta1, beta2 in [0, 1) "
                                    "(lr 0 or beta -1 = the game's default)")

        def validate_batch(self, local_batch: int) -> None:
            """Each process's batch must split into whole packs."""
            if local_batch % self.pack:
                raise BadInputError(f"batch size per device ({local_batch}) must be divisible by pack={self.pack}")

    phases = ("d", "g")
    parts = {"d": ("D",), "g": ("G",)}
    ema_part = "G"
    critic_norm = "batch"  # DCGAN discriminator, unless the game needs another
    # 2-D recipe, tuned on grid25 (docs/benchmarks.md, tuning runs): a batch of 64 holds 2-3 points
    # per mode, 256 lets D see every mode; 128-wide nets run twice the updates of 256-wide ones in
    # the same time and end sharper; the lr falling to 0 over the second half settles the
    # oscillation. Steps from the step time measured alone (4.5 ms): the modes found stop rising
    # after ~5,000 steps while HQ keeps rising slowly (6,000: 43%; 12,000: 67%; 24,000: 77%, with
    # 21-23 modes each), so 12,000 steps, about a minute, where the curve has nearly flattened.
    # Image recipes (mnist5k, shapes), from the study in docs/benchmarks.md ("The image recipe
    # study"): 32-wide DCGAN nets with one size-keeping 3x3 convolution per scale (conv_depth 1:
    # FD 0.59 / 0.73 over two seeds at 6,000 steps against 2.96 for 48-wide nets and 3.7 without),
    # a 32-d noise, Adam 4e-4, DiffAugment translation+cutout and the warmed-up EMA of G (what
    # sample/eval read). Steps: up to ten minutes of 2 CPU cores, from step times measured alone
    # (70 ms on mnist5k). On shapes the plain critic collapsed to 2-3 of the 4 classes; PacGAN
    # packs of 2 and an upsampling generator kept all four (the best of the shapes rows, still
    # far from the data). Its curve flattens by 3,000 steps (FD 7.2 there, 9.5 at 7,500; lsgan
    # 8.9 at 3,000 and 3,500), so shapes trains 3,000 steps: 110 ms each alone, 5.5 minutes.
    # Round 13: InfoGAN's 10-valued code (info_codes) took the mnist5k samples' confidence from
    # 0.870 to 0.935 and the classifier score from 6.8 to 8.2 at the same FD (0.51, three seeds),
    # for ~6% more time a step; on shapes (one seed) it made FD worse, so shapes keeps none.
    # Round 15: batch 32 at equal time (10,000 steps of 49-56 ms alone, the whole command 490 s)
    # raised confidence to 0.956 and the classifier score to 8.6, but FD rose to 0.75 (3.3x the
    # floor, three seeds, against 0.45) and KID with it, so the recipe keeps batch 64.
    # Round 16: batch 48 at 9,600 steps (61 against 79 ms a step alone) met both targets in the
    # study (FD 0.61, confidence 0.958, three seeds), but its whole command alone took 643 s
    # (606 s at 8,400 steps): over the budget, so the recipe kept batch 64.
    # Round 20: the DCGAN nets in channels-last memory layout step 1.13-1.41x faster on this CPU (the
    # same maths, other kernels; 1.41x for this one), and the whole batch-48 command at 9,600 steps
    # took 559 s alone (FD 0.55, 2.4x the floor, confidence 0.956, three seeds): the recipe since.
    presets = {"vector": {"batch_size": 256, "hidden": 128, "steps": 12000, "lr_decay": 0.5},
               "mnist5k": IMAGE_RECIPE | {"conv_depth": 1, "lr": 4e-4, "info_codes": 10, "batch_size": 48,
                                          "steps": 9600, "channels_last": True},
               "shapes": IMAGE_RECIPE | {"pack": 2, "g_up": "upsample", "lr": 4e-4, "steps": 3000,
                                         "augment": "color,translation,cutout"}}

    def __init__(self, cfg, info: DataInfo):
        super().__init__(cfg, info)
        self.latent_dim = auto_latent(cfg.latent_dim, info)
        if cfg.info_codes > self.latent_dim:  # the code is read from the noise's first entries
            raise BadInputError(f"info_codes must be 0 (off) or from 2 to latent_dim ({self.latent_dim}), "
                                f"got {cfg.info_codes}")
        self.critic_pack = cfg.pack
        self.G = self.build_generator(cfg, info)
        self.D = self.build_critic(cfg, info)

    def build_generator(self, cfg, info: DataInfo) -> nn.Module:
        """Noise (B, latent_dim), and InfoGAN's one-hot code when asked -> data; a conditional family
        also feeds the label."""
        return data_net(info.shape, self.latent_dim + cfg.info_codes, cfg, to_data=True, norm=cfg.g_norm,
                        mlp_norm=cfg.g_norm, up=cfg.g_up, extra=cfg.conv_depth, out_depth=cfg.g_out_depth)

    def build_critic(self, cfg, info: DataInfo) -> nn.Module:
        """Data -> one raw output per pack of ``pack`` samples; a conditional family also reads the label."""
        packed = (info.shape[0] * cfg.pack, *info.shape[1:])  # m× the channels or inputs
        if cfg.info_codes:
            dim = 4 * cfg.width if info.is_image else cfg.hidden  # the critic's feature size
            return InfoCritic(data_net(packed, dim, cfg, norm=self.d_norm(), act="lrelu", extra=cfg.conv_depth),
                              dim, cfg.info_codes, cfg.pack)
        return data_net(packed, 1, cfg, norm=self.d_norm(), act="lrelu", extra=cfg.conv_depth)

    def code(self, z: Tensor) -> Tensor:
        """InfoGAN's categorical code of noise z: the argmax of its first ``info_codes`` entries."""
        return z[:, :self.cfg.info_codes].argmax(1)

    @property
    def game(self) -> games.Game:
        """The game of ``cfg.loss`` with its settings from ``cfg.game`` (read at each use: cfg is the source)."""
        return games.game(self.cfg.loss, self.cfg.game)

    @property
    def double_backward(self) -> bool:
        return self.game.penalty is not None

    def d_norm(self) -> str:
        """The critic's norm: the one asked for, else the game's where it needs one (a per-sample
        penalty), else the family's."""
        if self.cfg.d_norm != "auto":
            return self.cfg.d_norm
        return self.game.critic_norm or self.critic_norm

    def configure_optimizers(self, lr: float = 0.0) -> dict:
        """The base's Adam per phase; the critic's at ``lr_d`` when set (two time-scales)."""
        opts = super().configure_optimizers(lr)
        if self.cfg.lr_d:
            for group in opts["d"].param_groups:
                group["lr"] = self.cfg.lr_d
        return opts

    def repeats(self) -> dict[str, int]:
        return {"d": self.cfg.d_steps, "g": 1}

    def lr_factor(self, step: int, total: int) -> float:
        """Linear decay to 0 over the last ``lr_decay`` of training: the game's oscillation
        shrinks with the step size, so clusters tighten instead of jittering around modes."""
        start = total * (1 - self.cfg.lr_decay)
        return 1.0 if step < start or self.cfg.lr_decay == 0 else (total - step) / (total - start)

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        return self.game.d_loss(real_out, fake_out)

    def g_loss(self, fake_out: Tensor) -> Tensor:
        """The game's generator loss on the critic's outputs for the fakes; under top-k training on
        the ``topk_count`` outputs the critic rates highest only (the others give G no gradient)."""
        k = self.topk_count(len(fake_out))
        return self.game.g_loss(fake_out if k == len(fake_out) else fake_out.flatten().topk(k).values[:, None])

    def topk_count(self, n: int) -> int:
        """How many of ``n`` critic outputs G learns from at this step: n·max(topk, 0.99^(step/100))."""
        if self.cfg.topk >= 1:
            return n
        return max(1, min(n, round(n * max(self.cfg.topk, 0.99 ** (self.train_step / 100)))))

    # -- contract -------------------------------------------------------------------------

    def generate(self, n: int) -> Tensor:
        return self.generate_from(self.randn(n, self.latent_dim))

    def generate_from(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Samples (data units) from given noise z (N, latent_dim): what latent-space DOT moves."""
        if self.cfg.info_codes:
            z = torch.cat([z, F.one_hot(self.code(z), self.cfg.info_codes).to(z.dtype)], 1)
        return self.output(self.G(z))

    def critic(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """D on data-space samples: raw outputs (B / pack, 1), one per pack of consecutive samples."""
        return self.D(pack_samples(self.to_net(x), self.critic_pack))

    def critic_loss(self, real: Tensor, fake: Tensor, code: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """The game's critic loss; with InfoGAN's ``code`` of each fake, plus info_weight × the
        cross-entropy of the Q head's reading of it (Q learns on fakes, whose code is known)."""
        # the penalty is on the critic's own input: network units, packed (x̂ interpolates whole packs)
        real, fake = (pack_samples(self.augmented(self.to_net(t)), self.critic_pack) for t in (real, fake))
        info = {}

        def critic(t: Tensor) -> Tensor:
            if code is None or t is not fake:
                return self.D(t)
            out, info["logits"] = self.D(t, logits=True)  # the fakes' code logits, from the same pass
            return out

        loss, logs = games.critic_loss(self.game, critic, real, fake, self.rand, details=self.log_details,
                                       step=self.train_step)
        if info:
            logs["info_d"] = F.cross_entropy(info["logits"], code)
            loss = loss + self.cfg.info_weight * logs["info_d"]
            logs["loss_d"] = loss
        return loss, {k: v.detach() for k, v in logs.items()}

    def loss(self, phase: str, batch) -> tuple[Tensor, dict[str, Tensor]]:
        real = batch["x"]
        z = self.randn(len(real), self.latent_dim)
        if phase == "d":
            return self.critic_loss(real, self.generate_from(z).detach(), self.code(z) if self.cfg.info_codes else None)
        fake = pack_samples(self.augmented(self.to_net(self.generate_from(z))), self.critic_pack)
        if not self.cfg.info_codes:
            loss = self.g_loss(self.D(fake))
            return loss, {"loss_g": loss.detach()}
        out, logits = self.D(fake, logits=True)
        info = F.cross_entropy(logits, self.code(z))  # can Q read G's code back from its samples?
        loss = self.g_loss(out) + self.cfg.info_weight * info
        return loss, {"loss_g": loss.detach(), "info_g": info.detach()}

    def sample(self, n: int, *, y: Tensor | None = None) -> Tensor:
        return self._eval_call(self.generate, n)

    def latent(self) -> Latent | None:
        return Latent(self.latent_dim, self.generate_from)  # G's noise (InfoGAN's code is read from it)


class LSGAN(GAN):
    """Least-squares GAN on raw critic outputs with a/b/c target coding (default 0, 1, 1)."""

    help = "least-squares GAN on raw critic outputs; targets a (fake), b (real), c (G's goal)"

    @dataclass
    class Config(GAN.Config):
        loss: str = choice("lsgan", games.NAMES)  # adversarial game (default: least squares)

    # images: the least-squares game at the GAN's lr 4e-4 was not run; at 2e-4 with an upsampling
    # G and conv_depth 1 it reached FD 1.78 in 3,000 steps (99 ms each on mnist5k). On shapes the
    # GAN's recipe: FD 8.9 at its 3,000 steps, all four shapes (rarest 13%; one seed).
    # Round 21: in channels-last layout the step is 1.38x faster, and 6,500 steps took FD from 1.10 /
    # 0.94 (5,000 steps, seeds 0-1) to 0.85 / 0.79 (docs/benchmarks.md).
    # Round 30: in bf16-mixed the step is 1.28x faster again (74.5 -> 58.3 ms alone), and 8,000 steps
    # score FD 0.68 ± 0.04 (3.0x the floor; seeds 0-2: 0.70 / 0.73 / 0.60, against the fp32 recipe's
    # 0.85 / 0.79 / 0.91); the whole command alone: 547 s. Where bf16 does not run, the fp32
    # recipe's 6,500 steps.
    # 2-D: the GAN's recipe with the steps of its 6.3 ms step in about a minute
    presets = {**GAN.presets, "vector": GAN.presets["vector"] | {"steps": 9000},
               "mnist5k": IMAGE_RECIPE | {"conv_depth": 1, "g_up": "upsample", "steps": 8000, "channels_last": True,
                                          "precision": "bf16-mixed", FP32: {"steps": 6500}}}


class WGANGP(GAN):
    """Wasserstein critic with a gradient penalty on interpolates; 5 critic steps per G step."""

    help = "WGAN-GP: Wasserstein critic (no BatchNorm), gradient penalty λ=10 on interpolates, 5 critic steps"

    @dataclass
    class Config(GAN.Config):
        loss: str = choice("wgan-gp", games.NAMES)  # adversarial game (default: Wasserstein + penalty)

    # On 2-D data, the settings of the authors' released toy experiments (gan_toy.py): λ = 0.1
    # ("smaller lambda seems to help for toy tasks specifically"), Adam β1 = 0.5, batch 256.
    # Measured here on grid25 at 3,000 steps: all 25 modes with these, 17 with the image defaults.
    # Five critic updates per step (29 ms alone): 1,400 steps, about 45 s; at 4,000 steps the plain
    # samples were no better (20 modes, 6.6% HQ) and DOT's already at 98-100% HQ, so it stays.
    # Its mass per mode is the most even of the families, which critic-guided sampling keeps.
    presets = {"vector": {"batch_size": 256, "gp_weight": 0.1, "beta1": 0.5, "hidden": 128, "steps": 1400,
                          "lr_decay": 0.5},
               # images: one critic step per G step at DCGAN's Adam (2e-4, β1 0.5) and an upsampling G
               # reached FD 10.4 in 3,000 steps where five (or two) critic steps at the 2-D settings
               # stayed above 30 (docs/benchmarks.md); 106 ms a step on shapes. On mnist5k one extra
               # 3x3 conv per scale (conv_depth 1, as the gan recipe) took FD from 4.77 ± 0.22 (7,000
               # steps at 75 ms) to 4.07 ± 0.06 at 3,600 steps (161 ms a step alone: ten minutes) and
               # 3.90 ± 0.25 at 4,500 (3 seeds each; Adam 4e-4 was worse), docs/benchmarks.md round 11.
               # Round 13: InfoGAN's 10-valued code (info_codes) took FD at 3,600 steps from 4.07 to 2.54
               # (seeds 1-3: 1.81 / 2.24 / 3.56) with every class >= 6.8%. Round 14, at 3,400 steps: FD
               # 2.72 ± 0.44 (seeds 0-2), every class >= 5.7%; the whole command alone 539 s (157 ms a step)
               # Round 16: without DiffAugment, FD 1.28 ± 0.15 at the same 3,400 steps (seeds 0-2: 1.22 /
               # 1.06 / 1.57, 5.7x the floor), better on every seed; the step is no slower (169 ms alone).
               # Round 20: in channels-last layout the step is 1.15-1.3x faster, so the budget holds
               # 4,500 steps (the whole command alone: 558 s); FD 0.83 ± 0.09 (3.7x the floor, three seeds).
               # Round 30: in bf16-mixed the step is 1.63x faster in a short run (123.6 -> 75.7 ms alone;
               # the penalty's double backward stays within 3% of fp32's) but 1.28x in a whole one (97 ms),
               # so the budget holds 5,700 steps: FD 0.66 ± 0.08 (2.9x the floor; seeds 0-2: 0.62 / 0.54 /
               # 0.80, against the fp32 recipe's 0.89 / 0.58 / 1.21; 0.51 at 7,000 steps, over budget).
               # Where bf16 does not run, the fp32 recipe's 4,500 steps.
               "mnist5k": IMAGE_RECIPE | {"d_steps": 1, "lr": 2e-4, "beta1": 0.5, "g_up": "upsample", "conv_depth": 1,
                                          "steps": 5700, "info_codes": 10, "augment": "", "channels_last": True,
                                          "precision": "bf16-mixed", FP32: {"steps": 4500}},
               "shapes": IMAGE_RECIPE | {"d_steps": 1, "lr": 2e-4, "beta1": 0.5, "g_up": "upsample", "steps": 5000}}
