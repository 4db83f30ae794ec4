"""Metric registry: name -> ``MetricSpec``. A plain dict written out below, so the CLI can list it.

Every metric is a function of an evaluation context (``genlab.evaluation.EvalContext``: the
model, its generated samples, the held-out reference data, the feature extractor) returning
a ``Result``; ``genlab.evaluate`` wraps each into a ``Score`` with its provenance. Expensive
shared pieces (samples, features, the PRDC neighbourhoods, the importance weights) are
memoised on the context, so asking for precision and recall computes the neighbourhoods once.

Metrics on features carry the extractor in their score name: ``fd`` on mnist5k digits is
reported as ``fd_mnist5k_cls`` (or ``fd_inception``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from genlab.metrics import conditional, translation
from genlab.metrics.images import class_scores, recon_scores, reconstruct, sharpness
from genlab.metrics.likelihood import likelihood_scores
from genlab.metrics.sets import frechet_distance, kernel_distance, mmd2, prdc
from genlab.metrics.toy2d import mode_scores

__all__ = ["METRICS", "MetricSpec", "Result", "Score"]


@dataclass
class Result:
    """What a metric function returns; ``space`` says what it compared (for the provenance)."""

    value: float
    space: str = "raw"  # "raw" points | "features" (the extractor) | "classifier" | "none" (no sample sets)
    n_real: int = 0
    n_fake: int = 0
    detail: dict = field(default_factory=dict)


@dataclass
class Score:
    """One number with everything needed to trust it: sample counts, extractor, reference, seed."""

    metric: str
    value: float
    n_real: int
    n_fake: int
    extractor: str  # "raw", "none", "mnist5k_cls", "inception", ...
    extractor_sha256: str | None
    reference: str  # e.g. "mnist5k:test", or "ring8:modes" for the known mode centres
    seed: int
    genlab_version: str
    run: str
    step: int | None = None
    detail: dict = field(default_factory=dict)
    refine: dict | None = None  # critic-guided sampling behind the samples (genlab.refine), None: plain samples

    def to_dict(self) -> dict:
        """JSON-safe: a non-finite value (no HQ sample -> infinite reverse KL) becomes null."""
        d = asdict(self)
        if not math.isfinite(self.value):
            d["value"], d["nonfinite"] = None, str(self.value)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Score:
        d = dict(d)
        nonfinite = d.pop("nonfinite", None)
        if d.get("value") is None:
            d["value"] = float(nonfinite or "nan")
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class MetricSpec:
    fn: Callable  # fn(ctx) -> Result
    help: str  # one line for `genlab eval --help` and the docs
    better: str  # "higher" | "lower" | "one" (closest to 1 is best)
    needs: tuple[str, ...] = ()  # what the run must offer: modes, vector, image, points, classifier, recon, likelihood
    default: bool = True  # part of the default set whenever its needs are met...
    default_unless: tuple[str, ...] = ()  # ...unless the run also offers one of these


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
        s = ctx.memo("classes", lambda: class_scores(clf.predict(ctx.fake()), len(clf.class_names)))
        return Result(s[key], space="classifier", n_fake=ctx.n_fake,
                      detail={"histogram": dict(zip(clf.class_names, s["histogram"]))})
    return fn


def _recon(key: str) -> Callable:
    def fn(ctx) -> Result:
        def compute():
            x = ctx.held_out()
            return recon_scores(x, reconstruct(ctx.model, x))
        s = ctx.memo("recon", compute)
        detail = {"kernel_size": s["ssim_kernel"]} if key == "ssim" else {}
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
    # autoencoders on held-out data
    "recon_mse": MetricSpec(_recon("recon_mse"), "reconstruction mean squared error per element, data space",
                            "lower", ("recon",)),
    "psnr": MetricSpec(_recon("psnr"), "reconstruction PSNR in dB (data range 2), mean per image", "higher",
                       ("recon", "image")),
    "ssim": MetricSpec(_recon("ssim"), "reconstruction SSIM (Gaussian window, 11 px or the image size)", "higher",
                       ("recon", "image")),
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
    # translation models (cyclegan), per direction, on request; the identity baseline in the detail
    "psnr_a2b": MetricSpec(translation.registry_fn("psnr", "a2b"),
                        "PSNR (dB) of A->B translations vs. known targets", "higher", ("image",), False),
    "psnr_b2a": MetricSpec(translation.registry_fn("psnr", "b2a"),
                        "PSNR (dB) of B->A translations vs. known targets", "higher", ("image",), False),
    "ssim_a2b": MetricSpec(translation.registry_fn("ssim", "a2b"),
                        "SSIM of A->B translations vs. known targets", "higher", ("image",), False),
    "ssim_b2a": MetricSpec(translation.registry_fn("ssim", "b2a"),
                        "SSIM of B->A translations vs. known targets", "higher", ("image",), False),
    "cycle_l1_a2b": MetricSpec(translation.registry_fn("cycle_l1", "a2b"),
                        "mean |G_BA(G_AB(a)) - a| of the round trip from A", "lower", ("image",), False),
    "cycle_l1_b2a": MetricSpec(translation.registry_fn("cycle_l1", "b2a"),
                        "mean |G_AB(G_BA(b)) - b| of the round trip from B", "lower", ("image",), False),
    "fd_a2b": MetricSpec(translation.registry_fn("fd", "a2b"),
                      "Frechet distance of A->B translations to domain B's images", "lower", ("image", "points"),
                      False),
    "fd_b2a": MetricSpec(translation.registry_fn("fd", "b2a"),
                      "Frechet distance of B->A translations to domain A's images", "lower", ("image", "points"),
                      False),
}
