"""Critic-guided sampling: improve a trained GAN's samples with its own critic, after training.

Two published schemes, as pure functions of a critic callable and samples:

- **DOT**, Discriminator Optimal Transport (Tanaka 2019): move each sample y to a local minimum
  of ``‖x − y‖₂ − D(x) / K``, with K the critic's effective Lipschitz constant K_eff (times
  ``k_scale``). A point moves only where the critic rises faster than K, and stops where the
  slope of D / K balances the unit slope of the transport cost, i.e. where ``‖∇D(x)‖ = K``.
- **DRS**, Discriminator Rejection Sampling (Azadi et al. 2019): an optimal BCE critic's logit is
  ``log p_data / p_G``, so accepting a sample with probability ``exp(D̃(x) − D̃*_M)`` samples
  p_data; the practical rule passes that through a logit with a shift γ (the γ percentile).

A *unit* is one critic input: a sample, or ``group`` consecutive samples for a packed critic
(PacGAN). ``critic`` maps (N, ...) samples to (N / group,) scores (a (N / group, 1) output is
flattened); the transport cost, K_eff and the accept/reject decision are per unit, so a packed
critic moves and accepts whole packs, which is the same algorithm in the product space.

Which score: the BCE logit (gan, cgan), the raw least-squares output (lsgan), the Wasserstein
critic value (wgan-gp). DOT does not depend on the critic's scale (D / K_eff); DRS's
acceptance is derived for a BCE logit and is a monotone heuristic on the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from genlab.errors import BadInputError

METHODS = ("none", "dot", "drs")
SPACES = ("auto", "data", "latent")

Critic = Callable[[Tensor], Tensor]  # (N, ...) samples -> (N / group,) or (N / group, 1) scores


@dataclass(frozen=True)
class Refinement:
    """How to refine samples; saved, resolved, in the provenance of every score it produced."""

    method: str  # "dot" | "drs"
    steps: int = 100  # DOT: Adam steps per sample
    lr: float = 0.01  # DOT: Adam step size, in the critic's input units (vectors: units of the data's std)
    # DOT: K = k_scale · K_eff. 1 is the authors' estimate, with which points stop where ‖∇D‖ =
    # K_eff: on a GAN's smooth 2-D logit that is on a mode's slope (grid25, GANs of 1,000 and
    # 2,000 steps: 70% and 54% high-quality), 0.25 carries them to the peaks (93% and 99.9%).
    k_scale: float = 0.25
    pairs: int = 100  # DOT: pairs of fresh samples that estimate K_eff (the authors' eff_K uses 100)
    # DOT: where points move. "latent": the generator's noise z, the critic read through G (the
    # authors' DOT for images: every step stays an image G can draw); "data": the samples
    # themselves; "auto": latent for images, data for vectors. Pixel-space DOT on an image GAN
    # climbs the critic with adversarial pixel noise (mnist5k gan recipe: FD 0.50 -> 80).
    space: str = "auto"
    # DRS: γ = this percentile of F in each batch (95 as in the DRS baseline of the MH-GAN
    # authors' code, Turner et al. 2019); None: γ = 0, the exact rejection rule
    percentile: float | None = 95.0
    burn_in: int = 1000  # DRS: proposals scored first to estimate max D̃ (then updated as sampling goes)
    eps: float = 1e-6  # DRS: ε that keeps log(1 − exp(·)) finite at the maximum
    max_draws: int = 100  # DRS: give up after this many proposals per requested sample

    def validate(self) -> None:
        if self.method not in METHODS[1:]:
            raise BadInputError(f"unknown refinement {self.method!r}; valid: {', '.join(METHODS)}")
        if self.steps < 1 or self.pairs < 1 or self.burn_in < 1 or self.max_draws < 1:
            raise BadInputError("refine steps, pairs, burn_in and max_draws must be positive integers")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise BadInputError(f"--refine-lr must be a positive number, got {self.lr}")
        if not (self.k_scale > 0 and math.isfinite(self.k_scale)):
            raise BadInputError(f"--refine-k-scale must be a positive number, got {self.k_scale}")
        if self.percentile is not None and not 0 <= self.percentile <= 100:
            raise BadInputError(f"--refine-percentile must be in [0, 100], got {self.percentile}")
        if self.space not in SPACES:
            raise BadInputError(f"unknown DOT space {self.space!r}; valid: {', '.join(SPACES)}")
        if not 0 < self.eps < 1:
            raise BadInputError(f"refine eps must be in (0, 1), got {self.eps}")

    def to_dict(self) -> dict:
        """The settings that matter for ``method`` (what a score's provenance records)."""
        keep = {"dot": ("steps", "lr", "k_scale", "pairs", "space"), "drs": ("percentile", "burn_in", "eps")}[self.method]
        d = asdict(self)
        return {"method": self.method, **{k: d[k] for k in keep}}


def refinement(method: str | None, **settings) -> Refinement | None:
    """``"none"`` / None -> None, else a checked :class:`Refinement`; settings given as None take
    the defaults (as unset command-line options do)."""
    if method is None or method == "none":
        return None
    given = {k: v for k, v in settings.items() if v is not None}
    if method not in METHODS:
        raise BadInputError(f"unknown refinement {method!r}; valid: {', '.join(METHODS)}")
    fields = [f for f in Refinement.__dataclass_fields__ if f != "method"]
    bad = [k for k in given if k not in fields]
    if bad:
        raise BadInputError(f"unknown refinement setting {bad[0]!r}; valid: {', '.join(fields)}")
    spec = Refinement(method, **given)
    spec.validate()
    return spec


def as_refinement(value) -> Refinement | None:
    """What the API accepts: None, "none", "dot", "drs", a settings dict (as in provenance) or a
    :class:`Refinement`."""
    if value is None or isinstance(value, str):
        return refinement(value)
    if isinstance(value, dict):  # a provenance record also holds what was measured (K_eff, acceptance)
        if value.get("method", "none") == "none":
            return None
        value = Refinement(**{k: v for k, v in value.items() if k in Refinement.__dataclass_fields__})
    if isinstance(value, Refinement):
        value.validate()
        return value
    raise BadInputError(f"refine must be one of {', '.join(METHODS)}, got {value!r}")


def parse_methods(text: str | None) -> list[str]:
    """``"none,dot"`` -> ``["none", "dot"]`` (checked, no repeats)."""
    names = [m.strip() for m in (text or "none").split(",") if m.strip()] or ["none"]
    for m in names:
        if m not in METHODS:
            raise BadInputError(f"unknown refinement {m!r}; valid: {', '.join(METHODS)}")
    if len(set(names)) != len(names):
        raise BadInputError(f"--refine lists a method twice: {text!r}")
    return names


# ----------------------------------------------------------------------------- helpers


def _scores(critic: Critic, x: Tensor) -> Tensor:
    return critic(x).reshape(-1)  # (N / group, 1) -> (N / group,)


def _units(x: Tensor, group: int) -> Tensor:
    """(N, ...) -> (N / group, group · prod(...)): the coordinates of each critic input."""
    if len(x) % group:
        raise BadInputError(f"{len(x)} samples do not split into packs of {group}")
    return x.reshape(len(x) // group, -1)


# ----------------------------------------------------------------------------- DOT


@torch.no_grad()
def effective_lipschitz(critic: Critic, a: Tensor, b: Tensor, *, group: int = 1) -> float:
    """K_eff = max over unit pairs of |D(a) − D(b)| / ‖a − b‖ (Tanaka 2019, the authors' eff_K on
    pairs of generator samples). A secant slope, so at most the true Lipschitz constant: with
    the true one DOT would leave every sample where it is (y is then a global minimum). Forward
    passes only: no graph is kept (a latent-space critic runs G as well)."""
    with torch.no_grad():
        num = (_scores(critic, a) - _scores(critic, b)).abs()
    den = (_units(a, group) - _units(b, group)).norm(dim=1)
    ok = den > 0
    if not ok.any():
        raise BadInputError("K_eff needs pairs of distinct samples")
    k = float((num[ok] / den[ok]).max())
    return k if k > 0 else 1.0  # a constant critic: nothing to move towards, any K will do


def dot(critic: Critic, y: Tensor, *, k: float, steps: int = 100, lr: float = 0.01, group: int = 1,
        bounds: tuple[float, float] | None = None) -> Tensor:
    """Transport ``y`` (N, ...) by ``steps`` of gradient descent on ``‖x − y‖ − D(x) / k`` per unit.

    Adam with β = (0, 0.9), the authors' Adam setting: its steps are about ``lr`` per coordinate
    whatever the critic's slope, so one step size serves steep and flat critics, and a point
    near its balance hovers within about ``lr`` instead of being thrown out of a narrow mode.
    The critic's parameters get no gradients. ``k``: K, from :func:`effective_lipschitz`.
    ``bounds``: the data's range (images: (-1, 1)); each step is clipped into it, as the
    authors' transporter clips its points.
    """
    y = y.detach()
    y_units = _units(y, group)
    x = y.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr, betas=(0.0, 0.9))
    for _ in range(steps):
        with torch.enable_grad():
            # √(‖x − y‖² + δ²): the norm's gradient is undefined at x = y, where every point starts
            cost = ((_units(x, group) - y_units).pow(2).sum(dim=1) + 1e-12).sqrt()
            h = (cost - _scores(critic, x) / k).sum()  # units are independent: one backward for all
            (x.grad,) = torch.autograd.grad(h, x)
        opt.step()
        if bounds is not None:
            with torch.no_grad():
                x.clamp_(*bounds)
    return x.detach()


# ----------------------------------------------------------------------------- DRS


def drs_logit(logits: Tensor, d_max: float, *, eps: float = 1e-6) -> Tensor:
    """F(x) = D̃(x) − D̃*_M − log(1 − exp(D̃(x) − D̃*_M − ε)) (Azadi et al. 2019, before γ):
    sigmoid(F) ≈ exp(D̃ − D̃*_M), the exact acceptance probability, written as a logit."""
    delta = logits.double() - d_max  # <= 0 once d_max is the running maximum
    return delta - torch.log1p(-torch.exp(delta - eps))


def drs_accept_prob(logits: Tensor, d_max: float, *, percentile: float | None = 95.0, eps: float = 1e-6) -> Tensor:
    """Acceptance probabilities sigmoid(F − γ) of one batch; γ = ``percentile`` of F in the batch
    (the practical rule: it keeps the acceptance rate workable when D̃*_M is an outlier), or 0."""
    f = drs_logit(logits, d_max, eps=eps)
    gamma = torch.quantile(f, percentile / 100) if percentile is not None else 0.0
    return torch.sigmoid(f - gamma)


@torch.no_grad()
def drs(critic: Critic, propose: Callable[[int], Tensor], n: int, *, group: int = 1, percentile: float | None = 95.0,
        burn_in: int = 1000, eps: float = 1e-6, batch: int = 1000, max_draws: int = 100) -> tuple[Tensor, dict]:
    """``n`` units accepted by DRS from ``propose(k)`` (k units of fresh samples, (k · group, ...)).

    D̃*_M starts as the maximum over ``burn_in`` proposals and rises whenever a batch holds a
    larger logit. Raises when ``max_draws · n`` proposals were not enough. Returns the samples
    (n · group, ...) and ``{"acceptance", "accepted", "draws", "d_max"}`` (counts in units; the
    last batch may accept more than needed, and those count as accepted).
    """
    d_max = float(_scores(critic, propose(burn_in)).max())
    kept, have, draws = [], 0, 0
    while have < n:
        if draws >= max_draws * n:
            raise BadInputError(f"DRS accepted {have} of {draws} proposals, short of {n}; lower "
                                f"--refine-percentile (more samples pass) or use --refine dot")
        x = propose(batch)
        logits = _scores(critic, x)
        d_max = max(d_max, float(logits.max()))
        p = drs_accept_prob(logits, d_max, percentile=percentile, eps=eps)
        accept = torch.rand(len(p), dtype=p.dtype, device=p.device) < p
        draws += len(p)
        kept.append(_units(x, group)[accept.to(x.device)])
        have += int(accept.sum())
    units = torch.cat(kept)[:n]
    out = units.reshape(n * group, *x.shape[1:])
    return out, {"acceptance": have / draws, "accepted": have, "draws": draws, "d_max": d_max}
