"""Every family on the 5,000 MNIST digits with one generator size: FD/KID/PR/DC, sharpness, NLL.

    OMP_NUM_THREADS=1 python benchmarks/mnist5k_families.py [--quick] [--steps 2000] [--seeds 3]

The GANs' generators and the autoencoders' decoders are the same DCGAN-style network
(``width`` and ``latent_dim`` set for all), so the families differ only in how they train it.
Features come from the shipped mnist5k classifier (``fd_mnist5k_cls`` ...): these are not
Inception FIDs and are not comparable with published MNIST FIDs, only with each other.
"""

from __future__ import annotations

import sys
import time

from support.common import board_stats, emit, log, parser, work_dir

MODELS = ["vae", "gan", "lsgan", "wgan-gp", "ae"]

# Lucic et al. 2018 (Inception FID on MNIST, best model): for orientation only, another feature space.
PUBLISHED_INCEPTION_FID = {"gan (nonsaturating)": 6.8, "lsgan": 7.8, "wgan-gp": 20.3}


def main(argv=None) -> None:
    p = parser(__doc__, "mnist5k_families")
    p.add_argument("--steps", type=int, default=None, help="training steps per run [2000; quick 4]")
    p.add_argument("--seeds", type=int, default=None, help="seeds per model [3; quick 1]")
    p.add_argument("--width", type=int, default=None, help="conv width of every network [32; quick 8]")
    p.add_argument("--latent", type=int, default=None, help="latent size of every model [64; quick 16]")
    p.add_argument("--n", type=int, default=None, help="generated samples per evaluation [1000; quick 100]")
    p.add_argument("--k", type=int, default=None, help="importance samples for the VAE's NLL [1000; quick 5]")
    args = p.parse_args(argv)
    q = args.quick
    steps, seeds = args.steps or (4 if q else 2000), args.seeds or (1 if q else 3)
    width, latent = args.width or (8 if q else 32), args.latent or (16 if q else 64)
    n, k = args.n or (100 if q else 1000), args.k or (5 if q else 1000)

    from genlab.comparison import compare

    started = time.perf_counter()
    log(f"== mnist5k: {len(MODELS)} models x {seeds} seeds, {steps} steps, width {width}, latent {latent}")
    board = compare(MODELS, data="mnist5k", seeds=seeds, steps=steps, out=work_dir(args), n=n, k=k,
                    overrides={"width": width, "latent_dim": latent}, figures=not q, log=log)
    results = {"steps": steps, "columns": board["columns"], "models": board_stats(board, board["columns"])}
    emit(args, results, started, settings={"seeds": seeds, "n": n, "k": k, "width": width, "latent_dim": latent,
                                           "reference": "mnist5k:test (500 held-out digits)"},
         published_inception_fid=PUBLISHED_INCEPTION_FID)


if __name__ == "__main__":
    sys.exit(main())
