"""What the report reads from disk: the runs under a folder, their ``metrics.csv``, JSON files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

MAX_RUNS = 200


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


class Unreadable(Exception):
    """A JSON file the report cannot show (missing, damaged, not JSON)."""


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise Unreadable(f"{path.name} could not be read as JSON") from None
