"""Adversarial games: the one registry every GAN family (gan, cgan, cyclegan) plays from.

A :class:`Game` holds what the critic and the generator minimise (pure functions of raw critic
outputs, from :mod:`genlab.losses`), how to read the critic's health (its decision threshold),
an optional penalty on the critic and the optimizer settings the game is known to train with.
A new adversarial loss is one entry in :data:`GAMES` (and its closed-form test); every family
then accepts it as ``--set loss=NAME``. :func:`critic_loss` is the critic's side of every game,
penalty included, for every family.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from torch import Tensor

from genlab import losses
from genlab.errors import BadInputError


@dataclass(frozen=True)
class Game:
    """One adversarial game. The optimizer settings are the defaults of a family's ``lr``,
    ``beta1``, ``beta2`` and ``d_steps``; explicit settings win. A game with settings of its own
    (LSGAN's targets, WGAN-GP's λ) names their dataclass: every family that plays the game takes
    them (``--set a=-1``), stores them in its config's ``game`` and hands them back here."""

    d_loss: Callable[[Tensor, Tensor], Tensor]  # (critic outputs on real, on fake) -> scalar
    g_loss: Callable[[Tensor], Tensor]  # critic outputs on fakes -> scalar the generator minimises
    # critic outputs above this read as "real" (the health signals d_acc_real / d_acc_fake);
    # None: no fixed threshold (a Wasserstein critic), read at the midpoint of the mean outputs
    threshold: float | None = 0.0
    penalty: Callable[..., Tensor] | None = None  # (critic, real, fake, eps) -> scalar, weighted by the settings
    critic_norm: str | None = None  # the norm the critic must use; None = the family's own
    lr: float = 2e-4  # Adam learning rate (DCGAN)
    betas: tuple[float, float] = (0.5, 0.999)  # Adam β (DCGAN: momentum 0.9 makes the game oscillate)
    d_steps: int = 1  # critic updates per generator update
    settings: type | None = None  # the game's own settings: a dataclass with defaults, or None
    configure: Callable[[Any], dict] | None = None  # settings -> the fields they replace
    # what brings g_loss to the unhalved form papers weigh other terms against (LSGAN's ½(D - c)²: 2)
    g_unit: float = 1.0
    # lazy regularisation (Karras et al. 2020, StyleGAN2): the penalty on every k-th training step
    # only, weighted k×, so its average pull is unchanged at a k-th of its cost
    penalty_every: int = 1


@dataclass
class Targets:
    """LSGAN's target coding (Mao et al. 2017): outputs nearer b read as real."""

    a: float = 0.0  # D's target for fakes
    b: float = 1.0  # D's target for reals
    c: float = 1.0  # the value G wants D to output for fakes


@dataclass
class PenaltyWeight:
    """The weight of a critic penalty and how often it is applied."""

    gp_weight: float = 10.0  # λ of the gradient penalty on interpolates
    gp_every: int = 1  # apply it on every k-th step, weighted k× (lazy, as StyleGAN2 applies R1)

    def __post_init__(self) -> None:
        if not self.gp_weight >= 0:
            raise BadInputError(f"gp_weight must be >= 0, got {self.gp_weight}")
        if not (isinstance(self.gp_every, int) and self.gp_every >= 1):
            raise BadInputError(f"gp_every must be a positive integer (1 = every step), got {self.gp_every}")


@dataclass
class R1Settings:
    """R1's weight and how often it is applied."""

    r1_gamma: float = 1.0  # γ of γ/2 E‖∇D(x)‖² on reals (Mescheder et al. used 10 on 64-128 px images)
    r1_every: int = 1  # apply R1 on every k-th step, weighted k× (StyleGAN2's lazy regularisation: 16)

    def __post_init__(self) -> None:
        if not self.r1_gamma >= 0:
            raise BadInputError(f"r1_gamma must be >= 0, got {self.r1_gamma}")
        if not (isinstance(self.r1_every, int) and self.r1_every >= 1):
            raise BadInputError(f"r1_every must be a positive integer (1 = every step), got {self.r1_every}")


def _least_squares(s: Targets) -> dict:
    return {"d_loss": partial(losses.lsgan_d_loss, a=s.a, b=s.b), "g_loss": partial(losses.lsgan_g_loss, c=s.c),
            "threshold": (s.a + s.b) / 2}


def _weighted_penalty(s: PenaltyWeight) -> dict:
    return {"penalty": partial(losses.gradient_penalty, weight=s.gp_weight), "penalty_every": s.gp_every}


def _r1(s: R1Settings) -> dict:
    return {"penalty": partial(losses.r1_penalty, gamma=s.r1_gamma), "penalty_every": s.r1_every}


GAMES: dict[str, Game] = {
    # Goodfellow et al. 2014: BCE critic; G maximises log D(G(z)), which stays steep when D wins
    "nonsaturating": Game(losses.bce_d_loss, losses.nonsaturating_g_loss),
    # the original minimax game: G minimises log(1 - D(G(z))), flat while D rejects every fake
    "minimax": Game(losses.bce_d_loss, losses.minimax_g_loss),
    # Mao et al. 2017: least squares on raw outputs, targets a = 0 (fake), b = 1 (real), c = 1
    "lsgan": Game(losses.lsgan_d_loss, losses.lsgan_g_loss, threshold=0.5, settings=Targets, configure=_least_squares,
                  g_unit=2.0),
    # Gulrajani et al. 2017, Alg. 1: penalty λ = cfg.gp_weight on interpolates. The penalty is per
    # sample, so the critic must not mix samples (no BatchNorm); Adam(1e-4, β = (0, 0.9)) with no
    # momentum, as the critic's target moves every step; 5 critic updates per generator update.
    "wgan-gp": Game(losses.wgan_d_loss, losses.wgan_g_loss, threshold=None, penalty=losses.gradient_penalty,
                    critic_norm="layer", lr=1e-4, betas=(0.0, 0.9), d_steps=5, settings=PenaltyWeight,
                    configure=_weighted_penalty),
    # Lim & Ye 2017 (SNGAN, BigGAN): a margin of 1 on each side for the critic, -E[D(G(z))] for G
    "hinge": Game(losses.hinge_d_loss, losses.wgan_g_loss),
    # Mescheder et al. 2018: the non-saturating game with R1 on reals; a per-sample penalty, so no
    # BatchNorm in the critic (as theirs and StyleGAN's); lazy with r1_every > 1
    "r1": Game(losses.bce_d_loss, losses.nonsaturating_g_loss, penalty=losses.r1_penalty, critic_norm="none",
               settings=R1Settings, configure=_r1),
}

# Names of games in runs saved before the registry: cgan's "bce", the wgan-gp model's "wgan".
ALIASES = {"bce": "nonsaturating", "wgan": "wgan-gp"}


class _Names:
    """The values a family's ``loss`` accepts (its ``choice``), read from GAMES when asked, so that
    an entry added to GAMES is at once valid everywhere; errors list the games, old names still load."""

    def __iter__(self) -> Iterator[str]:
        return iter(GAMES)

    def __len__(self) -> int:
        return len(GAMES)

    def __contains__(self, name: object) -> bool:
        return name in GAMES or name in ALIASES


NAMES = _Names()


def canonical(name: str) -> str:
    """The registry name of ``name`` (an old name becomes the game's)."""
    name = ALIASES.get(name, name)
    if name not in GAMES:
        raise BadInputError(f"loss={name!r} is not allowed; valid: {', '.join(GAMES)}")
    return name


def game(name: str, settings: dict | None = None) -> Game:
    """The game ``name`` with its own settings applied: ``settings`` holds them by name (LSGAN's
    ``a``, ``b``, ``c``; WGAN-GP's ``gp_weight``), the missing ones at their defaults."""
    g = GAMES[canonical(name)]
    return dataclasses.replace(g, **g.configure(settings_of(name, settings))) if g.configure else g


def settings_of(name: str, values: dict | None = None):
    """The settings dataclass of game ``name`` filled from ``values`` (by field name), or None."""
    cls = GAMES[canonical(name)].settings
    if cls is None:
        return None
    return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in (values or {})})


def setting_owners() -> dict[str, tuple[str, Any]]:
    """Every game setting's name -> (the game that has it, its default): what the configuration
    accepts as a game setting, read from GAMES when asked (a game added there counts at once)."""
    out: dict[str, tuple[str, Any]] = {}
    for name, g in GAMES.items():
        for f in dataclasses.fields(g.settings) if g.settings else ():
            out.setdefault(f.name, (name, f.default))
    return out


def critic_loss(g: Game, critic, real: Tensor, fake: Tensor, rand, *, details: bool = True,
                step: int = 0) -> tuple[Tensor, dict]:
    """The critic's loss in game ``g`` and the numbers worth logging, as tensors: ``loss_d``,
    ``wasserstein`` (the gap of the mean outputs, for a game without a fixed threshold), ``gp``
    (with a penalty), ``d_acc_real`` and ``d_acc_fake`` (a critic at 100% starves the generator).

    ``real`` and ``fake`` are critic inputs (network units); ``critic`` maps them to raw outputs
    (a conditional model binds the label, so the penalty interpolates within a class);
    ``rand(n, *shape)`` draws the penalty's ε from the model's seeded noise, only when there is one.
    ``details=False`` leaves out the health signals (``wasserstein``, ``d_acc_*``): the trainer
    asks for them on logged steps only, the others would compute numbers nobody reads.
    A lazy penalty (``penalty_every`` k > 1) is applied, k× weighted, on the training steps
    ``step`` divisible by k only, so resuming keeps its schedule.
    """
    real_out, fake_out = critic(real), critic(fake)
    loss = g.d_loss(real_out, fake_out)
    logs, thr = {}, g.threshold
    if thr is None and details:
        logs["wasserstein"] = real_out.mean() - fake_out.mean()
        thr = 0.5 * (real_out.mean() + fake_out.mean())
    # the step is read only by a lazy penalty: a compiled critic loss is not guarded on it otherwise
    if g.penalty is not None and (g.penalty_every == 1 or step % g.penalty_every == 0):
        eps = rand(len(real), *([1] * (real.dim() - 1)))  # one ε per critic input
        logs["gp"] = g.penalty(critic, real, fake, eps) * g.penalty_every
        loss = loss + logs["gp"]
    if not details:
        return loss, {"loss_d": loss, **logs}
    accuracy = {"d_acc_real": (real_out > thr).float().mean(), "d_acc_fake": (fake_out <= thr).float().mean()}
    return loss, {"loss_d": loss, **logs, **accuracy}
