"""Score a trained run: ``evaluate(run_dir)`` -> list of ``Score`` with full provenance.

:func:`score_run` is the one scoring path (``eval``, ``compare``, the demo and the report use
it): it draws the samples and loads the reference data into an :class:`EvalContext` and runs
the ``METRICS`` registry on it, so the same run shows the same number everywhere.

The defaults are the metrics that apply to the run's data and model (mode counts on ring8 and
grid25, MMD and PR/DC on other vectors, FD/KID/PR/DC/sharpness/class coverage on images with a
shipped classifier, reconstruction for autoencoders, ELBO/NLL for VAEs). Generated samples are
drawn from ``seed``; the reference is the held-out split of the run's dataset, always drawn
with data seed 0 so that runs trained with different seeds are scored against the same points.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import Tensor

from genlab import __version__
from genlab.errors import BadInputError, unknown
from genlab.io import atomic_write_text, json_safe
from genlab.metrics import METRICS, Context, Result, Score, compute
from genlab.metrics.features import EXTRACTORS, Extractor, classifier_for, get_extractor
from genlab.metrics.translation import EXTRACTOR_FOR
from genlab.refine import as_refinement
from genlab.runs import RUN_SCORES

DEFAULT_N = {"vector": 2500, "image": 1000}  # samples per score; 2,500: the PacGAN protocol (mode counts)
REFERENCE_SEED = 0
MODE_SCORES = ("modes", "hq", "reverse_kl")  # the 2-D mode-collapse protocol, against the known centres


class EvalContext(Context):
    """Everything a metric may ask for (samples, reference data, features), computed at most once."""

    def __init__(self, run, *, n: int | None, seed: int, k: int, features: str,
                 weights: str | Path | None, bandwidths=None, split: str = "test", refine=None):
        super().__init__()
        cfg = run.config  # run: a genlab.runs.Run
        self.model, self.run_dir, self.cfg = run.model, run.path, cfg
        self.data_spec: str = cfg["train"]["data"]
        self.is_image = bool(run.model.info.is_image)
        self.n_fake = n or DEFAULT_N["image" if self.is_image else "vector"]
        self.seed, self.k, self.split, self.bandwidths = seed, k, split, bandwidths
        self.modes = run.modes
        self.mode_std = cfg.get("mode_std")
        self.features_name = features
        self.weights = weights
        self.refine = refine  # a genlab.refine.Refinement, or None for the plain samples
        self.refine_record = refine.to_dict() if refine is not None else None  # + DRS acceptance once drawn

    # -- requirements -----------------------------------------------------------------

    def why_not(self, need: str) -> str | None:
        """None if the run offers ``need``, else a short reason."""
        checks: dict[str, tuple[Callable[[], bool], str]] = {
            "modes": (lambda: self.modes is not None, "its data has no known mode centres (ring8, grid25 do)"),
            "vector": (lambda: not self.is_image, "it is for vector data"),
            "image": (lambda: self.is_image, "it is for images"),
            "points": (lambda: not self.is_image or self.extractor_name() is not None,
                       f"there is no shipped feature extractor for {self.data_spec!r}; "
                       f"pass --features inception --weights PATH"),
            "classifier": (lambda: classifier_for(self.data_spec) is not None,
                           f"there is no shipped classifier for {self.data_spec!r}"),
            "recon": (lambda: self.model.reconstructs, "the model does not reconstruct (AE/VAE do)"),
            "likelihood": (lambda: self.model.has_likelihood, "the model has no likelihood bound (VAE has)"),
            "translation": (lambda: self.model.translates, "it is for translation models (cyclegan)"),
            "pairs": (lambda: "test_a" in self.dataset("train").meta,
                      f"{self.data_spec!r} has no known targets (the mnist-style and seasons benchmarks have)"),
        }
        ok, reason = checks[need]
        return None if ok() else reason

    def has(self, need: str) -> bool:
        return self.why_not(need) is None

    # -- data ---------------------------------------------------------------------------

    @property
    def reference(self) -> str:
        # user points have no held-out part: say so rather than call the training points "test"
        return f"{self.data_spec}:{self.split if self.dataset(self.split).meta.get('held_out', True) else 'all'}"

    def dataset(self, split: str):
        """The run's data set (a DataBundle), ``split`` of it, as the run was trained on it
        (image size, root), drawn with data seed 0 whatever the run's seed."""
        def load():
            from genlab.data import load_data

            train = self.cfg["train"]
            return load_data(self.data_spec, image_size=train.get("image_size") or None,
                             root=train.get("root") or None, seed=REFERENCE_SEED, split=split,
                             cache_dir=train.get("cache_dir") or None)
        return self.memo(f"data_{split}", load)

    def _test(self) -> Tensor:
        return self.dataset(self.split).x

    def real(self) -> Tensor:
        """Up to n_fake held-out points, a fixed random subset when the split is larger."""
        def pick() -> Tensor:
            x = self._test()
            if len(x) <= self.n_fake:
                return x
            g = torch.Generator().manual_seed(REFERENCE_SEED)
            return x[torch.randperm(len(x), generator=g)[:self.n_fake]]
        return self.memo("real", pick)

    held_out = real  # autoencoder scores use the same held-out subset

    @property
    def n_real(self) -> int:
        return len(self.real())

    def fake(self) -> Tensor:
        return self.memo("fake", lambda: self.draw(self.n_fake, seed=self.seed))

    def draw(self, n: int, *, seed: int, label: int | None = None) -> Tensor:
        """Samples as every metric of this evaluation sees them: refined when asked."""
        from genlab.sampling import draw, draw_refined

        if self.refine is None:
            return draw(self.model, n, seed=seed, label=label)
        x, record = draw_refined(self.model, n, seed=seed, label=label, refine=self.refine)
        if label is None:  # the main sample set's record (K_eff, acceptance) is the one scores carry
            self.refine_record = record
        return x

    # -- features -----------------------------------------------------------------------

    def extractor_name(self) -> str | None:
        if self.features_name == "auto":  # the data's classifier; a translation benchmark's domains' one
            return classifier_for(self.data_spec) or EXTRACTOR_FOR.get(self.data_spec.partition(":")[0])
        return self.features_name

    @property
    def extractor(self) -> Extractor:
        return self.memo("extractor", lambda: get_extractor(self.extractor_name(), weights=self.weights))

    @property
    def classifier(self) -> Extractor:
        name = classifier_for(self.data_spec)
        if self.extractor_name() == name:
            return self.extractor
        return self.memo("classifier", lambda: get_extractor(name))

    def points(self, which: str) -> Tensor:
        """Raw vectors, or the extractor's features of the images (float64)."""
        def compute() -> Tensor:
            x = self.real() if which == "real" else self.fake()
            if not self.is_image:
                return x.flatten(1).double()
            return self.extractor.embed(x.to(torch.float32))
        return self.memo(f"points_{which}", compute)

    def two_sample(self, value: float, **detail) -> Result:
        return Result(value, space="features" if self.is_image else "raw", n_real=self.n_real,
                      n_fake=self.n_fake, detail=detail)


# ----------------------------------------------------------------------------- selection


def parse_metrics(metrics: str | Iterable[str] | None) -> list[str] | None:
    if metrics is None:
        return None
    names = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    names = [m.strip() for m in names if m.strip()]
    for m in names:
        if base_metric(m) not in METRICS:  # a printed name (fd_mnist5k_cls) is accepted as well
            raise unknown("metric", m, METRICS)
    return names or None


def resolve_metric_names(names: list[str] | None, features: str) -> tuple[list[str] | None, str]:
    """Printed names back to registry names: ``fd_mnist5k_cls`` asks for ``fd`` on the
    ``mnist5k_cls`` features, so what ``eval`` prints is what ``--metrics`` accepts."""
    if names is None:
        return None, features
    named = {n[len(base_metric(n)) + 1:] for n in names if base_metric(n) != n}
    if len(named) > 1:
        raise BadInputError(f"the metrics name different feature extractors ({', '.join(sorted(named))}); "
                            f"score one extractor per call")
    if named:
        (extractor,) = named
        if features not in ("auto", extractor):
            raise BadInputError(f"--features {features} but the metrics name {extractor}; drop one of them")
        features = extractor
    return list(dict.fromkeys(base_metric(n) for n in names)), features


def select(ctx: EvalContext, metrics: list[str] | None) -> list[str]:
    """The asked-for metrics (each must apply), or the defaults that apply to this run."""
    if metrics is None:  # a translation model's defaults are the translation scores, nothing drawn from noise
        translator = ctx.has("translation")
        return [name for name, spec in METRICS.items()
                if spec.default and ("translation" in spec.needs) == translator and all(ctx.has(n) for n in spec.needs)
                and not any(ctx.has(n) for n in spec.default_unless)]
    for name in metrics:
        for need in METRICS[name].needs:
            reason = ctx.why_not(need)
            if reason:
                raise BadInputError(f"metric {name!r} does not apply to run {str(ctx.run_dir)!r}: {reason}")
    return metrics


def run_step(run_dir: Path) -> int | None:
    """The step of the weights a run's commands read: its top-level weights', else its newest
    checkpoint's (a run without a top-level weights file still loads from checkpoints/)."""
    from genlab.training.checkpoint import candidates, saved_step

    for folder in candidates(Path(run_dir)):
        step = saved_step(folder)
        if step is not None:
            return step
    return None


def evaluate(run_dir: str | Path, *, metrics: str | Iterable[str] | None = None, n: int | None = None,
             seed: int = 0, k: int = 100, features: str = "auto", weights: str | Path | None = None,
             ema: bool | None = None, bandwidths=None, refine=None) -> list[Score]:
    """Score the run in ``run_dir``.

    Args:
        metrics: names from ``genlab.metrics.METRICS`` (list or "a,b"); None = the defaults for this run.
        n: generated samples (and at most this many held-out points); None = 2,500 for vectors, 1,000 images.
        seed: draws the samples (and KID's subsets).
        k: importance samples for ``nll``/``bpd`` (the literature's figure uses k=5000).
        features: "auto" (the shipped classifier for the run's data), a name from EXTRACTORS, or "inception".
        weights: local Inception-v3 weights file for ``features="inception"``.
        ema: None scores the EMA weights when the run has them, True requires them, False uses
            the last training weights; every score records which (``Score.ema``).
        bandwidths: fixed RBF bandwidths for ``mmd`` (None: the median heuristic).
        refine: score critic-refined samples: "dot", "drs" or a ``genlab.refine.Refinement``
            (models with a critic only); every score records it.
    """
    from genlab.runs import load

    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 2):
        raise BadInputError(f"n (--n) must be an integer >= 2, got {n!r}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise BadInputError(f"k (--k) must be a positive integer, got {k!r}")
    if features != "auto" and features not in EXTRACTORS:
        raise unknown("feature extractor", features, ("auto", *EXTRACTORS))
    if weights is not None and features != "inception":
        raise BadInputError("weights (--weights) is for features='inception' (--features inception)")
    names, features = resolve_metric_names(parse_metrics(metrics), features)
    refine = as_refinement(refine)
    return score_run(load(Path(run_dir), ema=ema), names, n=n, seed=seed, k=k, features=features, weights=weights,
                     bandwidths=bandwidths, refine=refine)


def score_run(run, names: Iterable[str] | None = None, *, n: int | None = None, seed: int = 0, k: int = 100,
              features: str = "auto", weights: str | Path | None = None, bandwidths=None,
              refine=None) -> list[Score]:
    """The one path from a trained run to its scores, through the ``METRICS`` registry: ``eval``,
    ``compare``, the demo and the report all score here, so a run shows the same number everywhere.

    ``run``: a ``genlab.runs.Run`` or its folder (loaded as ``genlab.load`` does: EMA weights when
    the run has them). ``names``: registry names, None for the defaults that apply to the run.
    ``n``: samples, None for ``DEFAULT_N`` (2,500 for vectors, the mode protocol's; 1,000 images).
    The other arguments are :func:`evaluate`'s.
    """
    from genlab.sampling import check_critic

    if isinstance(run, (str, Path)):
        from genlab.runs import load

        run = load(Path(run))
    refine = as_refinement(refine)
    check_critic(run.model, refine, name=run.name)
    ctx = EvalContext(run, n=n, seed=seed, k=k, features=features, weights=weights,
                      bandwidths=bandwidths, refine=refine)
    if features != "auto" and not ctx.is_image:
        raise BadInputError(f"--features is for image runs; {ctx.data_spec!r} holds vectors, scored on raw coordinates")
    step = run.step if run.step is not None else run_step(run.path)
    scores = []
    for name, res in compute(select(ctx, list(names) if names is not None else None), ctx).items():
        extractor, sha, label = res.space, None, name
        if res.space in ("features", "classifier"):
            ex = ctx.extractor if res.space == "features" else ctx.classifier
            extractor, sha = ex.name, ex.sha256
            label = f"{name}_{ex.name}" if res.space == "features" else name
        reference = f"{ctx.data_spec}:modes" if name in MODE_SCORES else ctx.reference
        scores.append(Score(metric=label, value=float(res.value), n_real=res.n_real, n_fake=res.n_fake,
                            extractor=extractor, extractor_sha256=sha, reference=reference, seed=seed,
                            genlab_version=__version__, run=str(run.path), step=step, ema=run.ema,
                            detail={k_: json_safe(v) for k_, v in res.detail.items()}))
    for s in scores:  # known once the samples are drawn (DRS acceptance, DOT's K_eff)
        s.refine = json_safe(ctx.refine_record)
    return scores


def format_modes(score: Score) -> str:
    """A mode count with what it is out of and its sample count: "21/25 (n=2,500)"."""
    return f"{score.value:.0f}/{score.detail.get('modes_total', '?')} (n={score.n_fake:,})"


def base_metric(score_name: str) -> str:
    """``fd_mnist5k_cls`` -> ``fd`` (the registry name behind a score name)."""
    for ex in EXTRACTORS:
        if score_name.endswith(f"_{ex}") and score_name[: -len(ex) - 1] in METRICS:
            return score_name[: -len(ex) - 1]
    return score_name


def format_value(v: float) -> str:
    """4 significant digits; one decimal from 10,000 on; powers of ten from 10 million on."""
    if not math.isfinite(v):
        return str(v)
    v = v + 0.0  # -0.0 -> 0.0: no score is shown as "-0"
    return f"{v:.1f}" if 1e4 <= abs(v) < 1e7 else f"{v:.4g}"


def scores_file(settings: dict) -> str:
    """eval.json for plain samples; eval+dot.json / eval+drs.json for refined ones, so that
    scores with and without refinement are kept side by side."""
    refine = settings.get("refine")
    return RUN_SCORES if not refine else f"eval+{refine['method']}.json"


def scores_document(settings: dict, scores: list[Score]) -> str:
    """The one format of saved scores (RUN/eval.json and ``eval --json``): the settings that
    produced them and each score with its provenance."""
    doc = {"settings": settings, "scores": [s.to_dict() for s in scores]}
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def write_run_scores(run_dir: str | Path, settings: dict, scores: list[Score]) -> None:
    atomic_write_text(Path(run_dir) / scores_file(settings), scores_document(settings, scores))


def read_run_scores(run_dir: str | Path, settings: dict) -> list[Score] | None:
    """The run's saved scores if they were computed with exactly ``settings``, else None."""
    path = Path(run_dir) / scores_file(settings)
    try:
        saved = json.loads(path.read_text())
        if saved.get("settings") == settings:
            return [Score.from_dict(d) for d in saved["scores"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # missing or damaged: recompute
    return None


def print_scores(scores: list[Score]) -> None:
    """A rich table on stdout: metric, value, sample counts, extractor, reference."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{scores[0].run} (step {scores[0].step})" if scores else "no scores",
                  caption=describe_refinement(scores[0].refine) if scores and scores[0].refine else None)
    baseline = any("identity" in s.detail for s in scores)  # translation scores: the do-nothing baseline beside
    cols = ("metric", "value", *(("identity",) if baseline else ()), "n_real", "n_fake", "extractor", "reference")
    for col in cols:
        table.add_column(col, justify="right" if col in ("value", "identity", "n_real", "n_fake") else "left")
    for s in scores:
        ident = (format_value(s.detail["identity"]) if "identity" in s.detail else "",) if baseline else ()
        table.add_row(s.metric, format_value(s.value), *ident, str(s.n_real), str(s.n_fake), s.extractor, s.reference)
    Console(width=120).print(table)
    for s in scores:  # a score that could not be computed says why
        if s.detail.get("reason"):
            print(f"note: {s.metric} is {format_value(s.value)}: {s.detail['reason']}")


def describe_refinement(record: dict) -> str:
    """One line: the refinement behind the samples, e.g. its DRS acceptance rate."""
    method = record["method"]
    if method == "dot":
        where = f" in {record['moved_in']} space" if "moved_in" in record else ""
        text = f"refined: dot{where} ({record['steps']} steps of {record['lr']:g}, K = {record['k_scale']:g} K_eff"
        return text + (f"; K_eff {record['k_eff']:.3g}, mean shift {record['mean_shift']:.3g})"
                       if "k_eff" in record else ")")
    gamma = "γ = 0" if record.get("percentile") is None else f"γ at the {record['percentile']:g}th percentile"
    text = f"refined: drs ({gamma}"
    return text + (f"; accepted {100 * record['acceptance']:.1f}% of {record['draws']:,} proposals)"
                   if "acceptance" in record else ")")


def save_eval(run_dir: str | Path, scores: list[Score], *, metrics=None, n=None, seed: int = 0, k: int = 100,
              features: str = "auto", weights=None, refine=None) -> str:
    """Keep the scores of ``genlab eval`` in the run folder, keyed by the settings that produced
    them (the same key ``genlab compare`` uses, so it reuses them), the weights scored included
    (the scores say whether they were the EMA ones). A read-only run is left alone.
    Returns the document (what ``eval --json`` writes too)."""
    settings = {"metrics": parse_metrics(metrics), "n": n, "seed": seed, "k": k, "step": run_step(Path(run_dir))}
    refine = as_refinement(refine)
    extra = {"features": features, "weights": str(weights) if weights else None, "ema": any(s.ema for s in scores),
             "refine": refine.to_dict() if refine is not None else None}
    settings.update({key: v for key, v in extra.items() if v not in ("auto", None, False)})
    try:
        write_run_scores(run_dir, settings, scores)
    except OSError as err:
        print(f"note: scores not kept in {str(run_dir)!r} ({err.strerror or err})", file=sys.stderr)
    return scores_document(settings, scores)
