"""The truncation trick at sampling time: scores of a trained GAN run with its noise drawn from
N(0, ψ²I) instead of N(0, I) (Brock et al. 2019, in its scaling form), one JSON line per ψ.

    OMP_NUM_THREADS=1 python scripts/truncation_scores.py RUN --seed 0 --psi 1,0.9,0.8,0.7

Scored as `genlab eval` scores the run (``score_run``: 1,000 samples, EMA weights where the run
has them, the shipped classifier), so ψ = 1 gives the run's own scores. InfoGAN's code is the
argmax of the noise's first entries, so scaling the noise leaves the code's distribution alone.
"""

from __future__ import annotations

import argparse
import json

METRICS = ["fd", "confidence", "cls_score", "class_min_share", "precision", "recall"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run")
    p.add_argument("--seed", type=int, default=0, help="draws the samples (the benchmarks use the run's seed)")
    p.add_argument("--psi", default="1,0.9,0.8,0.7", help="comma list of noise scales in (0, 1]")
    p.add_argument("--n", type=int, default=1000)
    args = p.parse_args()
    psis = [float(v) for v in args.psi.split(",")]
    if not all(0 < v <= 1 for v in psis):
        p.error(f"--psi values must be in (0, 1], got {args.psi}")

    from genlab.evaluation import score_run
    from genlab.models.gan import GAN
    from genlab.runs import load

    run = load(args.run)
    if not isinstance(run.model, GAN):
        p.error(f"{args.run} holds a {run.name} run: the truncation trick is for the GAN families "
                f"(gan, lsgan, wgan-gp, cgan)")
    plain = run.model.randn
    for psi in psis:
        run.model.randn = lambda *a, _psi=psi, **k: plain(*a, **k) * _psi
        scores = score_run(run, METRICS, n=args.n, seed=args.seed)
        print(json.dumps({"run": args.run, "psi": psi, **{s.metric: round(s.value, 4) for s in scores}}), flush=True)


if __name__ == "__main__":
    main()
