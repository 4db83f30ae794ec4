"""``genlab report RUN_OR_DIR --out report.html``: one self-contained, static HTML page.

For every run found (RUN itself, or the runs under a folder such as a demo or a comparison):
config and provenance, loss curves and the health signals from ``metrics.csv``, the sample
grids written during training, for vector data a fresh 2-D scatter with its density (and the
mode scores when the data has known modes), any ``eval*.json`` / ``scores*.json`` tables, and
a latent interpolation (``sections.py``). A folder's own results come first, rendered from the
JSON its command wrote: a comparison's ``leaderboard.json``, a demo's ``summary.json``.

Figures are PNGs embedded as base64 ``data:`` URIs; the page has no script and loads nothing
from anywhere, so it can be mailed, archived or opened offline as it is.
"""

from __future__ import annotations

import datetime as _dt
import math
from importlib import resources
from pathlib import Path
from string import Template

from genlab.errors import BadInputError, BadRunError
from genlab.report.render import esc, img, json_tables, table
from genlab.report.runs import Unreadable, find_runs, read_json
from genlab.report.sections import METRIC_FILES, anchor, metric_files, run_section

GENERATOR_MARK = '<meta name="generator" content="genlab'


# ----------------------------------------------------------------------------- a folder's own results


def _summary(s: dict | None) -> dict | None:
    """A leaderboard cell read back from JSON, where a non-finite mean or error is null."""
    if s is None:
        return None
    return {**s, **{k: math.nan if s.get(k) is None else s[k] for k in ("mean", "se")}}


def leaderboard(board) -> str:
    """``genlab compare``'s leaderboard.json: mean ± standard error per model and score, the best
    of each column in bold."""
    if not (isinstance(board, dict) and isinstance(board.get("rows"), dict) and "columns" in board):
        return "<h3>Leaderboard</h3>" + json_tables(board)  # not a genlab leaderboard: shown as it is
    from genlab.leaderboard import caption, cells, fmt

    rows_in = {label: {**r, "metrics": {c: _summary(s) for c, s in r.get("metrics", {}).items()}}
               for label, r in board["rows"].items()}
    board = {**board, "rows": rows_in}
    heads, cell_rows = cells(board)
    rows, bold = [], set()
    for i, ((label, texts, best), r) in enumerate(zip(cell_rows, rows_in.values())):
        row = {"model": label, **dict(zip(heads, texts))}
        bold |= {(i, h) for h, b in zip(heads, best) if b}
        if r.get("refine"):
            settings = ", ".join(f"{k} {v}" for k, v in r["refine"].items() if k != "method")
            row["samples"] = f"refined by {r['refine']['method']} ({settings})"
        if r.get("acceptance"):
            row["DRS acceptance"] = fmt(_summary(r["acceptance"]))
        rows.append(row)
    return f"<h3>Leaderboard: {esc(board.get('data', ''))}</h3><p>{esc(caption(board))}</p>" + table(rows, bold=bold)


def tables_doc(doc: dict, folder: Path, used: set) -> str:
    """A summary a command wrote as JSON (``genlab demo``'s summary.json): a title, a line of
    text, and tables, each with the figures (PNGs in ``folder``) of its rows."""
    out = [f"<h3>{esc(doc.get('title', ''))}</h3>"]
    if doc.get("text"):
        out.append(f"<p>{esc(doc['text'])}</p>")
    for t in doc["tables"]:
        out.append(f"<h4>{esc(t.get('title', ''))}</h4>" + table(t.get("rows", []), t.get("columns")))
        figs = []
        for fig in t.get("figures", []):
            path = (folder / fig["file"]).resolve()
            if path.suffix.lower() == ".png" and path.is_file() and folder.resolve() in path.parents:
                figs.append(img(path.read_bytes(), fig["file"], fig.get("caption", fig["file"])))
                used.add(path)
        if figs:
            out.append('<div class="gallery">' + "".join(figs) + "</div>")
    return "".join(out)


def folder_summaries(path: Path) -> str:
    """A comparison or demo folder's own results: leaderboard.json, summaries, figures, scores."""
    out, used = [], set()
    docs = [f for f in sorted(path.glob("*.json"))
            if f.name != "leaderboard.json" and not any(f.match(p) for p in METRIC_FILES)]
    board = path / "leaderboard.json"
    for f in ([board] if board.is_file() else []) + docs:
        try:
            data = read_json(f)
        except Unreadable as e:
            out.append(f'<p class="note">{esc(e)}</p>')
            continue
        if f == board:
            out.append(leaderboard(data))
        elif isinstance(data, dict) and isinstance(data.get("tables"), list):
            out.append(tables_doc(data, path, used))
    figures = [p for p in sorted(path.glob("*.png")) if p.resolve() not in used]
    if figures:
        out.append("<h3>Figures</h3>" + "".join(img(p.read_bytes(), p.name, p.name) for p in figures))
    out.append(metric_files(path))
    body = "".join(out)
    return f'<section class="block"><h2>Summary</h2>{body}</section>' if body.strip() else ""


# ----------------------------------------------------------------------------- the page


def build_html(path: str | Path, *, interpolations: bool = True, ema: bool | None = None) -> str:
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
        html_, row = run_section(run, path, interpolations=interpolations, ema=ema)
        sections.append(html_)
        rows.append(row)
    parts = [summary]
    if len(runs) > 1:
        links = "".join(f'<li><a href="#{esc(anchor(r["run"]))}">{esc(r["run"])}</a></li>' for r in rows)
        parts.append('<section class="block"><h2>Runs</h2>' + table(rows) + f"<nav><ul>{links}</ul></nav></section>")
    parts += sections
    title = f"genlab report: {path.resolve().name}"
    n = f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
    template = Template(resources.files("genlab.report").joinpath("report.html").read_text(encoding="utf-8"))
    return template.substitute(title=esc(title), subtitle=esc(f"{n} in {path.resolve()}"), version=esc(__version__),
                               generated=_dt.datetime.now().isoformat(timespec="seconds"), body="\n".join(parts))


def write_report(path: str | Path, out: str | Path, *, overwrite: bool = False, interpolations: bool = True,
                 ema: bool | None = None) -> Path:
    """Write the report of ``path`` (a run or a folder of runs) to ``out`` (.html); returns ``out``.

    An existing file is replaced only when it is an earlier genlab report, or with ``overwrite``.
    ``ema``: the weights the figures use, as for ``genlab.load`` (EMA when a run has them).
    """
    from genlab.io import atomic_write_text
    from genlab.runs import check_run_output

    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise BadInputError(f"--out must end in .html, got {str(out)!r}")
    check_run_output(out, path, overwrite=overwrite, ours=is_report,
                     hint="it is not a genlab report; choose another name or pass --overwrite")
    page = build_html(path, interpolations=interpolations, ema=ema)
    atomic_write_text(out, page)
    return out


def is_report(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return GENERATOR_MARK in f.read(4096)
    except OSError:
        return False
