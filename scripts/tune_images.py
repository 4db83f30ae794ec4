"""Tuning runs for the image presets: train each variant, score its samples on the shipped classifier.

    OMP_NUM_THREADS=1 python scripts/tune_images.py --data mnist5k --model gan \
        --variant '{"steps": 3000, "width": 32}' [--variant ...] [--variants FILE] [--seeds 1] \
        [--curve 4] >> runs/tune/images.jsonl

Prints one JSON line per (variant, seed): settings, wall seconds of the whole train call, the
real-vs-real FD floor (``--n`` training images against the held-out split: real images scored
exactly like the samples; rows before this definition used two disjoint training halves of
min(n, held-out size) each, 2.7x larger on mnist5k, see ``plot_curves.py --floor``), and for
the weights sample/eval read (the EMA generator when trained with one):
FD on the classifier's features to the held-out split, the classifier score, mean max-softmax
confidence, the classes holding >= 5% of the samples and the rarest class's share; for
conditional models also the share of ``--class k`` samples classified as k. ``--curve K`` also
scores K checkpoints spread over the run, each with its training time from metrics.csv: the
quality-against-time curve. ``--variants FILE`` reads one JSON variant per line (``#`` comments).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import tempfile
import time
from pathlib import Path

TRAIN_KEYS = {"steps", "batch_size", "lr", "ema", "ema_decay", "sample_every"}


def image_scores(clf, x, ref, *, num_classes: int) -> dict:
    """FD, classifier score, confidence and class shares of samples ``x`` against ``ref`` (the
    metrics' own ``class_scores``, as `genlab eval` computes them)."""
    from genlab.metrics.images import class_scores
    from genlab.metrics.sets import frechet_distance

    probs = clf.probs(x)
    s = class_scores(probs.argmax(1), num_classes, probs)
    return {"fd": float(frechet_distance(clf.embed(x), clf.embed(ref))), "cls_score": s["score"],
            "confidence": s["confidence"], "min_share": s["min_share"],
            "classes_5pct": sum(c >= 0.05 * len(x) for c in s["histogram"])}


def model_scores(m, clf, ref, n: int) -> dict:
    from genlab.sampling import draw

    k = len(clf.class_names)
    s = image_scores(clf, draw(m, n, seed=0), ref, num_classes=k)
    if m.conditional:
        hits = [float((clf.predict(draw(m, 100, seed=0, label=c)) == c).double().mean()) for c in range(k)]
        s["class_acc"] = sum(hits) / k
    if getattr(m.cfg, "info_codes", 0):
        s["code_acc"] = code_agreement(m, clf, n)
    return {key: round(val, 4) for key, val in s.items()}


def code_agreement(m, clf, n: int) -> float:
    """InfoGAN's code against the classifier's reading of the samples: the share of ``n`` samples
    whose class is the one matched to their code by the best one-to-one matching of codes to
    classes (the unsupervised accuracy the InfoGAN paper reports on MNIST)."""
    import torch
    from scipy.optimize import linear_sum_assignment

    z = torch.randn(n, m.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        codes, classes = m.code(z), clf.predict(m.generate_from(z))
    k, c = m.cfg.info_codes, len(clf.class_names)
    table = torch.zeros(k, c)
    table.index_put_((codes, classes), torch.ones(n), accumulate=True)
    rows, cols = linear_sum_assignment(-table.numpy())
    return float(table[rows, cols].sum() / n)


def times_by_step(run: Path) -> dict[int, float]:
    with open(run / "metrics.csv", newline="") as f:
        return {int(r["step"]): float(r["time"]) for r in csv.DictReader(f)}


def curve(run: Path, clf, ref, n: int) -> list[dict]:
    """Scores of every kept checkpoint (EMA weights where saved), oldest first."""
    from genlab.models import DataInfo, build_model
    from genlab.runs import read_config, split_ema
    from genlab.training.checkpoint import load_weights

    saved = read_config(run)
    times = times_by_step(run)
    points = []
    for folder in sorted((run / "checkpoints").glob("step_*")):
        weights, step = load_weights(folder / "model.safetensors")
        plain, ema = split_ema(weights)
        net = build_model(saved["model"], saved["train"]["model_args"], DataInfo.from_dict(saved["data_info"]))
        net.load_state_dict(plain)
        if ema and net.ema_part:
            getattr(net, net.ema_part).load_state_dict(ema)
        points.append({"step": step, "time_s": times.get(step), **model_scores(net.eval(), clf, ref, n)})
    return points


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="gan")
    p.add_argument("--data", default="mnist5k")
    p.add_argument("--variant", action="append", default=[], help="JSON dict of settings")
    p.add_argument("--variants", type=Path, help="file of JSON variants, one per line")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--seed0", type=int, default=1)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--curve", type=int, default=0, help="also score this many checkpoints along the run")
    p.add_argument("--keep", default="", help="keep the runs under this folder")
    args = p.parse_args()

    import torch

    import genlab
    from genlab.data import load_data
    from genlab.metrics.features import classifier_for, load_classifier
    from genlab.metrics.sets import frechet_distance
    from genlab.models import model_class

    clf = load_classifier(classifier_for(args.data))
    ref = load_data(args.data, split="test").x
    train_x = load_data(args.data).x
    # real images scored exactly like the samples: n training images against the held-out split
    pick = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(0))[: args.n]
    floor = float(frechet_distance(clf.embed(train_x[pick]), clf.embed(ref)))
    variants = list(args.variant)
    if args.variants:
        variants += [line for line in args.variants.read_text().splitlines() if line.strip() and line[0] != "#"]
    for v in variants or ["{}"]:
        settings = json.loads(v)
        model = settings.pop("model", args.model)
        options = {key: settings[key] for key in settings if key in TRAIN_KEYS}
        overrides = {key: settings[key] for key in settings if key not in TRAIN_KEYS}
        for seed in range(args.seed0, args.seed0 + args.seeds):
            root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp())
            out = root / f"{model}-{abs(hash(v)) % 10**6}-s{seed}"
            if args.curve:
                steps = options.get("steps") or model_class(model).presets.get(args.data, {}).get("steps")
                options |= {"ckpt_every": max(1, int(steps) // args.curve), "keep_last": args.curve + 1}
            t0 = time.perf_counter()
            genlab.train(model, args.data, out=out, seed=seed, overrides=overrides, quiet=True,
                         overwrite=True, **options)
            wall = time.perf_counter() - t0
            row = {"model": model, "data": args.data, "settings": settings, "seed": seed,
                   "wall_s": round(wall, 1), "threads": torch.get_num_threads(), "fd_floor": round(floor, 3)}
            run = genlab.load(out)
            row["final"] = {"ema": run.ema, "step": run.step, **model_scores(run.model, clf, ref, args.n)}
            if run.ema:
                row["raw"] = model_scores(genlab.load(out, ema=False).model, clf, ref, args.n)
            if args.curve:
                row["curve"] = curve(out, clf, ref, args.n)
            print(json.dumps(row), flush=True)
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
