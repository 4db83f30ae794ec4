"""The model contract every family follows, and the few helpers they share.

A model declares its training ``phases`` (``("model",)`` for autoencoders, ``("d", "g")`` for
GANs), which submodules each phase trains (``parts``), how often each phase runs per step
(``repeats``), its optimizers, ``loss(phase, batch)`` and ``sample(n)``, and the hooks callers
need (``latent()``, ``critic``) so that no caller tests model types. The trainer does the rest
and knows no model by name.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from genlab.augment import diff_augment, parse_policy
from genlab.errors import BadInputError


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about its data to build its networks (saved in config.json)."""

    kind: str  # "vector" | "image" | "unpaired"
    shape: tuple[int, ...]  # per-sample shape: (D,) or (C, H, W)
    num_classes: int = 0
    scale: float = 1.0  # vectors: the data's std; networks see x / scale (grid25 spans ±4)

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3

    def to_dict(self) -> dict:
        return {"kind": self.kind, "shape": list(self.shape), "num_classes": self.num_classes, "scale": self.scale}

    @classmethod
    def from_dict(cls, d: dict) -> DataInfo:
        return cls(kind=d["kind"], shape=tuple(d["shape"]), num_classes=int(d.get("num_classes", 0)),
                   scale=float(d.get("scale", 1.0)))


Batch = dict  # {"x": Tensor, "y": Tensor | None, "x_b": Tensor | None}


@dataclass
class Latent:
    """A model's Gaussian latent space, for interpolation and latent walks."""

    dim: int
    decode: Callable[[Tensor], Tensor]  # standard Gaussian codes (N, dim) -> data samples (N, ...), data units


class GenerativeModel(nn.Module):
    """Base class. Subclasses set the class attributes and implement ``loss`` and ``sample``."""

    Config: ClassVar[type]
    help: ClassVar[str] = ""
    phases: ClassVar[tuple[str, ...]] = ("model",)
    parts: ClassVar[dict[str, tuple[str, ...]]] = {}  # phase -> attribute names it trains
    ema_part: ClassVar[str | None] = None  # the submodule averaged by --ema (generator/decoder)
    conditional: ClassVar[bool] = False  # sample() takes class labels
    data_kinds: ClassVar[tuple[str, ...]] = ("vector", "image")  # the kinds of data it trains on
    # defaults by data kind ("vector", "image"), applied under the user's own settings
    presets: ClassVar[dict[str, dict]] = {}
    # Models with a critic define ``critic(x, y=None)``: raw critic outputs (B / critic_pack, 1)
    # on data-space samples, one per pack of ``critic_pack`` consecutive samples; refinement
    # (genlab.refine: DOT, DRS) uses it. None: the model has no critic to refine with.
    critic: ClassVar = None
    critic_pack: int = 1
    # What else a family can do, read by callers instead of probing for methods:
    reconstructs: ClassVar[bool] = False  # reconstruct(x): data -> code -> data (autoencoders)
    has_likelihood: ClassVar[bool] = False  # log_weights(x, k): importance weights of a likelihood bound (VAEs)
    translates: ClassVar[bool] = False  # translate(x, direction): one image domain to the other (cyclegan)

    @property
    def double_backward(self) -> bool:
        """Whether a loss differentiates through a gradient (a critic penalty): torch.compile
        cannot train such a model. The adversarial families say so from their game."""
        return False

    def __init__(self, cfg, info: DataInfo):
        super().__init__()
        self.cfg, self.info = cfg, info
        self.augment_policy = parse_policy(getattr(cfg, "augment", "") or "")  # DiffAugment, parsed once
        # Set by the trainer under data parallelism so that every rank draws its slice of the
        # noise one process would draw for the whole batch (equal gradients, see randn).
        self.noise_rank, self.noise_world = 0, 1
        self.train_device: torch.device | None = None
        # False on the training steps whose logs nobody reads (set by the trainer): a loss may then
        # leave out numbers that are only logged (a critic's accuracy)
        self.log_details = True
        # the training step under way (set by the trainer): a lazy critic penalty's schedule
        self.train_step = 0

    # -- contract -------------------------------------------------------------------------

    def repeats(self) -> dict[str, int]:
        """Updates of each phase per training step (WGAN-GP: 5 critic updates per G update)."""
        return {p: 1 for p in self.phases}

    def configure_optimizers(self, lr: float = 0.0) -> dict[str, torch.optim.Optimizer]:
        """One Adam per phase over that phase's parts; ``lr=0`` means the model's default."""
        betas = (getattr(self.cfg, "beta1", 0.9), getattr(self.cfg, "beta2", 0.999))
        return {
            phase: torch.optim.Adam(self.phase_parameters(phase), lr=lr or self.cfg.lr, betas=betas)
            for phase in self.phases
        }

    def lr_factor(self, step: int, total: int) -> float:
        """Multiplier on every learning rate at ``step`` of ``total`` (constant by default)."""
        return 1.0

    def loss(self, phase: str, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """The loss of one update of ``phase`` and the numbers worth logging, as detached 0-dim
        tensors (the trainer reads them on the host once per logged step, never per update)."""
        raise NotImplementedError  # abstract

    def sample(self, n: int, *, y: Tensor | None = None) -> Tensor:
        raise NotImplementedError  # abstract

    def preview(self, n: int) -> tuple[Tensor, int | None]:
        """The progress figure: about ``n`` outputs and the grid's row length (None = square).
        Conditional models lay out one row per class; translation models input/output pairs."""
        return self.sample(n), None

    def preview_legend(self, class_names: list[str]) -> tuple[list[str] | None, list[str] | None]:
        """Labels of the preview grid's rows and columns (None: unlabelled); conditional models
        name each row's class, translation models each column."""
        return None, None

    def latent(self) -> Latent | None:
        """How standard Gaussian codes become samples; None: no such latent space (conditional
        and translation models)."""
        return None

    def after_training(self, rows: Callable[[Tensor], Tensor], n: int) -> None:
        """Called once when training reaches its last step, before the final checkpoint, with
        the training set: ``rows(idx)`` gives its items ``idx`` as model inputs, ``n`` items in
        all. Nothing by default; the VAE fits its ex-post prior here."""

    # -- capabilities (the families that declare them override these) -----------------------

    def reconstruct(self, x: Tensor) -> Tensor:
        raise BadInputError(f"{type(self).__name__} does not reconstruct its inputs (ae, vae, cvae do)")

    def log_weights(self, x: Tensor, k: int) -> Tensor:
        raise BadInputError(f"{type(self).__name__} has no likelihood bound (vae, cvae have)")

    def translate(self, x: Tensor, direction: str = "a2b") -> Tensor:
        raise BadInputError(f"{type(self).__name__} does not translate between image domains (cyclegan does)")

    # -- helpers --------------------------------------------------------------------------

    def phase_parameters(self, phase: str) -> list[nn.Parameter]:
        return [p for name in self.parts[phase] for p in getattr(self, name).parameters()]

    @property
    def device(self) -> torch.device:
        """Where the model's parameters are (the trainer pins it while training: walking every
        module for it costs more than a small network's forward pass)."""
        return self.train_device or next(self.parameters()).device

    def randn(self, n: int, *shape: int) -> Tensor:
        """Standard normal noise for ``n`` local samples. Under data parallelism every rank
        draws the noise of the whole global batch from identically seeded generators and keeps
        its own slice, so 2 processes see exactly the noise 1 process would."""
        full = torch.randn(n * self.noise_world, *shape, device=self.device)
        return full if self.noise_world == 1 else full[self.noise_rank * n:(self.noise_rank + 1) * n]

    def rand(self, n: int, *shape: int) -> Tensor:
        full = torch.rand(n * self.noise_world, *shape, device=self.device)
        return full if self.noise_world == 1 else full[self.noise_rank * n:(self.noise_rank + 1) * n]

    def augmented(self, x: Tensor) -> Tensor:
        """A critic's input (network units) through DiffAugment (genlab.augment) when the config
        names a policy (``augment=color,translation,cutout``): the same random transforms for reals
        and fakes, in both phases, drawn from the seeded noise. Refinement judges plain samples."""
        return diff_augment(x, self.augment_policy, self.rand) if self.augment_policy else x

    def output(self, raw: Tensor) -> Tensor:
        """Network output -> data space: tanh into [-1, 1] for images, times the data scale for vectors."""
        return torch.tanh(raw) if self.info.is_image else raw * self.info.scale

    def to_net(self, x: Tensor) -> Tensor:
        """Data space -> network input: unit-scale vectors keep every layer in its comfortable range."""
        return x if self.info.is_image else x / self.info.scale

    @torch.no_grad()
    def _eval_call(self, fn, *args):
        was = self.training
        self.eval()
        try:
            return fn(*args)
        finally:
            self.train(was)


@dataclass
class NetSizes:
    """The network sizes every family's Config starts from (``nets.data_net`` reads them)."""

    latent_dim: int = 0  # code / noise size; 0 = 128 for images, 8 for vectors
    width: int = 32  # conv width (images)
    hidden: int = 256  # MLP width (vectors)
    depth: int = 3  # MLP hidden layers (vectors)


def auto_latent(cfg_value: int, info: DataInfo) -> int:
    """0 means: 128 for images (the classic 128-d code), 8 for vectors."""
    return cfg_value or (128 if info.is_image else 8)


def log_normal_std(x: Tensor) -> Tensor:
    """log N(x; 0, I) summed over dims, (B, D) -> (B,)."""
    return -0.5 * (x.pow(2) + math.log(2 * math.pi)).sum(dim=1)
