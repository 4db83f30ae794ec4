"""HTML building blocks of the report: escaping, embedded PNGs, tables from records.

Every table on the page is rendered here from data (the JSON the commands write, the scores
of a run), never from text meant for people to read.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math


def esc(x) -> str:
    return html.escape(str(x), quote=True)


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def img(data: bytes, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{png_uri(data)}" alt="{esc(alt)}">{cap}</figure>'


def plt():
    """matplotlib's pyplot on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def fig_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt().close(fig)
    return buf.getvalue()


def fmt(v) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(v, (list, dict)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def _cell(v, *, bold: bool = False) -> str:
    text = f"<b>{esc(fmt(v))}</b>" if bold else esc(fmt(v))
    num = isinstance(v, (int, float)) and not isinstance(v, bool)
    return f'<td class="num">{text}</td>' if num else f"<td>{text}</td>"


def table(rows: list[dict], columns: list[str] | None = None, *, bold: set | None = None) -> str:
    """Rows of records as a table; ``bold``: the (row index, column) cells to set in bold."""
    if not rows:
        return ""
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    bold = bold or set()
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(r.get(c, ""), bold=(i, c) in bold) for c in columns) + "</tr>"
                   for i, r in enumerate(rows))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def kv_table(pairs: dict) -> str:
    body = "".join(f"<tr><th>{esc(k)}</th>{_cell(v)}</tr>" for k, v in pairs.items())
    return f"<table><tbody>{body}</tbody></table>"


SCORE_COLUMNS = ["metric", "value", "n_real", "n_fake", "extractor", "extractor_sha256", "reference", "seed",
                 "step", "ema"]


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
