"""Scores of class-conditional models (cgan, cvae): does a sample of class k look like class k?

- ``class_accuracy``: the share of samples drawn for class k that the dataset's shipped
  classifier assigns to k (chance is 1 / classes), per class and averaged.
- ``intra_fd``: the Fréchet distance between the classifier features of the samples of class k
  and of the real images of class k in the reference data, per class and averaged. A model that
  draws the right class but only one style of it scores well on accuracy and badly here.

Every score is a dict carrying its provenance: metric, value, n, class, extractor and its
SHA-256, reference split, seed.
"""

from __future__ import annotations

import torch

from genlab.errors import BadInputError
from genlab.metrics.base import Result
from genlab.metrics.sets import frechet_distance


def _row(metric: str, value: float, n: int, cls: int | None, extractor, seed: int, reference: str) -> dict:
    return {"metric": metric, "value": float(value), "n": int(n), "class": cls, "extractor": extractor.name,
            "extractor_sha256": extractor.sha256, "reference": reference, "seed": seed}


def conditional_scores(model, data, *, n_per_class: int = 200, seed: int = 0, extractor=None,
                       n: int | None = None, sampler=None) -> list[dict]:
    """Per-class accuracy and intra-class FD of ``model``'s samples against ``data``, a labelled
    DataBundle (the held-out split, or the training split for more images per class).
    ``extractor``: a ``genlab.metrics.features`` Extractor; default: the classifier shipped for
    the data. ``n``: exactly this many samples in all, shared as equally as the classes allow
    (instead of ``n_per_class`` each). ``sampler(n, seed=, label=)``: how samples are drawn
    (an evaluation passes its own, e.g. refined by the critic); default: ``model.sample`` with
    the global RNG seeded by ``seed``."""
    from genlab.metrics.features import classifier_for, load_classifier

    if sampler is None:
        def sampler(m: int, *, seed: int, label: int):
            from genlab.rng import seeded

            y = torch.full((m,), label, dtype=torch.long, device=model.device)
            with seeded(seed, model.device):
                return model.sample(m, y=y).detach().cpu()

    if not model.conditional:
        raise BadInputError("conditional scores are for conditional models (cgan, cvae)")
    if data.y is None:
        raise BadInputError(f"conditional scores need labelled data; {data.spec!r} has no labels")
    if extractor is None:
        name = classifier_for(data.spec)
        if name is None:
            raise BadInputError(f"no shipped classifier for {data.spec!r}; conditional scores need one "
                                "(digits, mnist5k, mnist, shapes)")
        extractor = load_classifier(name)
    k = model.info.num_classes
    if len(extractor.class_names) != k:
        raise BadInputError(f"classifier {extractor.name!r} knows {len(extractor.class_names)} classes, "
                            f"the model {k}")
    counts = [n_per_class] * k if n is None else [n // k + (c < n % k) for c in range(k)]
    if min(counts) < 2:  # a Frechet distance needs two samples of each class
        raise BadInputError(f"conditional scores need at least 2 samples per class: --n {2 * k} or more "
                            f"for {k} classes, got {n if n is not None else n_per_class * k}")
    reference = f"{data.spec} {data.meta.get('split', 'train')}"
    rows, accs, fds = [], [], []
    for c in range(k):
        x = sampler(counts[c], seed=seed + c, label=c)
        acc = float((extractor.predict(x) == c).double().mean())
        real = data.x[data.y == c]
        fd = frechet_distance(extractor.embed(real), extractor.embed(x))
        accs.append(acc)
        fds.append(fd)
        rows += [_row("class_accuracy", acc, counts[c], c, extractor, seed, reference),
                 _row("intra_fd", fd, counts[c], c, extractor, seed, reference)]
    rows += [_row("class_accuracy", sum(accs) / k, sum(counts), None, extractor, seed, reference),
             _row("intra_fd", sum(fds) / k, sum(counts), None, extractor, seed, reference)]
    return rows


# ----------------------------------------------------------------------------- registry adapter


def registry_fn(metric: str):
    """A ``genlab.metrics.METRICS`` function: ``metric`` ("class_accuracy" or "intra_fd")
    averaged over the classes, the per-class values in the detail. The real images are the
    evaluation's reference split; exactly ``n`` samples, shared as equally as the classes allow."""

    def fn(ctx):
        def compute():
            data = ctx.dataset(ctx.split)
            rows = conditional_scores(ctx.model, data, n=ctx.n_fake, seed=ctx.seed, extractor=ctx.classifier,
                                      sampler=ctx.draw)
            return rows, len(data.x)

        rows, n_real = ctx.memo("conditional", compute)
        mean = next(r for r in rows if r["metric"] == metric and r["class"] is None)
        per_class = [r["value"] for r in rows if r["metric"] == metric and r["class"] is not None]
        return Result(mean["value"], space="classifier", n_real=n_real, n_fake=mean["n"],
                      detail={"per_class": per_class})

    return fn
