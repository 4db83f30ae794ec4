"""Tuning runs for the CycleGAN recipes: train each variant on a translation benchmark, score it
as `genlab eval` does by default (PSNR/SSIM against the known targets in both directions, with
the identity baseline, cycle L1, FD on the shipped classifier's features).

    OMP_NUM_THREADS=1 python scripts/tune_translation.py --data seasons \
        --variant '{"steps": 600, "batch_size": 16, "width": 16, "blocks": 2}' [--variant ...] >> runs/tune_cg.jsonl

Prints one JSON line per (variant, seed): settings, wall seconds of the whole train call, the
seconds per step from metrics.csv, and each score (value and identity baseline).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import tempfile
import time
from pathlib import Path

TRAIN_KEYS = {"steps", "batch_size", "lr", "seed"}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="seasons")
    p.add_argument("--variant", action="append", default=[], help="JSON dict of settings")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--seed0", type=int, default=0)
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--keep", default="", help="keep the runs under this folder")
    args = p.parse_args()

    import torch

    import genlab
    from genlab.evaluation import evaluate

    torch.set_num_threads(args.threads)
    for v in args.variant or ["{}"]:
        settings = json.loads(v)
        options = {k: settings[k] for k in settings if k in TRAIN_KEYS}
        overrides = {k: settings[k] for k in settings if k not in TRAIN_KEYS}
        for seed in range(args.seed0, args.seed0 + args.seeds):
            root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp())
            out = root / f"cyclegan-{args.data}-{abs(hash(v)) % 10**6}-s{seed}"
            t0 = time.perf_counter()
            genlab.train("cyclegan", args.data, out=out, quiet=True, overwrite=out.exists(), overrides=overrides,
                         **{"seed": seed, "sample_every": 0, **options})
            wall = time.perf_counter() - t0
            with open(out / "metrics.csv") as f:
                rows = list(csv.DictReader(f))
            per_step = float(rows[-1]["time"]) / float(rows[-1]["step"])
            scores = evaluate(out, n=args.n, seed=0)
            row = {"data": args.data, "settings": settings, "seed": seed, "wall_s": round(wall, 1),
                   "s_per_step": round(per_step, 4), "threads": args.threads,
                   "scores": {s.metric: [round(s.value, 4), round(s.detail["identity"], 4) if "identity" in s.detail
                                         else None] for s in scores}}
            print(json.dumps(row), flush=True)
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
