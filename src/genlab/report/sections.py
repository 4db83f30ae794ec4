"""One run's part of the report: settings and provenance, figures from ``metrics.csv``, the
sample grids written during training, figures and scores that need the trained weights, and the
scores JSON kept in the run folder."""

from __future__ import annotations

import datetime as _dt
import io
import math
import re
from pathlib import Path

from genlab.errors import BadInputError, BadRunError, GenlabError
from genlab.report.render import esc, fig_png, img, json_tables, kv_table, plt, table
from genlab.report.runs import Unreadable, read_json, read_metrics

MAX_GALLERY = 8  # sample grids shown per run, evenly spaced over training (the last always)
SCATTER_N = 5000  # points drawn for the 2-D scatter / density figure
METRIC_FILES = ("eval*.json", "scores*.json", "metrics*.json")
LOSS_KEYS = ("loss", "recon", "kl", "iwae", "wasserstein", "gp", "cycle", "identity")


# ----------------------------------------------------------------------------- figures


def _finite(xs, ys):
    pairs = [(x, y) for x, y in zip(xs, ys) if math.isfinite(x) and math.isfinite(y)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _style(ax, title: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)


def loss_figure(cols: dict[str, list[float]]) -> bytes | None:
    keys = [k for k in cols if k.startswith(LOSS_KEYS) and any(math.isfinite(v) for v in cols[k])]
    if "step" not in cols or not keys:
        return None
    n = len(keys)
    ncol = min(3, n)
    nrow = math.ceil(n / ncol)
    fig, axes = plt().subplots(nrow, ncol, figsize=(3.6 * ncol, 2.6 * nrow), squeeze=False)
    for ax, k in zip(axes.flat, keys):
        ax.plot(*_finite(cols["step"], cols[k]), lw=1.2)
        _style(ax, k)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    return fig_png(fig)


def health_figure(cols: dict[str, list[float]], n_modes: int | None) -> bytes | None:
    """Gradient norms (log scale), D accuracy on real/fake, live mode count, skipped batches."""
    if "step" not in cols:
        return None
    step = cols["step"]
    panels = []
    grads = [k for k in cols if k.startswith("grad_norm") and any(math.isfinite(v) for v in cols[k])]
    if grads:
        panels.append(("gradient norm", grads, "log"))
    accs = [k for k in ("d_acc_real", "d_acc_fake") if k in cols and any(math.isfinite(v) for v in cols[k])]
    if accs:
        panels.append(("D accuracy", accs, "acc"))
    if "modes" in cols and any(math.isfinite(v) for v in cols["modes"]):
        panels.append(("modes covered (live)", ["modes"], "modes"))
    if "skipped" in cols and any(math.isfinite(v) and v > 0 for v in cols["skipped"]):
        panels.append(("skipped updates", ["skipped"], "lin"))
    if not panels:
        return None
    fig, axes = plt().subplots(1, len(panels), figsize=(3.6 * len(panels), 2.7), squeeze=False)
    for ax, (title, keys, kind) in zip(axes.flat, panels):
        for k in keys:
            xs, ys = _finite(step, cols[k])
            ax.plot(xs, ys, lw=1.2, label=k, marker="o" if kind == "modes" else None, ms=3)
        if kind == "log":
            ax.set_yscale("log")
        if kind == "acc":
            ax.set_ylim(-0.05, 1.05)
            ax.axhline(0.5, c="0.6", lw=0.8, ls="--")
        if kind == "modes" and n_modes:
            ax.axhline(n_modes, c="tab:red", lw=0.8, ls="--", label=f"all {n_modes}")
        _style(ax, title)
        if len(keys) > 1 or kind == "modes":
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig_png(fig)


def scatter_density_figure(points, modes, title: str) -> bytes:
    """Samples as a scatter (with the mode centres) next to their 2-D histogram density."""
    import numpy as np

    if points.shape[1] == 1:  # 1-D data: one histogram
        from genlab.report.figures import histogram_figure

        fig, ax = plt().subplots(figsize=(4.2, 4))
        histogram_figure(points, modes=modes, title=f"{title}: {len(points)} samples", ax=ax)
        fig.tight_layout()
        return fig_png(fig)
    pts = points[:, :2].numpy()
    pts = pts[np.isfinite(pts).all(axis=1)]
    fig, (a, b) = plt().subplots(1, 2, figsize=(8.4, 4))
    a.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.4, c="tab:blue", rasterized=True)
    if modes is not None:
        a.scatter(modes[:, 0], modes[:, 1], marker="+", s=60, c="tab:red", label="modes")
        a.legend(fontsize=7, loc="upper right")
    a.set_title(f"{title}: {len(pts)} samples", fontsize=10)
    a.set_aspect("equal", adjustable="box")
    if len(pts):
        lo, hi = np.percentile(pts, 0.5, axis=0), np.percentile(pts, 99.5, axis=0)
        if modes is not None:
            lo, hi = np.minimum(lo, modes.min(0) - 0.5), np.maximum(hi, modes.max(0) + 0.5)
        span = np.maximum(hi - lo, 1e-3)
        rng = [[lo[0] - 0.05 * span[0], hi[0] + 0.05 * span[0]], [lo[1] - 0.05 * span[1], hi[1] + 0.05 * span[1]]]
        h = b.hist2d(pts[:, 0], pts[:, 1], bins=80, range=rng, cmap="magma", cmin=1)
        fig.colorbar(h[3], ax=b, fraction=0.046, label="samples per bin")
        a.set_xlim(rng[0])
        a.set_ylim(rng[1])
    b.set_title("density (2-D histogram)", fontsize=10)
    b.set_aspect("equal", adjustable="box")
    fig.tight_layout()
    return fig_png(fig)


# ----------------------------------------------------------------------------- parts of a run


def config_section(cfg: dict, run: Path) -> str:
    from genlab.evaluation import run_step

    train = dict(cfg.get("train", {}))
    model_args = train.pop("model_args", {}) or {}
    shown = {k: train[k] for k in ("model", "data", "steps", "batch_size", "lr", "seed", "image_size", "ema",
                                     "devices", "precision", "accelerator", "nan_policy", "logger") if k in train}
    if not shown.get("lr"):
        shown["lr"] = f"{model_args.get('lr', '?')} (model default)"
    info = cfg.get("data_info", {})
    prov = {
        "checkpoint step": run_step(run),
        "data kind": info.get("kind"),
        "sample shape": "×".join(map(str, info.get("shape", []))),
        "classes": info.get("num_classes", 0) or "none",
        "genlab": cfg.get("genlab_version", "?"),
        "torch": cfg.get("torch_version", "?"),
        "python": cfg.get("python_version", "?"),
        "run format": cfg.get("format", "?"),
        "config written": _dt.datetime.fromtimestamp((run / "config.json").stat().st_mtime).isoformat(timespec="seconds"),
        "folder": str(run.resolve()),
    }
    return ('<div class="cols"><div><h3>Training settings</h3>' + kv_table(shown) + "</div>"
            '<div><h3>Model settings</h3>' + kv_table(model_args) + "</div>"
            '<div><h3>Provenance</h3>' + kv_table(prov) + "</div></div>")


def gallery(run: Path) -> str:
    files = sorted((run / "samples").glob("step_*.png"))
    if not files:
        return ""
    if len(files) > MAX_GALLERY:
        idx = sorted({round(i * (len(files) - 1) / (MAX_GALLERY - 1)) for i in range(MAX_GALLERY)})
        files = [files[i] for i in idx]
    figs = []
    for f in files:
        m = re.search(r"step_0*(\d+)", f.stem)
        figs.append(img(f.read_bytes(), f.name, f"step {m.group(1) if m else f.stem}"))
    return '<h3>Samples during training</h3><div class="gallery">' + "".join(figs) + "</div>"


def mode_table(by: dict) -> str:
    """The mode scores of ``genlab.evaluation.score_run`` (by metric name) with their provenance."""
    from genlab.evaluation import format_modes

    s = by["modes"]
    return table([{"modes covered": format_modes(s), "high quality": f"{100 * by['hq'].value:.1f}%",
                   "reverse KL": by["reverse_kl"].value, "samples": s.n_fake, "seed": s.seed,
                   "weights": "EMA" if s.ema else "last", "protocol": "PacGAN: HQ = within 3σ of the nearest mode"}])


def model_section(run: Path, *, interpolations: bool, ema: bool | None = None) -> tuple[str, str | None]:
    """Figures that need the trained weights (fresh 2-D samples, mode scores, interpolation) and
    the mode count for the runs table ("21/25 (n=2,500)"), None without known modes.
    ``ema``: as for ``genlab.load`` (the EMA weights when the run has them)."""
    from genlab.runs import load
    from genlab.evaluation import MODE_SCORES, format_modes, score_run
    from genlab.interpolate import latent_of, render

    try:
        loaded = load(run, ema=ema)  # by default the EMA weights when the run has them, as sample and eval use
    except GenlabError as e:
        return f'<p class="note">weights not shown: {esc(e)}</p>', None
    model, modes = loaded.model, loaded.modes
    parts, mode_count = [], None
    if not model.info.is_image:
        from genlab.sampling import draw

        pts = draw(model, SCATTER_N, seed=0)
        parts.append("<h3>Samples and their density</h3>"
                     + img(scatter_density_figure(pts, modes.numpy() if modes is not None else None, loaded.name),
                           "2-D scatter and density", f"{SCATTER_N} fresh samples, seed 0 (first two coordinates)"))
        if modes is not None and loaded.config.get("mode_std"):
            scores = {s.metric: s for s in score_run(loaded, MODE_SCORES)}
            parts.append(mode_table(scores))
            mode_count = format_modes(scores["modes"])
    if interpolations:
        try:
            latent_of(model)
        except BadInputError:
            pass
        else:
            grid = model.info.is_image and (lat := model.latent()) is not None and lat.dim == 2
            pic = render(model, seeds=[0, 1, 2], steps=10 if grid else 8, method="slerp", modes=modes)
            buf = io.BytesIO()
            pic.save(buf, format="PNG")
            what = ("decoded latent manifold (Gaussian quantiles of the 2-D code)" if grid else
                    "spherical interpolation between the codes of seeds 0 → 1 → 2")
            parts.append("<h3>Latent interpolation</h3>" + img(buf.getvalue(), "latent interpolation", what))
    return "".join(parts), mode_count


def metric_files(folder: Path) -> str:
    """The scores JSON a command kept in ``folder`` (``genlab eval``'s eval.json, ...), as tables."""
    out, seen = [], set()
    for pattern in METRIC_FILES:
        for f in sorted(folder.glob(pattern)):
            if f in seen or f.name == "config.json":
                continue
            seen.add(f)
            try:
                out.append(f"<h3>Scores: {esc(f.name)}</h3>" + json_tables(read_json(f)))
            except Unreadable as e:
                out.append(f'<p class="note">{esc(e)}</p>')
    return "".join(out)


def anchor(name: str) -> str:
    return "run-" + re.sub(r"[^A-Za-z0-9_-]+", "-", name)


def run_section(run: Path, root: Path, *, interpolations: bool, ema: bool | None = None) -> tuple[str, dict]:
    """The HTML of one run and its row in the runs table."""
    from genlab.runs import read_config

    name = str(run.relative_to(root)) if run != root else run.name
    try:
        cfg = read_config(run)
    except BadRunError as e:
        return (f'<section class="run" id="{esc(anchor(name))}"><h2>{esc(name)}</h2><p class="note">{esc(e)}</p>'
                "</section>", {"run": name, "model": "?", "data": "?"})
    cols = read_metrics(run / "metrics.csv")
    body = [config_section(cfg, run)]
    loss = loss_figure(cols)
    if loss:
        body.append("<h3>Losses</h3>" + img(loss, "loss curves", "from metrics.csv"))
    health = health_figure(cols, len(cfg["modes"]) if cfg.get("modes") else None)
    if health:
        body.append("<h3>Training health</h3>" + img(
            health, "health signals",
            "gradient norms per phase; D accuracy on real/fake (near 100% on both starves G); "
            "live mode count (1,000 samples)"))
    elif not cols:
        body.append('<p class="note">no metrics.csv in this run</p>')
    body.append(gallery(run))
    figures, mode_count = model_section(run, interpolations=interpolations, ema=ema)
    body += [figures, metric_files(run)]
    train = cfg.get("train", {})
    data = cfg.get("data_as_typed") or train.get("data")  # as the user wrote it; train.data has absolute paths
    row = {"run": name, "model": cfg.get("model"), "data": data,
           "steps": int(cols["step"][-1]) if cols.get("step") else train.get("steps")}
    if mode_count:
        row["modes"] = mode_count
    for k in cols:
        last = [v for v in cols[k] if math.isfinite(v)] if k.startswith(LOSS_KEYS) else []
        if last:
            row[k] = last[-1]
    title = f"{name} — {cfg.get('model')} on {data}"
    return f'<section class="run" id="{esc(anchor(name))}"><h2>{esc(title)}</h2>' + "".join(body) + "</section>", row
