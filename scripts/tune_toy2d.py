"""Tuning runs for the 2-D presets: train each variant, score 2,500 samples (PacGAN protocol).

    OMP_NUM_THREADS=1 python scripts/tune_toy2d.py --data grid25 --model gan \
        --variant '{"steps": 6000, "lr_decay": 0.3}' [--variant ...] [--seeds 1] >> runs/tune.jsonl

Prints one JSON line per (variant, seed): settings, wall seconds of the whole train call,
modes / HQ share / reverse KL of the raw generator (and of the EMA one when trained with it), and
the run's curve: the trainer's live mode count (1,000 samples) and loop seconds along the run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="gan")
    p.add_argument("--data", default="grid25")
    p.add_argument("--variant", action="append", default=[], help="JSON dict of settings")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--seed0", type=int, default=1)
    p.add_argument("--n", type=int, default=2500)
    p.add_argument("--refine", default="none,dot", help="also score these refinements (comma list)")
    args = p.parse_args()

    import torch

    import genlab
    from genlab.data import load_data
    from genlab.metrics.toy2d import mode_scores
    from genlab.sampling import draw_refined

    data = load_data(args.data)
    modes, std = data.modes, data.mode_std
    for v in args.variant or ["{}"]:
        settings = json.loads(v)
        train_keys = {"steps", "batch_size", "lr", "ema", "ema_decay"}
        options = {k: settings[k] for k in settings if k in train_keys}
        overrides = {k: settings[k] for k in settings if k not in train_keys}
        for seed in range(args.seed0, args.seed0 + args.seeds):
            out = Path(tempfile.mkdtemp()) / "run"
            t0 = time.perf_counter()
            genlab.train(args.model, args.data, out=out, seed=seed, overrides=overrides, quiet=True, **options)
            wall = time.perf_counter() - t0
            row = {"model": args.model, "data": args.data, "settings": settings, "seed": seed, "wall_s": round(wall, 1)}
            for ema in ([False, True] if settings.get("ema") else [False]):
                m = genlab.load(out, ema=ema).model
                for method in args.refine.split(","):
                    x, rec = draw_refined(m, args.n, seed=0, refine=None if method == "none" else method)
                    s = mode_scores(x, modes, std)
                    if rec and "acceptance" in rec:
                        s["acceptance"] = rec["acceptance"]
                    row[("ema" if ema else "raw") + ("" if method == "none" else "+" + method)] = {
                        k: round(float(val), 4) for k, val in s.items()}
            row["curve"] = live_curve(out / "metrics.csv")
            print(json.dumps(row), flush=True)
            shutil.rmtree(out.parent, ignore_errors=True)


def live_curve(metrics_csv: Path) -> list[dict]:
    """The metrics rows that carry the live mode count: step, loop seconds, modes."""
    import csv

    rows = [r for r in csv.DictReader(open(metrics_csv)) if r.get("modes") not in (None, "")]
    return [{"step": int(r["step"]), "time_s": round(float(r["time"]), 1), "modes": float(r["modes"])}
            for r in rows]


if __name__ == "__main__":
    main()
