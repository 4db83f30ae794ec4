"""Several models x several seeds on the same data -> a leaderboard of mean ± standard error.

``compare(["gan:minimax", "gan", "wgan-gp"], data="grid25", seeds=5, steps=2000, out="cmp")``
trains every (model, seed) into ``out/runs/<model>/seed<k>``, scores each run with
``genlab.evaluate`` (cached in the run's ``eval.json``) and writes ``leaderboard.{md,csv,json}``
plus ``samples.png`` (one panel per model) and ``metrics.png`` (bars with error bars).

It can be stopped and started again: finished runs and their scores are reused, interrupted
runs are resumed from their last checkpoint. A model is ``name``, ``name:variant`` where the
variant is one of the model's choices (``gan:minimax`` sets ``loss=minimax``), or
``name:key=value,key=value``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from genlab.errors import BadInputError, BadRunError
from genlab.io import atomic_write
from genlab.leaderboard import write_leaderboard

RUNS = "runs"


@dataclass
class Entry:
    label: str  # as the user wrote it: "gan:minimax"; a refined row adds "+dot"
    model: str
    overrides: dict = field(default_factory=dict)
    refine: object = None  # a genlab.refine.Refinement: this row scores the runs' refined samples
    trained_as: str = ""  # a refined row: the label of the entry whose runs it refines

    @property
    def folder(self) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "-", self.trained_as or self.label).strip("-")


def refined_rows(entries: list[Entry], refine) -> list[Entry]:
    """One leaderboard row per (entry, refinement): ``gan`` and ``gan+dot`` share the runs of ``gan``.

    ``refine``: None, a method list as text ("none,dot"), or a list of methods / Refinements.
    """
    from genlab.models import model_class
    from genlab.refine import as_refinement, parse_methods
    from genlab.sampling import critic_models

    specs = [as_refinement(r) for r in (parse_methods(refine) if refine is None or isinstance(refine, str)
                                        else refine)]
    if len({s.method if s else "none" for s in specs}) != len(specs):
        raise BadInputError("--refine lists a method twice")
    rows = []
    for e in entries:
        for spec in specs:
            if spec is None:
                rows.append(e)
                continue
            if model_class(e.model).critic is None:
                raise BadInputError(f"--refine {spec.method} needs models with a critic ({', '.join(critic_models())}); "
                                    f"{e.label} has none (list it in a separate comparison)")
            rows.append(Entry(label=f"{e.label}+{spec.method}", model=e.model, overrides=e.overrides, refine=spec,
                              trained_as=e.label))
    return rows


def parse_entry(spec: str) -> Entry:
    """``gan`` | ``gan:minimax`` | ``vae:k=5,beta=0.5`` -> Entry (names checked against the registry)."""
    import dataclasses

    from genlab.models import model_class
    from genlab.config import parse_value

    name, _, variant = spec.strip().partition(":")
    cls = model_class(name.strip())
    overrides: dict = {}
    for part in filter(None, (p.strip() for p in variant.split(","))):
        if "=" in part:
            key, _, value = part.partition("=")
            overrides[key.strip()] = parse_value(value)
            continue
        owners = [f.name for f in dataclasses.fields(cls.Config) if part in f.metadata.get("choices", ())]
        if len(owners) != 1:
            valid = sorted({c for f in dataclasses.fields(cls.Config) for c in f.metadata.get("choices", ())})
            raise BadInputError(f"model variant {spec!r}: {part!r} is not a choice of {name!r} "
                                f"(valid: {', '.join(valid) or 'none'}); or write {name}:key=value")
        overrides[owners[0]] = part
    return Entry(label=spec.strip(), model=name.strip(), overrides=overrides)


def resolved_config(entry: Entry, data: str, seed: int, steps, batch_size, common: dict, *, kind: str | None = None):
    """The configuration ``genlab train`` resolves for the same settings (presets for the data's
    ``kind`` included; None reads the kind from the data)."""
    from genlab.configure import resolve_config

    values = {**common, **entry.overrides, "seed": seed}
    values.update({k: v for k, v in dict(steps=steps, batch_size=batch_size).items() if v is not None})
    return resolve_config(entry.model, data, values, kind=kind)


def run_state(run: Path, cfg) -> tuple[str, int]:
    """("new" | "resume" | "done", step) for the run folder of this exact configuration."""
    from genlab.runs import read_config
    from genlab.training.checkpoint import load_latest

    if not (run / "config.json").is_file():
        if run.exists():  # a folder left by a crash before the run wrote its config: ours to clear
            shutil.rmtree(run)
        return "new", 0
    saved = dict(read_config(run)["train"])
    if isinstance(saved.get("data"), str):  # runs that stored the data's paths as typed
        from genlab.data import resolve_spec

        saved["data"] = resolve_spec(saved["data"])
    if saved.get("model") == cfg.model:  # a setting added since the run was made has its default there
        import dataclasses

        from genlab.models import model_class

        # through the Config, so older spellings (cgan's loss "bce", lr 0 = the game's) and game
        # settings added since (wgan-gp's gp_every, at its default) compare equal
        config = model_class(cfg.model).Config
        saved["model_args"] = dataclasses.asdict(config(**(saved.get("model_args") or {})))
    for key in ("model", "data", "seed", "batch_size", "lr", "image_size", "model_args"):
        if saved.get(key) != getattr(cfg, key):
            raise BadInputError(f"{str(run)!r} holds a run with another {key} ({saved.get(key)!r}, not "
                                f"{getattr(cfg, key)!r}); use a new --out or delete that folder")
    try:
        _, _, step = load_latest(run, need_state=False)
    except BadRunError:
        return "new", 0  # config written but no checkpoint yet: start it over
    if step > cfg.steps:
        raise BadInputError(f"{str(run)!r} was trained for {step} steps, more than --steps {cfg.steps}; "
                            f"use a new --out")
    return ("done" if step == cfg.steps else "resume"), step


def ensure_trained(entry: Entry, data: str, seed: int, cfg, run: Path, common: dict, log) -> None:
    """Train the run, resume it, or leave it alone when it already reached ``cfg.steps``."""
    import genlab

    state, step = run_state(run, cfg)
    if state == "done":
        log(f"[compare] {entry.label} seed {seed}: done ({step} steps), reused")
        return
    if state == "resume":
        log(f"[compare] {entry.label} seed {seed}: resuming at step {step}/{cfg.steps}")
        genlab.train(entry.model, data, out=run, steps=cfg.steps, resume=True, quiet=True)
        return
    log(f"[compare] {entry.label} seed {seed}: training {cfg.steps} steps")
    # every setting of the resolved config, so the run is exactly the one planned (and checked)
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("model", "data")}
    genlab.train(entry.model, data, out=run, config=settings, overwrite=run.exists(), quiet=True)


def _scores(run: Path, settings: dict) -> list:
    """The run's scores, from its eval.json when it was scored with the same settings at the same step
    and the same weights (the EMA ones when the run has them, as ``genlab eval`` scores by default)."""
    from genlab.runs import has_ema
    from genlab.evaluation import evaluate, read_run_scores, run_step, write_run_scores

    settings = {**settings, "step": run_step(run), **({"ema": True} if has_ema(run) else {})}
    scores = read_run_scores(run, settings)
    if scores is None:
        scores = evaluate(run, **{k: v for k, v in settings.items() if k != "step"})
        write_run_scores(run, settings, scores)
    return scores


def summarise(values: list[float]) -> dict:
    """Mean and standard error (sample std / sqrt(K)); one seed has no error bar (NaN)."""
    k = len(values)
    mean = sum(values) / k if k else math.nan
    if k < 2 or not all(math.isfinite(v) for v in values):
        se = math.nan
    else:
        se = math.sqrt(sum((v - mean) ** 2 for v in values) / (k - 1) / k)
    return {"mean": mean, "se": se, "n": k, "values": values}


def compare(models: list[str], *, data: str, seeds: int = 3, steps: int | None = None, out: str | Path,
            overrides: list[str] | dict | None = None, n: int | None = None, metrics=None,
            batch_size: int | None = None, k: int = 100, config: str | Path | None = None, figures: bool = True,
            refine=None, log=print) -> dict:
    """Train and score every (model, seed); write the leaderboard and figures; return the leaderboard.

    ``config`` is a YAML preset of settings for every run (``overrides`` win over it). ``refine``
    lists critic-guided samplings to score besides (or instead of) the plain samples, e.g.
    ``"none,dot"``: each (model, method) is a row (``gan``, ``gan+dot``) over the same runs.
    """
    from genlab.config import load_yaml, split_overrides
    from genlab.evaluation import parse_metrics

    from genlab.data import resolve_spec
    from genlab.runs import check_output, data_paths

    if isinstance(models, str) or not models:
        raise BadInputError(f"models must be a non-empty list of names, e.g. ['gan', 'vae'], got {models!r}")
    check_output(out, folder=True, data=data_paths(resolve_spec(data)))
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise BadInputError(f"seeds (--seeds) must be a positive integer, got {seeds!r}")
    common = load_yaml(config) if config is not None else {}
    common.update(split_overrides(overrides) if isinstance(overrides, list) else dict(overrides or {}))
    entries = [parse_entry(m) for m in models]
    if len({e.folder for e in entries}) != len(entries):
        raise BadInputError("the same model is listed twice")
    rows = refined_rows(entries, refine)
    names = parse_metrics(metrics)
    settings = {"metrics": names, "n": n, "seed": 0, "k": k}
    from genlab.configure import data_kind

    # the data's declared kind picks each family's presets, as in `genlab train`
    kind = data_kind(resolved_config(entries[0], data, 0, steps, batch_size, common, kind=""))
    plan = [(e, s, resolved_config(e, data, s, steps, batch_size, common, kind=kind))
            for e in entries for s in range(seeds)]
    out = Path(out)
    runs = {}
    for entry, seed, cfg in plan:  # every config is checked above, before anything trains
        run = out / RUNS / entry.folder / f"seed{seed}"
        ensure_trained(entry, data, seed, cfg, run, common, log)
        for row in rows:
            if row.folder == entry.folder:
                extra = {"refine": row.refine.to_dict()} if row.refine is not None else {}
                runs[(row.label, seed)] = _scores(run, {**settings, "seed": seed, **extra})
    # a variant may set its own steps (gan:steps=500)
    steps_of = {row.label: cfg.steps for e, _, cfg in plan for row in rows if row.folder == e.folder}
    board = leaderboard(rows, runs, data=data, seeds=seeds, steps=steps_of, n=n)
    write_leaderboard(board, out)
    if figures:
        sample_panels([(r.label, out / RUNS / r.folder / "seed0", r.refine) for r in rows], out / "samples.png")
        metric_bars(board, out / "metrics.png")
    log(f"[compare] leaderboard written to {out / 'leaderboard.md'}")
    return board


def leaderboard(entries: list[Entry], runs: dict, *, data: str, seeds: int, steps: dict[str, int], n) -> dict:
    from genlab.evaluation import base_metric
    from genlab.metrics import METRICS

    columns: list[str] = []
    rows = {}
    for e in entries:
        per_metric: dict[str, list[float]] = {}
        for s in range(seeds):
            for score in runs[(e.label, s)]:
                per_metric.setdefault(score.metric, []).append(score.value)
                if score.metric not in columns:
                    columns.append(score.metric)
        rows[e.label] = {"model": e.model, "overrides": e.overrides, "steps": steps[e.label],
                         "metrics": {m: summarise(v) for m, v in per_metric.items()},
                         "refine": e.refine.to_dict() if e.refine is not None else None}
        accepted = [runs[(e.label, s)][0].refine["acceptance"] for s in range(seeds)
                    if runs[(e.label, s)] and "acceptance" in (runs[(e.label, s)][0].refine or {})]
        if accepted:  # DRS: the share of proposals it kept, per seed
            rows[e.label]["acceptance"] = summarise(accepted)
    better = {c: METRICS[base_metric(c)].better for c in columns}
    common_steps = set(steps.values())
    return {"data": data, "seeds": seeds, "steps": common_steps.pop() if len(common_steps) == 1 else None, "n": n, "columns": columns, "better": better,
            "rows": rows, "scores": {f"{label}/seed{s}": [sc.to_dict() for sc in v] for (label, s), v in runs.items()}}


# ----------------------------------------------------------------------------- figures


def sample_panels(runs: list[tuple], path: Path, *, n_points: int = 2500, n_images: int = 64) -> None:
    """One panel per model (its seed-0 run): 2-D scatter over the data with the mode centres, or an image grid.
    ``runs`` holds (label, run folder) or (label, run folder, refinement) tuples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torchvision.utils import make_grid

    from genlab.runs import load
    from genlab.report.figures import real_subset, scatter_figure
    from genlab.sampling import draw

    fig, axes = plt.subplots(1, len(runs), figsize=(3.2 * len(runs), 3.4), dpi=100, squeeze=False)
    real = None
    for ax, (label, run, *refine) in zip(axes[0], runs):
        refine = refine[0] if refine else None
        loaded = load(run)
        model = loaded.model
        if model.info.is_image:
            x = draw(model, n_images, seed=0, refine=refine)
            grid = make_grid(((x.float() + 1) / 2).clamp(0, 1), nrow=8, padding=1)
            ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_title(label, fontsize=9)
            ax.axis("off")
            continue
        if real is None:
            from genlab.data import load_data

            real = real_subset(load_data(loaded.config["train"]["data"], split="test").x)
        scatter_figure(draw(model, n_points, seed=0, refine=refine), real=real, modes=loaded.modes, title=label, ax=ax)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def metric_bars(board: dict, path: Path) -> None:
    """One bar chart per metric: the mean over seeds per model, with standard-error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols, labels = board["columns"], list(board["rows"])
    ncol = min(4, len(cols))
    nrow = math.ceil(len(cols) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.8 * nrow), dpi=100, squeeze=False)
    for ax, col in zip(axes.flat, cols):
        stats = [board["rows"][m]["metrics"].get(col) for m in labels]
        means = [s["mean"] if s and math.isfinite(s["mean"]) else 0.0 for s in stats]
        errs = [s["se"] if s and math.isfinite(s["se"]) else 0.0 for s in stats]
        ax.bar(range(len(labels)), means, yerr=errs, capsize=3, color="tab:blue")
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=7)
        ax.set_title(col, fontsize=9)
    for ax in list(axes.flat)[len(cols):]:
        ax.axis("off")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
