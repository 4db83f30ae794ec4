"""Scores of translation models (cyclegan), per direction a2b and b2a.

- ``cycle_l1``: mean |G_BA(G_AB(a)) - a| (and the mirror), in [-1, 1] pixel units.
- ``fd``: Fréchet distance between features of translated images and of real images of the
  target domain (needs a feature extractor: the one shipped for the benchmark, or one passed
  in); ``fd_identity`` is the same for the untranslated inputs, the do-nothing baseline.
- On a benchmark with ground truth (``mnist-style``, ``seasons``): ``psnr`` and ``ssim`` of the
  translations of the held-out test images against their known targets (``images.psnr`` and
  ``images.ssim``, the ones reconstructions use), and ``psnr_identity`` / ``ssim_identity`` for
  the inputs themselves, so a score can be read against doing nothing.

Every score is a dict carrying its provenance: metric, direction, value, n, extractor and its
SHA-256 (None for pixel scores), reference, seed.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genlab.errors import BadInputError
from genlab.metrics.base import Result
from genlab.metrics.images import psnr, ssim
from genlab.metrics.sets import frechet_distance

__all__ = ["EXTRACTOR_FOR", "psnr", "registry_fn", "ssim", "translate_all", "translation_scores"]

# The shipped classifier whose features score each benchmark's domains.
EXTRACTOR_FOR = {"mnist-style": "mnist5k_cls", "seasons": "shapes_cls"}


def translate_all(model, x: Tensor, direction: str, *, batch: int = 250) -> Tensor:
    return torch.cat([model.translate(x[i:i + batch], direction).cpu() for i in range(0, len(x), batch)])


def _extractor(data, extractor):
    if extractor is not None:
        return extractor
    name = EXTRACTOR_FOR.get(data.spec.partition(":")[0])
    if name is None:
        return None
    from genlab.metrics.features import WeightsError, load_classifier

    try:
        return load_classifier(name)
    except WeightsError:  # not shipped (yet): the pixel scores still stand
        return None


def translation_scores(model, data, *, n: int = 500, seed: int = 0, extractor=None, fd: bool = True) -> list[dict]:
    """Scores of a translation ``model`` on ``data`` (an "unpaired" DataBundle). Sources are the
    held-out test pairs when the data has them, else ``n`` training images of each domain;
    ``seed`` picks which ``n`` images when there are more. ``extractor``: features for ``fd``
    (default: the classifier shipped for the benchmark; none for user folders); ``fd=False``
    skips the Fréchet distances."""
    if not model.translates:
        raise BadInputError("translation scores are for translation models (cyclegan)")
    if data.kind != "unpaired" or data.x_b is None:
        raise BadInputError(f"translation scores need two domains; {data.spec!r} has one")
    truth = "test_a" in data.meta
    a, b = (data.meta["test_a"], data.meta["test_b"]) if truth else (data.x, data.x_b)
    g = torch.Generator().manual_seed(seed)
    ia, ib = torch.randperm(len(a), generator=g)[:n], torch.randperm(len(b), generator=g)[:n]
    if truth:
        ib = ia  # keep the pairs aligned
    a, b = a[ia], b[ib]
    # The target domain's real images for FD: the training images of that domain.
    real = {"a2b": data.x_b, "b2a": data.x}
    ext = _extractor(data, extractor) if fd else None
    source = f"{data.spec} {'test pairs' if truth else 'training images'}"
    rows = []

    def row(metric, direction, value, count, reference, feat=False):
        rows.append({"metric": metric, "direction": direction, "value": float(value), "n": int(count),
                     "extractor": ext.name if feat else None, "extractor_sha256": ext.sha256 if feat else None,
                     "reference": reference, "seed": seed})

    for direction, src, tgt in (("a2b", a, b), ("b2a", b, a)):
        back = "b2a" if direction == "a2b" else "a2b"
        out = translate_all(model, src, direction)
        rec = translate_all(model, out, back)
        row("cycle_l1", direction, (rec - src).abs().mean(), len(src), source)
        if truth:
            row("psnr", direction, psnr(out, tgt), len(src), source)
            row("ssim", direction, ssim(out, tgt), len(src), source)
            row("psnr_identity", direction, psnr(src, tgt), len(src), source)
            row("ssim_identity", direction, ssim(src, tgt), len(src), source)
        if ext is not None:
            ref = real[direction]
            ref = ref[torch.randperm(len(ref), generator=g)[:max(n, 2)]]
            f_ref = ext.embed(ref)
            where = f"{data.spec} train domain {direction[-1].upper()}"
            row("fd", direction, frechet_distance(f_ref, ext.embed(out)), len(src), where, feat=True)
            row("fd_identity", direction, frechet_distance(f_ref, ext.embed(src)), len(src), where, feat=True)
    return rows


# ----------------------------------------------------------------------------- registry adapters


def registry_fn(metric: str, direction: str):
    """A ``genlab.metrics.METRICS`` function for one score and direction; the identity baseline
    (psnr, ssim, fd) goes into the detail. The data is the context's training split: its two
    domains and, on a benchmark, the held-out test pairs."""

    def fn(ctx):
        data = ctx.dataset("train")
        if metric == "fd":
            rows = ctx.memo("translation_fd", lambda: translation_scores(ctx.model, data, n=ctx.n_fake, seed=ctx.seed,
                                                                         extractor=ctx.extractor))
        else:
            rows = ctx.memo("translation", lambda: translation_scores(ctx.model, data, n=ctx.n_fake, seed=ctx.seed,
                                                                      fd=False))
        by = {(r["metric"], r["direction"]): r for r in rows}
        if (metric, direction) not in by:
            raise BadInputError(f"{metric}_{direction} needs a benchmark with known targets (mnist-style, seasons); "
                                f"{ctx.data_spec!r} has none")
        row = by[metric, direction]
        base = by.get((f"{metric}_identity", direction))
        detail = {"identity": base["value"]} if base else {}
        return Result(row["value"], space="features" if metric == "fd" else "none",
                      n_real=len(data.x_b if direction == "a2b" else data.x) if metric == "fd" else row["n"],
                      n_fake=row["n"], detail={**detail, "source": row["reference"]})

    return fn
