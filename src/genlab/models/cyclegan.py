"""CycleGAN (Zhu et al. 2017): unpaired image-to-image translation between domains A and B.

Two generators, ``G_AB: A -> B`` and ``G_BA: B -> A`` (ResNet, fully convolutional), and two
PatchGAN critics, ``D_A`` (real A vs. translated B) and ``D_B``. Two phases through the one
trainer loop: ``g`` trains both generators on

    adversarial(D_B(G_AB(a))) + adversarial(D_A(G_BA(b)))
    + λ (‖G_BA(G_AB(a)) - a‖₁ + ‖G_AB(G_BA(b)) - b‖₁)             cycle consistency
    + λ_id λ (‖G_BA(a) - a‖₁ + ‖G_AB(b) - b‖₁)                      identity (keeps colours)

and ``d`` trains both critics on real images vs. a history of translated ones (ImagePool).
Paper defaults: least-squares GAN loss, λ = 10, λ_id = 0.5, a pool of 50, Adam(2e-4, β1 = 0.5),
constant learning rate for the first half, then a linear decay to zero. ``--set loss=NAME``
plays any game of :data:`genlab.games.GAMES` instead (with its penalty; the optimizer stays the
paper's).

A translation model draws nothing from noise, so ``sample(n)`` translates training images of
domain A kept in the run (``examples``) into domain B; ``translate(x, direction)`` maps any
batch of images.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab import games
from genlab.augment import parse_policy
from genlab.config import FP32, choice
from genlab.errors import BadInputError, unknown
from genlab.models.base import DataInfo, GenerativeModel
from genlab.nets import PatchDiscriminator, PixelDiscriminator, ResnetGenerator
from genlab.nets.dcgan import UPSAMPLINGS
from genlab.nets.patchgan import auto_layers
from genlab.nets.resnet import NORMS, SKIP_INITS

DIRECTIONS = ("a2b", "b2a")


class ImagePool(nn.Module):
    """A history of generated images for the critic (Shrivastava et al. 2017; CycleGAN §4).

    Until the pool is full, every new image is stored and passed through. Afterwards each new
    image is, with probability ½, swapped for a random stored one (the old image goes to the
    critic, the new one is kept), else passed through: the critic sees a 50/50 mix of current and
    past generator outputs, which damps the oscillation of the two-player game. The pool lives in
    buffers, so it is saved with the run and a resumed run continues with the same history
    (under data parallelism each process keeps the history of its own slice of the batch).
    """

    def __init__(self, size: int, shape: tuple[int, ...]):
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def query(self, x: Tensor, u: Tensor, j: Tensor) -> Tensor:
        """The batch the critic sees instead of ``x``. ``u`` and ``j`` are (B,) uniforms in
        [0, 1): ``u < ½`` swaps image i for stored slot ``⌊j·size⌋``. Passing the draws in keeps
        the randomness in the model's seeded noise helpers.

        Computed on the device, with no host read: while the pool fills, image i goes to slot
        ``count + i``; a swap reads the pool as the fills left it, and the last image written to
        a slot stays there (two swaps of one slot in a batch both read the slot's old image)."""
        if self.size == 0:
            return x
        if self.images.device != x.device:  # the trainer moves only the model's own buffers
            self.to(x.device)
        idx = torch.arange(len(x), device=x.device)
        slot = self.count + idx  # (B,) where each image goes while the pool fills
        filling = slot < self.size
        k = (j * self.size).long().clamp(0, self.size - 1)  # (B,) the slot a swap takes
        swap = ~filling & (u < 0.5)
        fills = self._last_writer(slot.clamp(0, self.size - 1), filling)  # (size,) index into x or -1
        after_fills = self._written(fills, x, self.images)
        view = (-1,) + (1,) * (x.dim() - 1)
        out = torch.where(swap.view(view), after_fills[k], x.detach())
        writers = self._last_writer(torch.where(filling, slot.clamp(0, self.size - 1), k), filling | swap)
        self.images.copy_(self._written(writers, x, self.images))
        self.count.copy_((self.count + len(x)).clamp(max=self.size))
        return out

    def _last_writer(self, target: Tensor, writes: Tensor) -> Tensor:
        """(size,) the largest batch index writing each slot (-1: none), without a host read."""
        idx = torch.arange(len(target), device=target.device)
        none = torch.full((self.size,), -1, dtype=torch.long, device=target.device)
        return none.scatter_reduce(0, target, torch.where(writes, idx, -1), reduce="amax")

    @staticmethod
    def _written(writer: Tensor, x: Tensor, pool: Tensor) -> Tensor:
        view = (-1,) + (1,) * (x.dim() - 1)
        return torch.where((writer >= 0).view(view), x.detach()[writer.clamp(min=0)], pool)


class CycleGAN(GenerativeModel):
    """Unpaired translation: two ResNet generators, two PatchGAN critics, cycle + identity losses."""

    help = "CycleGAN: unpaired A<->B translation (ResNet generators, PatchGAN critics, LSGAN, cycle λ=10)"

    @dataclass
    class Config:
        width: int = 32  # base width of generators and critics (paper: 64; 32 keeps CPU runs practical)
        blocks: int = 6  # residual blocks per generator (paper: 6 at 128 px, 9 at 256 px)
        # how each generator doubles its resolution: the paper's stride-2 transposed convolutions,
        # or nearest-neighbour upsampling then a 3x3 convolution (no checkerboard, Odena et al. 2016)
        g_up: str = choice("transposed", UPSAMPLINGS)
        d_layers: int = 0  # stride-2 layers per PatchGAN critic; 3 = 70x70 patches; 0 = by image size
        # normalisation in the generators and in the critics (the reference implementation's
        # --norm): per-image instance norm (the paper's), batch norm, or none
        g_norm: str = choice("instance", NORMS)
        d_norm: str = choice("instance", NORMS)
        # a 1x1 convolution from each generator's input to its output, beside the ResNet: a
        # per-pixel linear colour path that instance norm cannot remove
        g_skip: bool = False
        # how that path starts: at zero (the plain ResNet) or at the identity, so each generator
        # starts as its input plus the ResNet's output and learns the residual (VDSR's global
        # residual, Kim et al. 2016): every colour level starts mapped in increasing order
        g_skip_init: str = choice("zero", SKIP_INITS)
        # weight of a second critic per domain that scores each pixel's colour alone (pix2pix's
        # 1x1 PixelGAN), beside the PatchGAN, in both the critics' and the generators' losses;
        # 0 = none (the paper)
        d_pixel: float = 0.0
        loss: str = choice("lsgan", games.NAMES)  # adversarial game (paper: least squares)
        game: dict = field(default_factory=dict)  # the game's own settings (games.GAMES[loss].settings), by name
        augment: str = ""  # DiffAugment policy for the critics' inputs: color,translation,cutout ("" = none)
        cycle_weight: float = 10.0  # λ on each direction's cycle L1
        identity_weight: float = 0.5  # identity L1 weight as a fraction of λ (paper: 0.5); 0 = off
        # training steps that carry the identity loss, from the first; 0 = every step. A short
        # identity phase picks, among maps the unpaired data cannot tell apart, the colour map
        # nearest to identity while the map forms, and stops pulling colours once it has formed
        identity_steps: int = 0
        # std of Gaussian noise added to each translation before the cycle maps it back (network
        # units, [-1, 1]): a low-amplitude signal hidden in a translation to satisfy the cycle loss
        # no longer survives (Bashkirova et al. 2019; Chu et al. 2017 on CycleGAN's steganography);
        # 0 = off, as in the paper
        cycle_noise: float = 0.0
        pool_size: int = 50  # generated images remembered per critic; 0 = critics see only fresh ones
        examples: int = 16  # training images per domain kept in the run for sample() and previews
        lr: float = 2e-4  # Adam learning rate, all four nets
        beta1: float = 0.5  # Adam β1 = 0.5, as in DCGAN and the paper
        beta2: float = 0.999  # Adam β2
        lr_decay: float = 0.5  # final fraction of the steps over which the lr falls linearly to 0 (paper: half)

        def validate(self) -> None:
            parse_policy(self.augment)
            if (self.width < 1 or self.blocks < 0 or self.d_layers < 0 or self.pool_size < 0 or self.examples < 1
                    or self.identity_steps < 0):
                raise BadInputError("width and examples must be >= 1; blocks, d_layers, pool_size and "
                                    "identity_steps >= 0")
            if not min(self.cycle_weight, self.identity_weight, self.cycle_noise, self.d_pixel) >= 0:
                raise BadInputError("cycle_weight, identity_weight, cycle_noise and d_pixel must be >= 0")
            if self.lr <= 0 or not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
                raise BadInputError("lr must be > 0 and beta1, beta2 in [0, 1)")
            if not 0 <= self.lr_decay <= 1:
                raise BadInputError(f"lr_decay must be in [0, 1], got {self.lr_decay}")
            if self.g_skip_init != "zero" and not self.g_skip:
                raise BadInputError(f"g_skip_init={self.g_skip_init} needs the path: add --set g_skip=true")

    phases = ("g", "d")
    parts = {"g": ("G_AB", "G_BA"), "d": ("D_A", "D_B")}
    ema_part = None  # the trainer averages one part; a translation model has two generators
    translates = True
    # Recipes for the embedded benchmarks, from scripts/tune_translation.py (docs/benchmarks.md):
    # small nets (32 wide, 2 residual blocks) and batch 8 run ~0.1 s a step on 2 CPU cores, and no
    # identity loss, which pulls each generator towards leaving colours alone while these
    # transforms change them (SSIM of summer->winter 0.67 without it vs 0.58 with it at 600 steps).
    # seasons: 16-px patch critics (d_layers 1) judge the winter stripes and the summer texture
    # where they are: PSNR 24.8 / 23.9 and 22.1 / 21.2 dB over two seeds against 22.8 / 20.6 for
    # 34-px patches (2,400 steps, A->B / B->A). Timed alone, the whole command runs 152 ms a step, so
    # the budget holds 3,500 steps (546 s alone): seed 0 25.3 / 24.0 dB and SSIM 0.911 / 0.834,
    # against 24.8 / 23.9 and 0.893 / 0.812 at 2,400 (docs/benchmarks.md, rounds 18-19).
    # Round 22: most of winter->summer's error was the grass level, which instance norm keeps
    # the generator from reading off the flat snow (its level uncorrelated with the truth); batch
    # norm reads it, and the identity loss on the first 600 steps picks the increasing map over
    # its mirror: background error 0.0046 -> 0.0004, and over seeds 0-1 PSNR 24.5 / 24.1 and
    # 25.2 / 24.5 dB against the former recipe's 25.3 / 24.0 and 22.6 / 20.6 (3,300 steps: the
    # identity phase costs two more generator passes a step).
    # Round 27: with batch norm and the identity phase, 34-px patch critics (d_layers 2) score
    # summer->winter 25.3-25.5 dB on every seed (16-px: 24.5-25.2; round 26), and cut to 3,100
    # steps they take 6% less time alone than the 16-px recipe's 3,300 (615 against 657 s, one
    # after the other): over seeds 0-2 25.36 / 24.34 dB, SSIM 0.929 / 0.817 (winter->summer 0.012
    # lower in SSIM than at 16 px, level in PSNR).
    # Round 28: in bf16-mixed a step takes 1.2-1.5x less time on a CPU with bf16 instructions, and at
    # 3,100 steps it scores as fp32 does (seed 0: 25.3 / 24.2 dB against 25.3 / 24.1); at 4,500
    # steps, seeds 0-2 score 25.91 / 24.75 dB, SSIM 0.942 / 0.830, but the whole command alone took
    # 623 s, so the recipe is 4,000 steps: over seeds 0-2 25.70 / 24.67 dB, SSIM 0.937 / 0.824 (the
    # whole command alone: 537 s). Where bf16 does not run (not native, configure.native_bf16, or
    # another --precision given) the run trains round 27's recipe: 3,100 steps in 32-true.
    presets = {"mnist-style": {"width": 32, "blocks": 2, "batch_size": 8, "identity_weight": 0.0, "steps": 1500},
               "seasons": {"width": 32, "blocks": 2, "batch_size": 8, "d_layers": 2, "g_norm": "batch",
                           "identity_weight": 0.5, "identity_steps": 600, "steps": 4000,
                           "precision": "bf16-mixed", FP32: {"steps": 3100}}}
    data_kinds = ("unpaired",)

    def __init__(self, cfg, info: DataInfo):
        super().__init__(cfg, info)
        if info.kind != "unpaired" or not info.is_image:
            raise BadInputError("cyclegan needs two image domains: --data unpaired:DIR_A,DIR_B, "
                                "mnist-style or seasons")
        c, h, w = info.shape
        if h % 4 or w % 4:
            raise BadInputError(f"cyclegan needs image sides divisible by 4, got {h}x{w}; "
                                f"pass --image-size {max(8, h // 4 * 4)}")
        layers = cfg.d_layers or auto_layers(min(h, w))
        if min(h, w) // 2**layers - 2 < 1:  # each critic must keep at least one patch
            raise BadInputError(f"d_layers={layers} is too deep for {h}x{w} images; " +
                                ("use images of 8 px or more" if layers == 1 else "use 0 (automatic)"))
        g = {"width": cfg.width, "blocks": cfg.blocks, "up": cfg.g_up, "norm": cfg.g_norm, "skip": cfg.g_skip,
             "skip_init": cfg.g_skip_init}
        d = {"width": cfg.width, "layers": layers, "norm": cfg.d_norm}
        self.G_AB = ResnetGenerator(c, c, **g)
        self.G_BA = ResnetGenerator(c, c, **g)
        self.D_A = PatchDiscriminator(c, **d)  # real A vs. G_BA(b)
        self.D_B = PatchDiscriminator(c, **d)  # real B vs. G_AB(a)
        if cfg.d_pixel > 0:  # the colour critics: real A vs. G_BA(b) and real B vs. G_AB(a), per pixel
            self.P_A, self.P_B = PixelDiscriminator(c, width=cfg.width), PixelDiscriminator(c, width=cfg.width)
            self.parts = {"g": self.parts["g"], "d": self.parts["d"] + ("P_A", "P_B")}
        self.pool_a = ImagePool(cfg.pool_size, info.shape)
        self.pool_b = ImagePool(cfg.pool_size, info.shape)
        # A few training images of each domain, kept for sample() and the progress figures.
        self.register_buffer("examples_a", torch.zeros(cfg.examples, *info.shape))
        self.register_buffer("examples_b", torch.zeros(cfg.examples, *info.shape))
        self.register_buffer("examples_n", torch.zeros((), dtype=torch.long))
        # The g phase hands its translations to the d phase of the same step (as the reference
        # implementation does), so each generator runs once per image per step.
        self._fakes: tuple[Tensor, Tensor] | None = None
        self._examples_full = False  # known on the host once the kept examples are complete

    @property
    def game(self) -> games.Game:
        return games.game(self.cfg.loss, self.cfg.game)

    @property
    def double_backward(self) -> bool:
        return self.game.penalty is not None

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        return self.game.d_loss(real_out, fake_out)

    def g_adv(self, fake_out: Tensor) -> Tensor:
        """One generator's adversarial term. The paper weighs λ against the least-squares term
        ``E[(D(G(x)) - 1)²]`` (Zhu et al. 2017, §4 and eq. 3); a game whose loss carries a ½ says
        so (its ``g_unit``)."""
        game = self.game
        return game.g_unit * game.g_loss(fake_out)

    def lr_factor(self, step: int, total: int) -> float:
        """1 for the first ``1 - lr_decay`` of the steps, then linearly down towards 0.

        The decay follows the run's total steps, so resuming to a larger ``--steps`` stretches it
        from the resumed step on (the paper's schedule is also set by the planned length)."""
        start = int(round(total * (1 - self.cfg.lr_decay)))
        if step < start or total <= start:
            return 1.0
        return 1.0 - (step - start) / (total - start)

    # -- translation ----------------------------------------------------------------------

    def generator(self, direction: str) -> nn.Module:
        if direction not in DIRECTIONS:
            raise unknown("direction", direction, DIRECTIONS)
        return self.G_AB if direction == "a2b" else self.G_BA

    def translate(self, x: Tensor, direction: str = "a2b") -> Tensor:
        """Images of one domain -> the other, in [-1, 1]; any size divisible by 4."""
        gen = self.generator(direction)
        return self._eval_call(lambda t: self.output(gen(t)), x.to(self.device))

    # -- losses ---------------------------------------------------------------------------

    def loss(self, phase: str, batch) -> tuple[Tensor, dict[str, Tensor]]:
        a, b = batch["x"], batch["x_b"]
        return self.generator_loss(a, b) if phase == "g" else self.critic_loss(a, b)

    def generator_loss(self, a: Tensor, b: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        if self.training:
            self.keep_examples(a, b)
        fake_b, fake_a = self.output(self.G_AB(a)), self.output(self.G_BA(b))
        rec_a, rec_b = self.output(self.G_BA(self.noised(fake_b))), self.output(self.G_AB(self.noised(fake_a)))
        seen_b, seen_a = self.augmented(fake_b), self.augmented(fake_a)
        adv = self.g_adv(self.D_B(seen_b)) + self.g_adv(self.D_A(seen_a))
        if self.cfg.d_pixel > 0:
            adv = adv + self.cfg.d_pixel * (self.g_adv(self.P_B(seen_b)) + self.g_adv(self.P_A(seen_a)))
        cyc_a, cyc_b = F.l1_loss(rec_a, a), F.l1_loss(rec_b, b)
        lam = self.cfg.cycle_weight
        loss = adv + lam * (cyc_a + cyc_b)
        logs = {"loss_adv": adv.detach(), "cycle_a": cyc_a.detach(), "cycle_b": cyc_b.detach()}
        if self.identity_on():
            # A generator fed an image already in its target domain should leave it alone.
            idt = F.l1_loss(self.output(self.G_BA(a)), a) + F.l1_loss(self.output(self.G_AB(b)), b)
            loss = loss + self.cfg.identity_weight * lam * idt
            logs["identity"] = idt.detach()
        self._fakes = (fake_a.detach(), fake_b.detach())
        return loss, {"loss_g": loss.detach(), **logs}

    def identity_on(self) -> bool:
        """Whether this training step's generator loss carries the identity term."""
        cfg = self.cfg
        return cfg.identity_weight > 0 and (cfg.identity_steps == 0 or self.train_step < cfg.identity_steps)

    def noised(self, fake: Tensor) -> Tensor:
        """A translation as the cycle reads it: with ``cycle_noise`` σ > 0, plus σ·N(0, I)."""
        sigma = self.cfg.cycle_noise
        return fake if sigma == 0 else fake + sigma * self.randn(len(fake), *fake.shape[1:])

    def critic_loss(self, a: Tensor, b: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        if self._fakes is not None:
            (fake_a, fake_b), self._fakes = self._fakes, None
        else:  # a d phase without a g phase before it
            with torch.no_grad():
                fake_a, fake_b = self.output(self.G_BA(b)), self.output(self.G_AB(a))
        u = self.rand(len(fake_a), 4)  # pool decisions for both critics
        fake_a = self.pool_a.query(fake_a, u[:, 0], u[:, 1])
        fake_b = self.pool_b.query(fake_b, u[:, 2], u[:, 3])
        game = self.game
        a, b, fake_a, fake_b = (self.augmented(t) for t in (a, b, fake_a, fake_b))
        more = self.log_details
        loss_a, logs_a = games.critic_loss(game, self.D_A, a, fake_a, self.rand, details=more,
                                             step=self.train_step)
        loss_b, logs_b = games.critic_loss(game, self.D_B, b, fake_b, self.rand, details=more,
                                             step=self.train_step)
        loss = loss_a + loss_b
        logs = {"loss_d": loss.detach(), "loss_d_a": loss_a.detach(), "loss_d_b": loss_b.detach()}
        if "gp" in logs_a:
            logs["gp"] = (logs_a["gp"] + logs_b["gp"]).detach()
        if self.cfg.d_pixel > 0:
            pix = sum(games.critic_loss(game, critic, real, fake, self.rand, details=False, step=self.train_step)[0]
                      for critic, real, fake in ((self.P_A, a, fake_a), (self.P_B, b, fake_b)))
            loss = loss + self.cfg.d_pixel * pix
            logs["loss_d"], logs["loss_d_pixel"] = loss.detach(), pix.detach()
        return loss, logs

    # -- examples, samples, figures -------------------------------------------------------

    @torch.no_grad()
    def keep_examples(self, a: Tensor, b: Tensor) -> None:
        """Keep the first training images until ``examples`` are kept. The count is read on the
        host only until then (the first step or two, and once after a resume), never per update."""
        if self._examples_full:
            return
        m, cap = int(self.examples_n), len(self.examples_a)
        take = max(0, min(len(a), len(b), cap - m))
        self.examples_a[m:m + take] = a[:take].detach()
        self.examples_b[m:m + take] = b[:take].detach()
        self.examples_n.fill_(m + take)
        self._examples_full = m + take >= cap

    def _kept(self, n: int, which: Tensor) -> Tensor:
        m = max(1, int(self.examples_n))
        return which[torch.arange(n, device=which.device) % m]

    def sample(self, n: int, *, y: Tensor | None = None) -> Tensor:
        """``n`` translations A -> B of the kept training images of A (cycled when n exceeds them)."""
        return self.translate(self._kept(n, self.examples_a), "a2b")

    def preview_legend(self, class_names: list[str]) -> tuple[list[str] | None, list[str] | None]:
        return None, ["A", "A->B", "A->B->A", "B", "B->A", "B->A->B"]

    def preview(self, n: int) -> tuple[Tensor, int]:
        """Rows of (a, G_AB(a), G_BA(G_AB(a)), b, G_BA(b), G_AB(G_BA(b))) for the kept images."""
        rows = max(1, min(n // 6, int(self.examples_n) or 1))
        a, b = self._kept(rows, self.examples_a), self._kept(rows, self.examples_b)
        fake_b, fake_a = self.translate(a, "a2b"), self.translate(b, "b2a")
        rec_a, rec_b = self.translate(fake_b, "b2a"), self.translate(fake_a, "a2b")
        grid = torch.stack([a, fake_b, rec_a, b, fake_a, rec_b], dim=1)  # (rows, 6, C, H, W)
        return grid.flatten(0, 1), 6
