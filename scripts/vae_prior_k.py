"""Refit a trained VAE's mixture prior with other component counts; score its samples as tune_images does.

    OMP_NUM_THREADS=1 python scripts/vae_prior_k.py --k 5,10,20 RUN [RUN ...] >> runs/tune/prior_k.jsonl

The mixture of ``prior=gmm`` is fitted once training ends, on the posterior means alone, so the
number of components can be compared on the same weights without training again. For each run
(a ``prior=gmm`` VAE on an embedded image set) and each k, prints one JSON line with FD, the
classifier score, confidence and class shares of 1,000 samples (``scripts/tune_images.py``'s
``model_scores``: same seed, same held-out reference). Nothing in the run folder is changed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--k", default="5,10,20", help="comma list of component counts")
    p.add_argument("--n", type=int, default=1000)
    args = p.parse_args()

    import genlab
    from genlab.data import load_data
    from genlab.metrics.features import classifier_for, load_classifier
    from genlab.models.autoencoder import fit_gaussian_mixture

    sys.path.insert(0, str(Path(__file__).parent))
    from tune_images import model_scores

    for path in args.runs:
        run = genlab.load(path)
        m, data = run.model, run.config["train"]["data"]
        if getattr(m.cfg, "prior", None) != "gmm":
            sys.exit(f"error: {path} is not a prior=gmm VAE run")
        clf = load_classifier(classifier_for(data))
        ref, x = load_data(data, split="test").x, load_data(data).x
        z = m.posterior_means(lambda idx: x[idx], len(x)).double().numpy()
        for k in (int(v) for v in args.k.split(",")):
            m.set_mixture(*fit_gaussian_mixture(z, k), resize=True)  # on the loaded copy only
            print(json.dumps({"run": path.name, "data": data, "seed": run.config["train"].get("seed"), "k": k,
                              **model_scores(m, clf, ref, args.n)}), flush=True)


if __name__ == "__main__":
    main()
