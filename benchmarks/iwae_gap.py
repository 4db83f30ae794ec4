"""VAE vs IWAE (k=5, k=50) on binarised MNIST digits: test NLL estimated with k=5000.

    OMP_NUM_THREADS=1 python benchmarks/iwae_gap.py [--quick] [--steps 3000] [--k-eval 5000]

As in Burda et al. 2016 (Table 1, one stochastic layer): an MLP VAE 784-200-200-50 with a
Bernoulli likelihood, trained with the ELBO (k=1) or the IWAE bound (k=5, k=50), scored by
-L_5000 on held-out digits. The images are binarised once (pixel ~ Bernoulli(intensity), seed
0) and handed to genlab as 784-d vectors (``points:``), which gives the MLP networks. Our
5,000 digits are a tenth of the paper's training set, so the absolute NLLs differ; the gaps
between the three are the point.
"""

from __future__ import annotations

import sys
import time

from support.common import emit, log, parser, work_dir

VARIANTS = {"vae": {"k": 1}, "iwae-k5": {"k": 5}, "iwae-k50": {"k": 50}}
MLP = {"hidden": 200, "depth": 2, "latent_dim": 50, "recon": "bce", "lr": 1e-3}
PUBLISHED = {"vae": 86.76, "iwae-k5": 85.54, "iwae-k50": 84.78}  # IWAE paper Table 1, nats


def binarised_files(folder) -> dict:
    """Write train/test .npy files of (N, 784) pixels in {-1, 1}."""
    import numpy as np
    import torch

    from genlab.data import load_data

    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split in ("train", "test"):
        path = folder / f"mnist5k_bin_{split}.npy"
        if not path.is_file():
            x = load_data("mnist5k", split=split).x.flatten(1)  # (N, 784) in [-1, 1]
            g = torch.Generator().manual_seed(0 if split == "train" else 1)
            bits = torch.bernoulli((x + 1) / 2, generator=g)
            np.save(path, (bits * 2 - 1).numpy().astype(np.float32))
        paths[split] = path
    return paths


def main(argv=None) -> None:
    p = parser(__doc__, "iwae_gap")
    p.add_argument("--steps", type=int, default=None, help="training steps [3000; quick 5]")
    p.add_argument("--batch-size", type=int, default=100, help="batch size [100]")
    p.add_argument("--k-eval", type=int, default=None, help="importance samples for the test NLL [5000; quick 20]")
    p.add_argument("--n-test", type=int, default=None, help="held-out digits scored [all 500; quick 50]")
    args = p.parse_args(argv)
    q = args.quick
    steps, k_eval = args.steps or (5 if q else 3000), args.k_eval or (20 if q else 5000)

    import numpy as np
    import torch

    import genlab
    from genlab.comparison import Entry, ensure_trained, resolved_config
    from genlab.metrics.likelihood import likelihood_scores

    started = time.perf_counter()
    work = work_dir(args)
    files = binarised_files(work / "data")
    data = f"points:{files['train']}"
    x_test = torch.from_numpy(np.load(files["test"]))
    x_test = x_test[: args.n_test or (50 if q else len(x_test))]
    results = {}
    for label, variant in VARIANTS.items():
        entry = Entry(label=label, model="vae", overrides={**MLP, **variant})
        cfg = resolved_config(entry, data, 0, steps, args.batch_size, {})
        run = work / "runs" / label
        ensure_trained(entry, data, 0, cfg, run, {}, log)
        model = genlab.load(run).model
        torch.manual_seed(0)
        t0 = time.perf_counter()
        s = likelihood_scores(model, x_test, k=k_eval)
        log(f"{label}: NLL {s['nll']:.2f} nats (k={k_eval}, {time.perf_counter() - t0:.0f}s)")
        results[label] = {"train_k": variant["k"], "nll": s["nll"], "nll_se": s["nll_se"], "neg_elbo": s["neg_elbo"],
                          "bpd": s["bpd"], "published_nll": PUBLISHED[label]}
    emit(args, results, started, settings={"steps": steps, "batch_size": args.batch_size, "k_eval": k_eval,
                                           "n_test": len(x_test), "model": MLP, "data": "mnist5k, binarised"})


if __name__ == "__main__":
    sys.exit(main())
