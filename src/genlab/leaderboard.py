"""The leaderboard as every renderer shows it: the best row per column, cells of mean ± standard
error, the caption, and the files ``compare`` writes (``leaderboard.{md,csv,json}``); the HTML
report renders the same cells."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from genlab.io import atomic_write_text, json_safe


def best_row(board: dict, col: str) -> str | None:
    """The row whose mean is best in column ``col`` (None with fewer than two finite means)."""
    means = {label: r["metrics"][col]["mean"] for label, r in board["rows"].items() if col in r["metrics"]}
    means = {k: v for k, v in means.items() if math.isfinite(v)}
    if len(means) < 2:
        return None
    key = {"higher": lambda v: -v, "lower": lambda v: v, "one": lambda v: abs(v - 1)}[board["better"][col]]
    return min(means, key=lambda label: key(means[label]))


def fmt(summary: dict | None) -> str:
    if summary is None:
        return "—"
    from genlab.evaluation import format_value

    m, se = summary["mean"], summary["se"]
    return format_value(m) if not math.isfinite(se) else f"{format_value(m)} ± {se:.2g}"


ARROWS = {"higher": "↑", "lower": "↓", "one": "→1"}


def caption(board: dict) -> str:
    return (f"{board.get('seeds', '?')} seed(s) per model, {board.get('steps') or 'model-specific'} steps; "
            f"mean ± standard error over seeds; best in bold (↑ higher is better, ↓ lower, →1 closest to 1).")


def cells(board: dict) -> tuple[list[str], list[tuple[str, list[str], list[bool]]]]:
    """The leaderboard as every renderer shows it: column heads with their arrows, and per row
    its label, its cells (mean ± s.e.) and which of them is the column's best."""
    cols = board["columns"]
    heads = [f"{c} {ARROWS.get(board['better'].get(c), '')}".strip() for c in cols]
    best = {c: best_row(board, c) for c in cols}
    return heads, [(label, [fmt(r["metrics"].get(c)) for c in cols], [best[c] == label for c in cols])
                   for label, r in board["rows"].items()]


def markdown(board: dict) -> str:
    heads, rows = cells(board)
    lines = [f"# Leaderboard: {board['data']}", "", caption(board), "",
             "| model | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    for label, texts, bold in rows:
        lines.append(f"| {label} | " + " | ".join(f"**{t}**" if b else t for t, b in zip(texts, bold)) + " |")
    notes = [refine_note(label, row) for label, row in board["rows"].items() if row.get("refine")]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def refine_note(label: str, row: dict) -> str:
    """What a refined row did to the samples of its runs (settings; DRS: acceptance over seeds)."""
    r = row["refine"]
    settings = ", ".join(f"{k} {v}" for k, v in r.items() if k != "method")
    text = f"- {label}: the samples refined by {r['method']} ({settings})"
    acc = row.get("acceptance")
    if acc:
        text += f"; DRS accepted {fmt({**acc, 'mean': 100 * acc['mean'], 'se': 100 * acc['se']})}% of proposals"
    return text


def write_leaderboard(board: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "leaderboard.md", markdown(board))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["model", "seeds", *[f"{c}_{part}" for c in board["columns"] for part in ("mean", "se")]])
    for label, row in board["rows"].items():
        cells = []
        for c in board["columns"]:
            s = row["metrics"].get(c)
            cells += [f"{s['mean']:.6g}", f"{s['se']:.6g}"] if s else ["", ""]
        w.writerow([label, board["seeds"], *cells])
    atomic_write_text(out / "leaderboard.csv", buf.getvalue())
    atomic_write_text(out / "leaderboard.json", json.dumps(json_safe(board), indent=2) + "\n")
