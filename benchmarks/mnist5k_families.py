"""Every family on the 5,000 MNIST digits at its default recipe: FD/KID/PR/DC, confidence, classes, NLL.

    OMP_NUM_THREADS=1 python benchmarks/mnist5k_families.py [--quick] [--seeds 3] [--steps N] [--width W]

With no options each family trains exactly what ``genlab train MODEL --data mnist5k`` trains (its
mnist5k preset, as ``genlab models --recipes`` lists it), so the table is the quality of the defaults;
cgan and cvae also report ``class_accuracy`` (does ``--class k`` draw a k?). ``--steps``/``--width``/``--latent`` set
those for every family instead. Features come from the shipped mnist5k classifier
(``fd_mnist5k_cls`` ...): these are not Inception FIDs and are not comparable with published
MNIST FIDs, only with each other; the held-out digits' own scores are printed beside them.
"""

from __future__ import annotations

import csv
import sys
import time

from support.common import board_stats, emit, log, parser, work_dir

MODELS = ["vae", "gan", "lsgan", "wgan-gp", "ae", "cgan", "cvae"]

# Lucic et al. 2018 (Inception FID on MNIST, best model): for orientation only, another feature space.
PUBLISHED_INCEPTION_FID = {"gan (nonsaturating)": 6.8, "lsgan": 7.8, "wgan-gp": 20.3}


def main(argv=None) -> None:
    p = parser(__doc__, "mnist5k_families")
    p.add_argument("--steps", type=int, default=None, help="training steps per run [each family's preset; quick 4]")
    p.add_argument("--seeds", type=int, default=None, help="seeds per model [3; quick 1]")
    p.add_argument("--width", type=int, default=None, help="conv width of every network [presets; quick 8]")
    p.add_argument("--latent", type=int, default=None, help="latent size of every model [presets; quick 16]")
    p.add_argument("--n", type=int, default=None, help="generated samples per evaluation [1000; quick 100]")
    p.add_argument("--models", default=",".join(MODELS), help="comma list; runs in one work folder are shared, "
                   "so two processes may train disjoint lists and a last full call scores them all")
    p.add_argument("--k", type=int, default=None, help="importance samples for the VAE's NLL [1000; quick 5]")
    args = p.parse_args(argv)
    q = args.quick
    steps, seeds = args.steps or (4 if q else None), args.seeds or (1 if q else 3)
    width, latent = args.width or (8 if q else None), args.latent or (16 if q else None)
    n, k = args.n or (100 if q else 1000), args.k or (5 if q else 1000)

    from genlab.comparison import compare

    started = time.perf_counter()
    sizes = {k: v for k, v in {"width": width, "latent_dim": latent}.items() if v is not None}
    log(f"== mnist5k: {args.models}: x {seeds} seeds, steps {steps or 'preset'}, sizes {sizes or 'preset'}")
    board = compare(args.models.split(","), data="mnist5k", seeds=seeds, steps=steps, out=work_dir(args), n=n, k=k,
                    overrides=sizes, figures=not q, log=log)
    models = board_stats(board, board["columns"])
    for label in models:  # training seconds per run (the metrics.csv clock), mean over seeds
        times = [float(list(csv.DictReader(f.read_text().splitlines()))[-1]["time"])
                 for f in (work_dir(args) / "runs" / label.replace(":", "-")).glob("seed*/metrics.csv")]
        models[label]["train_s"] = sum(times) / len(times) if times else None
        models[label].update(class_accuracy(work_dir(args) / "runs" / label.replace(":", "-"), n))
    results = {"steps": steps or "preset", "columns": board["columns"], "models": models,
               "held_out_digits": real_scores(n)}
    emit(args, results, started, settings={"seeds": seeds, "n": n, "k": k, **sizes,
                                           "reference": "mnist5k:test (500 held-out digits)"},
         published_inception_fid=PUBLISHED_INCEPTION_FID)


def class_accuracy(folder, n: int) -> dict:
    """A conditional family's share of samples drawn for class k that read as k (mean over classes
    and seeds, as ``genlab eval --metrics class_accuracy`` scores each seed); {} for the others."""
    from genlab.comparison import summarise
    from genlab.evaluation import evaluate
    from genlab.runs import load

    runs = sorted(folder.glob("seed*/"))
    if not runs or not load(runs[0]).model.conditional:
        return {}
    values = []
    for run in runs:
        seed = int(run.name[len("seed"):])
        values += [s.value for s in evaluate(run, metrics=["class_accuracy"], n=n, seed=seed)
                   if s.metric == "class_accuracy" and getattr(s, "label", None) is None]
    return {"class_accuracy": summarise(values)}


def real_scores(n: int) -> dict:
    """The classifier's scores of real digits (n drawn from the training split) against the held-out
    ones (scored exactly like the samples: the like-for-like FD floor), and the FD between two
    disjoint real halves of n each."""
    import torch

    from genlab.data import load_data
    from genlab.metrics.features import load_classifier
    from genlab.metrics.images import class_scores
    from genlab.metrics.sets import frechet_distance

    clf = load_classifier("mnist5k_cls")
    train, test = load_data("mnist5k").x, load_data("mnist5k", split="test").x
    idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    a, b = train[idx[:n]], train[idx[n:2 * n]]
    probs = clf.probs(a)
    s = class_scores(probs.argmax(1), 10, probs)
    return {"confidence": s["confidence"], "class_min_share": s["min_share"],
            "fd_to_held_out": float(frechet_distance(clf.embed(a), clf.embed(test))),
            "fd_floor_two_real_halves": float(frechet_distance(clf.embed(a), clf.embed(b)))}


if __name__ == "__main__":
    sys.exit(main())
