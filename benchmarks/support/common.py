"""What every benchmark shares: its command line, the machine description, JSON output.

Each benchmark prints one JSON document on stdout (progress goes to stderr) and accepts
``--quick``: tiny budgets that check the script end to end in seconds, not figures to quote.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def parser(doc: str, name: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny budgets: a smoke test, not figures to quote")
    p.add_argument("--out", type=Path, default=None, help=f"work folder [runs/bench/{name}, or {name}-quick]")
    p.set_defaults(bench=name)
    return p


def work_dir(args) -> Path:
    return args.out or ROOT / "runs" / "bench" / (args.bench + ("-quick" if args.quick else ""))


def machine() -> dict:
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(), "platform": platform.platform(), "cuda": torch.cuda.is_available()}


def log(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


def clean(obj):
    """JSON-safe copy: NaN/inf -> None, floats rounded to 6 significant digits."""
    if isinstance(obj, float):
        return float(f"{obj:.6g}") if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    return obj


def emit(args, results: dict, started: float, **extra) -> None:
    doc = {"benchmark": args.bench, "quick": bool(args.quick), "seconds": round(time.perf_counter() - started, 1),
           "machine": machine(), **extra, "results": results}
    print(json.dumps(clean(doc), indent=2, allow_nan=False))


def board_stats(board: dict, metrics: list[str]) -> dict:
    """{model: {"steps": N, metric: {"mean", "se", "n"}}} from a genlab.compare leaderboard."""
    return {label: {"steps": row["steps"], **{m: {k: row["metrics"][m][k] for k in ("mean", "se", "n")}
                                              for m in metrics if m in row["metrics"]}}
            for label, row in board["rows"].items()}
