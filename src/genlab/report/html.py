"""``genlab report RUN_OR_DIR --out report.html``: one self-contained, static HTML page.

For every run found (RUN itself, or the runs under a folder such as a demo or a comparison):
config and provenance, loss curves and the health signals from ``metrics.csv``, the sample
grids written during training, for vector data a fresh 2-D scatter with its density (and the
mode scores when the data has known modes), any ``eval*.json`` / ``scores*.json`` tables, and
a latent interpolation. A folder's own ``leaderboard.json`` / ``*.md`` summaries come first.

Figures are PNGs embedded as base64 ``data:`` URIs; the page has no script and loads nothing
from anywhere, so it can be mailed, archived or opened offline as it is.
"""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import html
import io
import json
import math
import re
from importlib import resources
from pathlib import Path
from string import Template

from genlab.errors import BadInputError, BadRunError, GenlabError

GENERATOR_MARK = '<meta name="generator" content="genlab'
MAX_GALLERY = 8  # sample grids shown per run, evenly spaced over training (the last always)
SCATTER_N = 5000  # points drawn for the 2-D scatter / density figure
MODE_N = 2500  # the PacGAN protocol's sample count for the mode scores
METRIC_FILES = ("eval*.json", "scores*.json", "metrics*.json")
LOSS_KEYS = ("loss", "recon", "kl", "iwae", "wasserstein", "gp", "cycle", "identity")
MAX_RUNS = 200


# ----------------------------------------------------------------------------- small helpers


def esc(x) -> str:
    return html.escape(str(x), quote=True)


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def img(data: bytes, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{png_uri(data)}" alt="{esc(alt)}">{cap}</figure>'


def fig_png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fmt(v) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(v, (list, dict)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def _cell(v) -> str:
    num = isinstance(v, (int, float)) and not isinstance(v, bool)
    return f'<td class="num">{esc(fmt(v))}</td>' if num else f"<td>{esc(fmt(v))}</td>"


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    if not rows:
        return ""
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(r.get(c, "")) for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def kv_table(pairs: dict) -> str:
    body = "".join(f"<tr><th>{esc(k)}</th>{_cell(v)}</tr>" for k, v in pairs.items())
    return f"<table><tbody>{body}</tbody></table>"


SCORE_COLUMNS = ["metric", "value", "n_real", "n_fake", "extractor", "extractor_sha256", "reference", "seed", "step"]


def json_tables(data) -> str:
    """Any scores JSON as tables: a list of records, a mapping of records, or key/value pairs."""
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        if all({"metric", "value"} <= r.keys() for r in data):  # genlab scores: provenance columns first
            rows = [{**r, "extractor_sha256": (r.get("extractor_sha256") or "")[:12],
                     "value": r["value"] if r["value"] is not None else r.get("nonfinite", "")} for r in data]
            return table(rows, [c for c in SCORE_COLUMNS if any(c in r for r in data)])
        return table(data)
    if isinstance(data, dict):
        for key in ("rows", "leaderboard", "results", "scores"):
            if isinstance(data.get(key), list):
                rest = {k: v for k, v in data.items() if k != key}
                return json_tables(data[key]) + (kv_table(rest) if rest else "")
        if data and all(isinstance(v, dict) for v in data.values()):
            flat = all(not isinstance(x, dict) for v in data.values() for x in v.values())
            if flat:
                return table([{"": k, **v} for k, v in data.items()])
        scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
        nested = {k: v for k, v in data.items() if isinstance(v, dict)}
        out = kv_table(scalars) if scalars else ""
        for k, v in nested.items():
            out += f"<h4>{esc(k)}</h4>" + json_tables(v)
        return out
    return f"<pre>{esc(json.dumps(data, indent=2, sort_keys=True))}</pre>"


def markdown(text: str, base: Path, used: set | None = None) -> str:
    """The little Markdown genlab writes: headings, pipe tables, images, paragraphs, lists.

    Local PNGs are embedded; their paths are added to ``used``.
    """
    out, para, rows = [], [], []
    used = set() if used is None else used

    def _inline(t: str, b: Path) -> str:
        return _inline_md(t, b, used)

    def flush():
        if para:
            joined = " ".join(para)
            only_images = not re.sub(r"!\[[^\]]*\]\([^)\s]+\)", "", joined).strip()
            tag = ('<div class="gallery">', "</div>") if only_images else ("<p>", "</p>")
            out.append(tag[0] + _inline(joined, base) + tag[1])
            para.clear()
        if rows:
            cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
            cells = [r for r in cells if not all(re.fullmatch(r":?-{2,}:?", c) for c in r)]
            if cells:
                head = "".join(f"<th>{_inline(c, base)}</th>" for c in cells[0])
                body = "".join("<tr>" + "".join(f"<td>{_inline(c, base)}</td>" for c in r) + "</tr>"
                               for r in cells[1:])
                out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            rows.clear()

    for line in text.splitlines():
        s = line.strip()
        if s.startswith("|"):
            if para:
                flush()
            rows.append(s)
            continue
        if rows:
            flush()
        if not s:
            flush()
        elif m := re.match(r"(#{1,6})\s+(.*)", s):
            flush()
            level = min(len(m.group(1)) + 2, 6)  # the page's own h1/h2 come first
            out.append(f"<h{level}>{_inline(m.group(2), base)}</h{level}>")
        elif s.startswith(("- ", "* ")):
            flush()
            out.append(f"<ul><li>{_inline(s[2:], base)}</li></ul>")
        else:
            para.append(s)
    flush()
    return "\n".join(out)


def _inline_md(text: str, base: Path, used: set) -> str:
    """Escape, then embed local images ![alt](file.png) and show `code`; links become plain text."""
    parts, pos = [], 0
    for m in re.finditer(r"!\[([^\]]*)\]\(([^)\s]+)\)", text):
        parts.append(_text(text[pos:m.start()]))
        target = (base / m.group(2)).resolve()
        if target.suffix.lower() == ".png" and target.is_file() and base.resolve() in target.parents:
            parts.append(img(target.read_bytes(), m.group(1), m.group(1)))
            used.add(target)
        else:
            parts.append(esc(m.group(1)))
        pos = m.end()
    parts.append(_text(text[pos:]))
    return "".join(parts)


def _text(s: str) -> str:
    s = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", s)  # no outgoing links: the page is self-contained
    s = esc(s)
    s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", s)


# ----------------------------------------------------------------------------- finding runs


def find_runs(path: Path) -> list[Path]:
    """``path`` itself when it is a run, else every run below it (sorted), depth-first."""
    if (path / "config.json").is_file():
        return [path]
    found = []
    for cfg in sorted(path.rglob("config.json")):
        run = cfg.parent
        if any(part.startswith(".") for part in run.relative_to(path).parts):
            continue
        if any(r in run.parents for r in found):  # a run's own sub-folders are not runs
            continue
        found.append(run)
        if len(found) >= MAX_RUNS:
            break
    return found


def read_metrics(path: Path) -> dict[str, list[float]]:
    """metrics.csv as columns of floats (NaN where a row has no value)."""
    cols: dict[str, list[float]] = {}
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    keys = list(dict.fromkeys(k for r in rows for k in r if k))
    for k in keys:
        vals = []
        for r in rows:
            try:
                vals.append(float(r.get(k) or "nan"))
            except (TypeError, ValueError):
                vals.append(float("nan"))
        cols[k] = vals
    return cols


# ----------------------------------------------------------------------------- figures


def _finite(xs, ys):
    pairs = [(x, y) for x, y in zip(xs, ys) if math.isfinite(x) and math.isfinite(y)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def loss_figure(cols: dict[str, list[float]]) -> bytes | None:
    keys = [k for k in cols if k.startswith(LOSS_KEYS) and any(math.isfinite(v) for v in cols[k])]
    if "step" not in cols or not keys:
        return None
    plt = _plt()
    n = len(keys)
    ncol = min(3, n)
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 2.6 * nrow), squeeze=False)
    for ax, k in zip(axes.flat, keys):
        ax.plot(*_finite(cols["step"], cols[k]), lw=1.2)
        ax.set_title(k, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
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
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 2.7), squeeze=False)
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
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if len(keys) > 1 or kind == "modes":
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig_png(fig)


def scatter_density_figure(points, modes, title: str) -> bytes:
    """Samples as a scatter (with the mode centres) next to their 2-D histogram density."""
    import numpy as np

    plt = _plt()
    pts = points[:, :2].numpy()
    pts = pts[np.isfinite(pts).all(axis=1)]
    fig, (a, b) = plt.subplots(1, 2, figsize=(8.4, 4))
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


# ----------------------------------------------------------------------------- one run


def _checkpoint_step(run: Path) -> int | None:
    try:
        from safetensors import safe_open

        with safe_open(str(run / "model.safetensors"), framework="pt") as f:
            return int((f.metadata() or {}).get("step", -1))
    except Exception:  # a report shows what it can; a damaged file is noted, not fatal
        return None


def config_section(cfg: dict, run: Path) -> str:
    train = dict(cfg.get("train", {}))
    model_args = train.pop("model_args", {}) or {}
    shown = {k: train[k] for k in ("model", "data", "steps", "batch_size", "lr", "seed", "image_size", "ema",
                                     "devices", "precision", "accelerator", "nan_policy", "logger") if k in train}
    if not shown.get("lr"):
        shown["lr"] = f"{model_args.get('lr', '?')} (model default)"
    info = cfg.get("data_info", {})
    prov = {
        "checkpoint step": _checkpoint_step(run),
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


def model_section(run: Path, cfg: dict, *, interpolations: bool) -> str:
    """Figures that need the trained weights: fresh 2-D samples, mode scores, interpolation."""
    import torch

    from genlab.api import load
    from genlab.interpolate import latent_of, render

    try:
        model = load(run)
    except GenlabError as e:
        return f'<p class="note">weights not shown: {esc(e)}</p>'
    parts = []
    modes = torch.tensor(cfg["modes"], dtype=torch.float32) if cfg.get("modes") else None
    if not model.info.is_image:
        from genlab.sampling import draw

        pts = draw(model, SCATTER_N, seed=0)
        parts.append("<h3>Samples and their density</h3>"
                     + img(scatter_density_figure(pts, modes.numpy() if modes is not None else None, cfg["model"]),
                           "2-D scatter and density", f"{SCATTER_N} fresh samples, seed 0 (first two coordinates)"))
        if modes is not None and cfg.get("mode_std"):
            from genlab.metrics.toy2d import mode_scores

            s = mode_scores(draw(model, MODE_N, seed=0), modes, float(cfg["mode_std"]))
            parts.append(table([{"modes covered": f"{s['modes']} / {len(modes)}", "high quality": f"{100 * s['hq']:.1f}%",
                                 "reverse KL": s["reverse_kl"], "samples": MODE_N, "seed": 0,
                                 "protocol": "PacGAN: HQ = within 3σ of the nearest mode"}]))
    if interpolations:
        try:
            latent_of(model)
        except BadInputError:
            pass
        else:
            grid = model.info.is_image and getattr(model, "latent_dim", 0) == 2
            pic = render(model, seeds=[0, 1, 2], steps=10 if grid else 8, method="slerp")
            buf = io.BytesIO()
            pic.save(buf, format="PNG")
            what = ("decoded latent manifold (Gaussian quantiles of the 2-D code)" if grid else
                    "spherical interpolation between the codes of seeds 0 → 1 → 2")
            parts.append("<h3>Latent interpolation</h3>" + img(buf.getvalue(), "latent interpolation", what))
    return "".join(parts)


def metric_files(folder: Path) -> str:
    out = []
    seen = set()
    for pattern in METRIC_FILES:
        for f in sorted(folder.glob(pattern)):
            if f in seen or f.name == "config.json":
                continue
            seen.add(f)
            try:
                data = json.loads(f.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                out.append(f'<p class="note">{esc(f.name)} could not be read as JSON</p>')
                continue
            out.append(f"<h3>Scores: {esc(f.name)}</h3>" + json_tables(data))
    return "".join(out)


def run_section(run: Path, root: Path, *, interpolations: bool) -> tuple[str, dict]:
    """The HTML of one run and its summary row."""
    from genlab.training.checkpoint import read_config

    name = str(run.relative_to(root)) if run != root else run.name
    anchor = "run-" + re.sub(r"[^A-Za-z0-9_-]+", "-", name)
    try:
        cfg = read_config(run)
    except BadRunError as e:
        return (f'<section class="run" id="{esc(anchor)}"><h2>{esc(name)}</h2><p class="note">{esc(e)}</p></section>',
                {"run": name, "model": "?", "data": "?"})
    cols = read_metrics(run / "metrics.csv")
    body = [config_section(cfg, run)]
    loss = loss_figure(cols)
    if loss:
        body.append("<h3>Losses</h3>" + img(loss, "loss curves", "from metrics.csv"))
    n_modes = len(cfg["modes"]) if cfg.get("modes") else None
    health = health_figure(cols, n_modes)
    if health:
        body.append("<h3>Training health</h3>" + img(
            health, "health signals",
            "gradient norms per phase; D accuracy on real/fake (near 100% on both starves G); live mode count"))
    elif not cols:
        body.append('<p class="note">no metrics.csv in this run</p>')
    body.append(gallery(run))
    body.append(model_section(run, cfg, interpolations=interpolations))
    body.append(metric_files(run))
    train = cfg.get("train", {})
    data = cfg.get("data_as_typed") or train.get("data")  # as the user wrote it; train.data has absolute paths
    row = {"run": name, "model": cfg.get("model"), "data": data,
           "steps": int(cols["step"][-1]) if cols.get("step") else train.get("steps")}
    for k in cols:
        if k.startswith(LOSS_KEYS) or k == "modes":
            last = [v for v in cols[k] if math.isfinite(v)]
            if last:
                row[k] = last[-1]
    title = f"{name} — {cfg.get('model')} on {data}"
    return f'<section class="run" id="{esc(anchor)}"><h2>{esc(title)}</h2>' + "".join(body) + "</section>", row


# ----------------------------------------------------------------------------- the page


def folder_summaries(path: Path) -> str:
    """A comparison or demo folder's own files: leaderboard.json, *.md summaries, scores JSON."""
    out, used = [], set()
    lb_md, lb_json = path / "leaderboard.md", path / "leaderboard.json"
    docs = sorted(path.glob("*.md"), key=lambda p: (p != lb_md, p.name))  # the leaderboard first
    for md in docs:
        try:
            out.append(f'<h3>{esc(md.name)}</h3>' + markdown(md.read_text(), path, used))
        except (OSError, UnicodeDecodeError):
            continue
    if lb_json.is_file() and not lb_md.is_file():  # the .md is the same table, formatted
        try:
            out.append("<h3>Leaderboard</h3>" + json_tables(json.loads(lb_json.read_text())))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            out.append('<p class="note">leaderboard.json could not be read as JSON</p>')
    figures = [p for p in sorted(path.glob("*.png")) if p.resolve() not in used]
    if figures:
        out.append("<h3>Figures</h3>" + "".join(img(p.read_bytes(), p.name, p.name) for p in figures))
    out.append(metric_files(path))
    body = "".join(out)
    return f'<section class="block"><h2>Summary</h2>{body}</section>' if body.strip() else ""


def build_html(path: str | Path, *, interpolations: bool = True) -> str:
    from genlab import __version__

    path = Path(path)
    if not path.exists():
        raise BadInputError(f"{str(path)!r} does not exist; pass a run folder or a folder of runs")
    if not path.is_dir():
        raise BadInputError(f"{str(path)!r} is not a folder; pass a run folder or a folder of runs")
    runs = find_runs(path)
    summary = folder_summaries(path) if runs != [path] else ""
    if not runs and not summary:
        raise BadRunError(f"no genlab runs (folders with config.json) and no leaderboard under {str(path)!r}")
    sections, rows = [], []
    for run in runs:
        html_, row = run_section(run, path, interpolations=interpolations)
        sections.append(html_)
        rows.append(row)
    parts = [summary]
    if len(runs) > 1:
        links = "".join(f'<li><a href="#run-{esc(re.sub(r"[^A-Za-z0-9_-]+", "-", r["run"]))}">{esc(r["run"])}</a></li>'
                        for r in rows)
        parts.append('<section class="block"><h2>Runs</h2>' + table(rows) + f"<nav><ul>{links}</ul></nav></section>")
    parts += sections
    title = f"genlab report: {path.resolve().name}"
    n = f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
    template = Template(resources.files("genlab.report").joinpath("report.html").read_text(encoding="utf-8"))
    return template.substitute(title=esc(title), subtitle=esc(f"{n} in {path.resolve()}"), version=esc(__version__),
                               generated=_dt.datetime.now().isoformat(timespec="seconds"), body="\n".join(parts))


def write_report(path: str | Path, out: str | Path, *, overwrite: bool = False, interpolations: bool = True) -> Path:
    """Write the report of ``path`` (a run or a folder of runs) to ``out`` (.html); returns ``out``.

    An existing file is replaced only when it is an earlier genlab report, or with ``overwrite``.
    """
    from genlab.training.checkpoint import atomic_write_text

    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise BadInputError(f"--out must end in .html, got {str(out)!r}")
    if out.is_dir():
        raise BadInputError(f"--out {str(out)!r} is a folder; give a file name such as report.html")
    if out.exists() and not overwrite and not _is_report(out):
        raise BadInputError(f"--out {str(out)!r} exists and is not a genlab report; choose another name or pass --overwrite")
    page = build_html(path, interpolations=interpolations)
    atomic_write_text(out, page)
    return out


def _is_report(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return GENERATOR_MARK in f.read(4096)
    except OSError:
        return False
