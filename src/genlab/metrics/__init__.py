"""Metric registry: name -> ``MetricSpec``. A plain dict written out below, so the CLI can list it.

Every metric is a function of a context returning a ``Result`` (``base.py``). The context hands
the metric its samples and reference data: ``genlab.evaluation.EvalContext`` draws and loads
them for a trained run (the model, its samples, the held-out data, the feature extractor);
``SampleSet`` wraps samples already drawn. Metrics never draw or load anything themselves.
:func:`compute` is the one way to run them; ``genlab.evaluation`` wraps each ``Result`` into a
``Score`` with its provenance. Expensive shared pieces (features, the PRDC neighbourhoods, the
importance weights) are memoised on the context, so asking for precision and recall computes
the neighbourhoods once.

Metrics on features carry the extractor in their score name: ``fd`` on mnist5k digits is
reported as ``fd_mnist5k_cls`` (or ``fd_inception``).
"""

from __future__ import annotations

import math

from collections.abc import Callable, Iterable

from genlab.metrics import conditional, translation
from genlab.metrics.base import Context, MetricSpec, Result, SampleSet, Score
from genlab.metrics.images import class_scores, recon_scores, reconstruct, sharpness
from genlab.metrics.likelihood import likelihood_scores
from genlab.metrics.sets import frechet_distance, kernel_distance, mmd2, prdc
from genlab.metrics.toy2d import mode_scores

__all__ = ["METRICS", "Context", "MetricSpec", "Result", "SampleSet", "Score", "compute"]


def compute(names: Iterable[str], ctx) -> dict[str, Result]:
    """The registry's functions ``names`` on ``ctx``: how every score in genlab is computed."""
    return {name: METRICS[name].fn(ctx) for name in names}


# ----------------------------------------------------------------------------- adapters


def _modes(key: str) -> Callable:
    def fn(ctx) -> Result:
        s = ctx.memo("modes", lambda: mode_scores(ctx.fake(), ctx.modes, ctx.mode_std))
        return Result(s[key], n_fake=ctx.n_fake, detail={"mode_std": ctx.mode_std, "modes_total": len(ctx.modes)})
    return fn


def _mmd(ctx) -> Result:
    value, sigmas = mmd2(ctx.points("real"), ctx.points("fake"), bandwidths=ctx.bandwidths)
    return ctx.two_sample(value, kernel="rbf", bandwidths=sigmas, estimate="unbiased MMD^2")


def _prdc(key: str) -> Callable:
    def fn(ctx) -> Result:
        # Kynkäänniemi et al. use k=3 for precision/recall on features; Naeem et al. k=5 for
        # density/coverage. Raw low-dimensional points use k=5 throughout.
        k = 3 if ctx.is_image and key in ("precision", "recall") else 5
        s = ctx.memo(f"prdc{k}", lambda: prdc(ctx.points("real"), ctx.points("fake"), k=k))
        if math.isnan(s[key]):  # k-NN balls need more than k points in each set: said, not a bare nan
            n_real, n_fake = len(ctx.points("real")), len(ctx.points("fake"))
            return ctx.two_sample(s[key], k=k, reason=f"k-nearest-neighbour balls need more than k={k} points in each "
                                                       f"set; the reference has {n_real}, the samples {n_fake}")
        return ctx.two_sample(s[key], k=k)
    return fn


def _fd(ctx) -> Result:
    return ctx.two_sample(frechet_distance(ctx.points("real"), ctx.points("fake")))


def _kid(ctx) -> Result:
    mean, std = kernel_distance(ctx.points("real"), ctx.points("fake"), seed=ctx.seed)
    return ctx.two_sample(mean, std=std, kernel="poly3", subsets=100)


def _sharpness(ctx) -> Result:
    s = sharpness(ctx.fake(), ctx.real())
    return Result(s["ratio"], space="none", n_real=ctx.n_real, n_fake=ctx.n_fake,
                  detail={"laplacian_var_fake": s["fake"], "laplacian_var_real": s["real"]})


def _classes(key: str) -> Callable:
    def fn(ctx) -> Result:
        clf = ctx.classifier
        def scores() -> dict:
            probs = clf.probs(ctx.fake())
            return class_scores(probs.argmax(1), len(clf.class_names), probs)

        s = ctx.memo("classes", scores)
        return Result(s[key], space="classifier", n_fake=ctx.n_fake,
                      detail={"histogram": dict(zip(clf.class_names, s["histogram"]))})
    return fn


def _recon(key: str) -> Callable:
    def fn(ctx) -> Result:
        def compute():
            x = ctx.held_out()
            return recon_scores(x, reconstruct(ctx.model, x))
        s = ctx.memo("recon", compute)
        detail = {"kernel_size": s["ssim_kernel"], "sigma": s["ssim_sigma"]} if key == "ssim" else {}
        return Result(s[key], space="none", n_real=len(ctx.held_out()), detail=detail)
    return fn


def _likelihood(key: str) -> Callable:
    def fn(ctx) -> Result:
        s = ctx.memo("likelihood", lambda: likelihood_scores(ctx.model, ctx.held_out(), k=ctx.k))
        detail = {"k": s["k"], "units": "bits/dim" if key == "bpd" else "nats"}
        if key == "nll":
            detail.update(std_error=s["nll_se"], neg_elbo=s["neg_elbo"])
        return Result(s[key], space="none", n_real=len(ctx.held_out()), detail=detail)
    return fn


def _both_directions(metric: str, help: str, better: str, needs: tuple[str, ...] = ()) -> dict:
    """``{metric}_a2b`` and ``{metric}_b2a`` of a translation model, by default for one; ``help``
    names the source domain {s}, the target domain {t} and a source image {x}."""
    needs = ("image", "translation", *needs)
    return {f"{metric}_{s.lower()}2{t.lower()}": MetricSpec(translation.registry_fn(metric, f"{s.lower()}2{t.lower()}"),
                                                          help.format(s=s, t=t, x=s.lower()), better, needs)
            for s, t in (("A", "B"), ("B", "A"))}


# ----------------------------------------------------------------------------- registry

METRICS: dict[str, MetricSpec] = {
    # 2-D mode collapse (PacGAN protocol), data with known mode centres
    "modes": MetricSpec(_modes("modes"), "modes with >= 1 sample within 3 std of their centre", "higher", ("modes",)),
    "hq": MetricSpec(_modes("hq"), "fraction of samples within 3 std of their nearest mode", "higher", ("modes",)),
    "reverse_kl": MetricSpec(_modes("reverse_kl"), "KL(high-quality mode histogram || uniform), nats",
                             "lower", ("modes",)),
    # two-sample scores: raw coordinates for vectors, extractor features for images
    "mmd": MetricSpec(_mmd, "unbiased MMD^2, RBF kernel, median-heuristic bandwidth (raw vectors)", "lower",
                      ("vector",)),
    "fd": MetricSpec(_fd, "Frechet distance between Gaussian fits of the features (FID with Inception)", "lower",
                     ("points",), default_unless=("vector",)),
    "kid": MetricSpec(_kid, "kernel distance: unbiased MMD^2, cubic kernel, mean of 100 subsets", "lower",
                      ("points",), default_unless=("vector",)),
    "precision": MetricSpec(_prdc("precision"), "improved precision: share of samples inside the real k-NN balls",
                            "higher", ("points",), default_unless=("modes",)),
    "recall": MetricSpec(_prdc("recall"), "improved recall: share of real points inside the sample k-NN balls",
                         "higher", ("points",), default_unless=("modes",)),
    "density": MetricSpec(_prdc("density"), "density: mean count of real k-NN balls holding a sample, / k",
                          "higher", ("points",), default_unless=("modes",)),
    "coverage": MetricSpec(_prdc("coverage"), "coverage: share of real k-NN balls holding a sample",
                           "higher", ("points",), default_unless=("modes",)),
    # image diagnostics
    "sharpness": MetricSpec(_sharpness, "variance of the Laplacian, samples / held-out data (1 = as sharp)",
                            "one", ("image",)),
    "class_coverage": MetricSpec(_classes("coverage"), "share of classes the classifier finds in >= 1/10 of "
                                 "their fair share of samples", "higher", ("image", "classifier")),
    "class_entropy": MetricSpec(_classes("entropy"), "entropy of the predicted-class histogram / log K",
                                "higher", ("image", "classifier")),
    "cls_score": MetricSpec(_classes("score"), "classifier score: the Inception Score's exp E KL(p(y|x) || p(y)) on "
                            "the shipped classifier, 1 to K (held-out data: 8.8 on mnist5k_cls)", "higher",
                            ("image", "classifier")),
    "confidence": MetricSpec(_classes("confidence"), "mean max-softmax of the classifier on the samples (held-out "
                             "data: 0.97 on mnist5k_cls, uniform noise 0.11)", "higher", ("image", "classifier")),
    "class_min_share": MetricSpec(_classes("min_share"), "share of the samples in the rarest predicted class "
                                  "(1/K when balanced)", "higher", ("image", "classifier")),
    # autoencoders on held-out data
    "recon_mse": MetricSpec(_recon("recon_mse"), "reconstruction mean squared error per element, data space",
                            "lower", ("recon",)),
    "psnr": MetricSpec(_recon("psnr"), "reconstruction PSNR in dB (data range 2), mean per image", "higher",
                       ("recon", "image")),
    "ssim": MetricSpec(_recon("ssim"), "reconstruction SSIM on intensities in [0, 1] (Gaussian window 11 px, "
                       "sigma 1.5; smaller below 12 px)", "higher", ("recon", "image")),
    "elbo": MetricSpec(_likelihood("elbo"), "evidence lower bound per example, nats (mean of k log weights)",
                       "higher", ("likelihood",)),
    "nll": MetricSpec(_likelihood("nll"), "importance-weighted NLL bound -L_k per example, nats (--k samples)",
                      "lower", ("likelihood",)),
    "bpd": MetricSpec(_likelihood("bpd"), "the same NLL bound in bits per dimension", "lower", ("likelihood",)),
    # conditional models (cgan, cvae), on request
    "class_accuracy": MetricSpec(conditional.registry_fn("class_accuracy"), "share of samples drawn for class k "
                                 "that the classifier calls k, mean over k", "higher", ("image", "classifier"), False),
    "intra_fd": MetricSpec(conditional.registry_fn("intra_fd"), "Frechet distance of each class's samples to its "
                           "real images (classifier features), mean over classes", "lower", ("image", "classifier"),
                           False),
    # translation models (cyclegan), per direction, their default scores; the identity baseline in the detail
    **_both_directions("psnr", "PSNR (dB) of {s}->{t} translations vs. known targets", "higher", ("pairs",)),
    **_both_directions("ssim", "SSIM of {s}->{t} translations vs. known targets", "higher", ("pairs",)),
    **_both_directions("cycle_l1", "mean |G_{t}{s}(G_{s}{t}({x})) - {x}| of the round trip from {s}", "lower"),
    **_both_directions("fd", "Frechet distance of {s}->{t} translations to domain {t}'s images", "lower",
                       ("points",)),
}
