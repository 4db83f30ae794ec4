"""Mode collapse on ring8 and grid25 (PacGAN protocol): modes, HQ share, reverse KL.

    OMP_NUM_THREADS=1 python benchmarks/mode_collapse.py [--quick] [--data ring8,grid25]
        [--seeds 3] [--best-seeds 10] [--best wgan-gp] [--refine none,dot,drs] [--config PRESET.yaml]
        [--families gan:minimax,gan,lsgan,wgan-gp,vae]

Every family with the library's default settings (``--seeds`` each), and the best configuration
(``--best``, a compare entry such as ``gan`` or ``gan:pack=2``) over ``--best-seeds`` seeds, scored
plain and with each critic-guided refinement. 2,500 samples per score, mean ± standard error over
seeds, each run's training-loop seconds (metrics.csv), next to the published PacGAN and VEEGAN
rows. Runs are reused or resumed when the script is started again; ``--data`` picks one data set,
so the two can run side by side, one thread each. ``--families`` re-runs some rows only (the
ones a changed recipe moves); ``--best none`` leaves the best configuration out.
"""

from __future__ import annotations

import csv
import sys
import time

from support.common import board_stats, emit, log, parser, work_dir

FAMILIES = ["gan:minimax", "gan", "lsgan", "wgan-gp", "vae"]  # each with its defaults
DATA = ["ring8", "grid25"]
METRICS = ["modes", "hq", "reverse_kl"]

# PacGAN (Lin et al. 2018) Table 1: modes (mean ± s.e.), HQ share, reverse KL; 2,500 samples.
# VEEGAN (Srivastava et al. 2017) Table 1: modes, HQ share (no reverse KL, no s.e.).
PUBLISHED = {
    "ring8": {"GAN": (6.3, 0.5, 0.982, 0.45), "ALI": (6.6, 0.3, 0.976, 0.36),
              "PacGAN2": (7.9, 0.1, 0.956, 0.07), "PacGAN4": (7.8, 0.1, 0.959, 0.07),
              "Unrolled GAN": (7.6, None, 0.356, None), "VEEGAN": (8.0, None, 0.529, None)},
    "grid25": {"GAN": (17.3, 0.8, 0.948, 0.70), "ALI": (24.1, 0.4, 0.957, 0.14),
               "PacGAN2": (23.8, 0.7, 0.913, 0.13), "PacGAN4": (24.8, 0.2, 0.936, 0.04),
               "Unrolled GAN": (23.6, None, 0.16, None), "VEEGAN": (24.6, None, 0.40, None)},
}


def loop_seconds(folder) -> list[float]:
    """Training-loop seconds of each seed's run (the last metrics.csv row's ``time``)."""
    out = []
    for run in sorted(folder.glob("seed*")):
        rows = list(csv.DictReader(open(run / "metrics.csv")))
        if rows and rows[-1].get("time"):
            out.append(float(rows[-1]["time"]))
    return out


def main(argv=None) -> None:
    p = parser(__doc__, "mode_collapse")
    p.add_argument("--data", default=",".join(DATA), help="comma list [ring8,grid25]")
    p.add_argument("--seeds", type=int, default=None, help="seeds per family [3; quick 1]")
    p.add_argument("--families", default=",".join(FAMILIES), help=f"comma list [{','.join(FAMILIES)}]")
    p.add_argument("--best", default="wgan-gp", help="the best configuration, a compare entry, or none [wgan-gp]")
    p.add_argument("--best-seeds", type=int, default=None, help="seeds of the best configuration [10; quick 1]")
    p.add_argument("--refine", default="none,dot,drs", help="scores of the best configuration [none,dot,drs]")
    p.add_argument("--steps", type=int, default=None, help="training steps [the library default; quick 10]")
    p.add_argument("--n", type=int, default=2500, help="samples per evaluation [2500]")
    p.add_argument("--config", default=None, help="YAML preset applied to every run")
    args = p.parse_args(argv)
    seeds = args.seeds or (1 if args.quick else 3)
    best_seeds = args.best_seeds or (1 if args.quick else 10)
    steps = args.steps or (10 if args.quick else None)
    n = 500 if args.quick and args.n == 2500 else args.n

    from genlab.comparison import RUNS, compare, parse_entry

    started = time.perf_counter()
    results = {}
    families = [f for f in args.families.split(",") if f and f != args.best]
    for data in args.data.split(","):
        common = dict(data=data, steps=steps, n=n, metrics=METRICS, config=args.config, figures=not args.quick, log=log)
        log(f"== {data}: {len(families)} families x {seeds} seeds; {args.best} x {best_seeds} seeds")
        boards = []
        if families:
            fam = compare(families, seeds=seeds, out=work_dir(args) / data / "families", **common)
            boards.append((fam, "families"))
        if args.best != "none":
            boards.append((compare([args.best], seeds=best_seeds, out=work_dir(args) / data / "best",
                                   refine=args.refine, **common), "best"))
        rows = {label: row for board, _ in boards for label, row in board_stats(board, METRICS).items()}
        for board, where in boards:
            for label, row in board["rows"].items():
                folder = work_dir(args) / data / where / RUNS / parse_entry(label.split("+")[0]).folder
                secs = loop_seconds(folder)
                rows[label]["loop_seconds"] = {"mean": sum(secs) / len(secs), "max": max(secs)} if secs else None
                rows[label]["seeds"] = board["seeds"]
                if "acceptance" in row:
                    rows[label]["acceptance"] = row["acceptance"]
        results[data] = {"models": rows}
    published = {d: {m: dict(zip(("modes", "modes_se", "hq", "reverse_kl"), v)) for m, v in r.items()}
                 for d, r in PUBLISHED.items()}
    emit(args, results, started, settings={"seeds": seeds, "families": families, "best": args.best,
                                           "best_seeds": best_seeds,
                                           "refine": args.refine, "n": n, "config": args.config, "metrics": METRICS},
         published=published)


if __name__ == "__main__":
    sys.exit(main())
