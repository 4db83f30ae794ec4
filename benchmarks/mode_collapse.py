"""Mode collapse on ring8 and grid25 (PacGAN protocol): modes, HQ share, reverse KL over 10 seeds.

    OMP_NUM_THREADS=1 python benchmarks/mode_collapse.py [--quick] [--seeds 10] [--config PRESET.yaml]

Every family with the library's default settings (or a YAML preset for all of them), 2,500
samples per run, mean ± standard error over seeds, next to the published PacGAN rows.
"""

from __future__ import annotations

import sys
import time

from support.common import board_stats, emit, log, parser, work_dir

MODELS = ["gan:minimax", "gan:nonsaturating", "lsgan", "wgan-gp", "vae"]
DATA = ["ring8", "grid25"]
METRICS = ["modes", "hq", "reverse_kl"]

# PacGAN (Lin et al. 2018) Table 1: modes (mean ± s.e.), HQ share, reverse KL; 2,500 samples.
PUBLISHED = {
    "ring8": {"GAN": (6.3, 0.5, 0.982, 0.45), "ALI": (6.6, 0.3, 0.976, 0.36),
              "PacGAN2": (7.9, 0.1, 0.956, 0.07), "PacGAN4": (7.8, 0.1, 0.959, 0.07)},
    "grid25": {"GAN": (17.3, 0.8, 0.948, 0.70), "ALI": (24.1, 0.4, 0.957, 0.14),
               "PacGAN2": (23.8, 0.7, 0.913, 0.13), "PacGAN4": (24.8, 0.2, 0.936, 0.04)},
}


def main(argv=None) -> None:
    p = parser(__doc__, "mode_collapse")
    p.add_argument("--seeds", type=int, default=None, help="seeds per model [10; quick 1]")
    p.add_argument("--steps", type=int, default=None, help="training steps [the library default; quick 10]")
    p.add_argument("--n", type=int, default=2500, help="samples per evaluation [2500]")
    p.add_argument("--config", default=None, help="YAML preset applied to every run")
    args = p.parse_args(argv)
    seeds = args.seeds or (1 if args.quick else 10)
    steps = args.steps or (10 if args.quick else None)
    n = 500 if args.quick and args.n == 2500 else args.n

    from genlab.comparison import compare

    started = time.perf_counter()
    results = {}
    for data in DATA:
        log(f"== {data}: {len(MODELS)} models x {seeds} seeds")
        board = compare(MODELS, data=data, seeds=seeds, steps=steps, out=work_dir(args) / data, n=n,
                        metrics=METRICS, config=args.config, figures=not args.quick, log=log)
        results[data] = {"steps": board["steps"], "models": board_stats(board, METRICS)}
    published = {d: {m: dict(zip(("modes", "modes_se", "hq", "reverse_kl"), v)) for m, v in rows.items()}
                 for d, rows in PUBLISHED.items()}
    emit(args, results, started, settings={"seeds": seeds, "n": n, "config": args.config, "metrics": METRICS},
         published=published)


if __name__ == "__main__":
    sys.exit(main())
