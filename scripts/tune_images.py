"""Tuning runs for the image presets: train each variant, score 1,000 samples on the shipped classifier.

    OMP_NUM_THREADS=2 python scripts/tune_images.py --data mnist5k --model gan \
        --variant '{"steps": 3000, "width": 32}' [--variant ...] [--seeds 1] >> runs/tune_images.jsonl

Prints one JSON line per (variant, seed): settings, wall seconds of the whole train call, and for
the raw generator (and the EMA one when trained with it): mean max-softmax confidence, the share
of the rarest class, classes holding >= 5% of samples, FD on the classifier's features to the
held-out split (and the real-vs-real floor: FD between two disjoint real halves of that size);
for conditional models also the share of ``--class k`` samples classified as k.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

TRAIN_KEYS = {"steps", "batch_size", "lr", "ema", "ema_decay"}


def image_scores(clf, x, ref, *, num_classes: int) -> dict:
    """Confidence, class shares and classifier-feature FD of samples ``x`` against ``ref``
    (the metrics' own ``class_scores``, as `genlab eval` computes confidence and class_min_share)."""
    from genlab.metrics.images import class_scores
    from genlab.metrics.sets import frechet_distance

    probs = clf.probs(x)
    s = class_scores(probs.argmax(1), num_classes, probs)
    return {"confidence": s["confidence"], "min_share": s["min_share"],
            "classes_5pct": sum(c >= 0.05 * len(x) for c in s["histogram"]),
            "fd": float(frechet_distance(clf.embed(x), clf.embed(ref)))}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="gan")
    p.add_argument("--data", default="mnist5k")
    p.add_argument("--variant", action="append", default=[], help="JSON dict of settings")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--seed0", type=int, default=1)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--keep", default="", help="keep the runs under this folder")
    args = p.parse_args()

    import torch

    import genlab
    from genlab.data import load_data
    from genlab.metrics.features import classifier_for, load_classifier
    from genlab.metrics.sets import frechet_distance
    from genlab.sampling import draw

    clf = load_classifier(classifier_for(args.data))
    ref = load_data(args.data, split="test").x
    train_x = load_data(args.data).x
    k = len(clf.class_names)
    n_ref = min(args.n, len(ref))
    half = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(0))[: 2 * n_ref]
    floor = float(frechet_distance(clf.embed(train_x[half[:n_ref]]), clf.embed(train_x[half[n_ref:]])))
    for v in args.variant or ["{}"]:
        settings = json.loads(v)
        options = {key: settings[key] for key in settings if key in TRAIN_KEYS}
        overrides = {key: settings[key] for key in settings if key not in TRAIN_KEYS}
        for seed in range(args.seed0, args.seed0 + args.seeds):
            root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp())
            out = root / f"{args.model}-{abs(hash(v)) % 10**6}-s{seed}"
            t0 = time.perf_counter()
            genlab.train(args.model, args.data, out=out, seed=seed, overrides=overrides, quiet=True,
                         overwrite=True, **options)
            wall = time.perf_counter() - t0
            row = {"model": args.model, "data": args.data, "settings": settings, "seed": seed,
                   "wall_s": round(wall, 1), "fd_floor": round(floor, 3)}
            for ema in ([False, True] if settings.get("ema") else [False]):
                run = genlab.load(out, ema=ema)
                m = getattr(run, "model", run)
                s = image_scores(clf, draw(m, args.n, seed=0), ref, num_classes=k)
                if getattr(m, "conditional", False):
                    hits = [float((clf.predict(draw(m, 100, seed=0, label=c)) == c).double().mean())
                            for c in range(k)]
                    s["class_acc"] = sum(hits) / k
                row["ema" if ema else "raw"] = {key: round(val, 4) for key, val in s.items()}
            print(json.dumps(row), flush=True)
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
